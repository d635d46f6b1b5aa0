#include "sqltail/logreader/change_event.h"

#include <cstdio>

namespace sqltail::logreader {

namespace {

void DecodePartial(const RowChange& change, bool before, DecodedRecord& out) {
  out.record_type = RecordType::kPrimary;
  out.forwarded_to.clear();
  out.back_pointer.clear();
  out.fields.assign(change.table->layout.columns.size(), FieldView{FieldState::kUnavailable, nullptr, 0});
  for (const KnownColumn& known : change.known_columns) {
    auto bytes = before ? known.before : known.after;
    out.fields[known.column] = FieldView{FieldState::kValue, bytes.data(), static_cast<uint32_t>(bytes.size())};
  }
}

bool DecodeImage(const RowChange& change, std::span<const uint8_t> image, DecodedRecord& out, std::string& error) {
  DecodeError decode_error;
  if (DecodeRecord(change.table->layout, image, out, decode_error)) return true;
  error = "log record " + change.lsn.ToString() + ", table " + change.table->QualifiedName();
  if (!decode_error.column.empty()) error += ", column " + decode_error.column;
  error += ", byte " + std::to_string(decode_error.byte_offset) + ": " + decode_error.message;
  return false;
}

}  // namespace

bool DecodeChange(const RowChange& change, DecodedRecord& out, std::string& error) {
  if (change.partial) {
    DecodePartial(change, /*before=*/false, out);
    return true;
  }
  return DecodeImage(change, change.record, out, error);
}

bool DecodeChangeBefore(const RowChange& change, DecodedRecord& out, std::string& error) {
  if (change.partial) {
    DecodePartial(change, /*before=*/true, out);
    return true;
  }
  return DecodeImage(change, change.before_record, out, error);
}

void AppendJsonString(std::string_view text, std::string& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

bool EventLineWriter::AppendRow(const RowChange& change, const DecodedRecord& decoded, const std::vector<size_t>* only,
                                std::string& out, std::string& error) {
  const auto& columns = change.table->layout.columns;
  out.push_back('{');
  bool first = true;
  auto append_column = [&](size_t i) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(*columns[i].name, out);
    out.push_back(':');
    if (!AppendCanonicalJson(columns[i], decoded.fields[i], out)) {
      error = "log record " + change.lsn.ToString() + ", table " + change.table->QualifiedName() + ", column " +
              *columns[i].name + ": " + DescribeStoredBytes(decoded, decoded.fields[i]) + " are not a valid " +
              columns[i].type_name + " value";
      return false;
    }
    return true;
  };
  if (only != nullptr) {
    for (size_t i : *only)
      if (!append_column(i)) return false;
  } else {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i].IsRendered() && !append_column(i)) return false;
  }
  out.push_back('}');
  return true;
}

bool EventLineWriter::Append(const CommittedTransaction& txn, const RowChange& change, std::string& out,
                             std::string& error) {
  if (!DecodeChange(change, decoded_, error)) return false;
  char lsn[22];
  out += "{\"commit_lsn\":\"";
  txn.commit_lsn.Format(lsn);
  out.append(lsn, sizeof lsn);
  out += "\",\"change_lsn\":\"";
  change.lsn.Format(lsn);
  out.append(lsn, sizeof lsn);
  out += "\",\"begin_lsn\":\"";
  txn.begin_lsn.Format(lsn);
  out.append(lsn, sizeof lsn);
  out += "\",\"transaction_id\":\"" + txn.id.ToString();
  // The commit time has the datetime layout: render it as the decoder renders a datetime value.
  out += "\",\"commit_time\":";
  static const ColumnLayout kCommitTime = [] {
    ColumnLayout c;
    c.name = "commit_time";
    c.type = SqlType::kDateTime;
    c.type_name = "datetime";
    c.max_length = 8;
    return c;
  }();
  if (!AppendCanonicalJson(kCommitTime, FieldView{FieldState::kValue, txn.commit_time, 8}, out)) {
    error = "transaction " + txn.id.ToString() + " committed at " + txn.commit_lsn.ToString() +
            ": the commit time is not a valid datetime";
    return false;
  }
  out += ",\"event_serial_no\":1,\"op\":\"";
  out.push_back(static_cast<char>(change.op));
  out += "\",\"schema\":";
  AppendJsonString(change.table->layout.schema, out);
  out += ",\"table\":";
  AppendJsonString(change.table->layout.table, out);
  const bool is_update = change.op == ChangeOp::kUpdate;
  if (is_update && !DecodeChangeBefore(change, decoded_before_, error)) return false;
  out += ",\"key\":";
  if (change.table->key_columns.empty()) {
    out += "null";
  } else if (!AppendRow(change, decoded_, &change.table->key_columns, out, error)) {
    return false;
  }
  bool is_delete = change.op == ChangeOp::kDelete;
  out += ",\"before\":";
  if (is_delete || is_update) {
    if (!AppendRow(change, is_update ? decoded_before_ : decoded_, nullptr, out, error)) return false;
  } else {
    out += "null";
  }
  out += ",\"after\":";
  if (!is_delete) {
    if (!AppendRow(change, decoded_, nullptr, out, error)) return false;
  } else {
    out += "null";
  }
  // Columns the log does not determine (rendered as the placeholder in before and after).
  bool first_unavailable = true;
  const auto& columns = change.table->layout.columns;
  for (size_t i = 0; i < columns.size(); ++i) {
    bool unavailable = decoded_.fields[i].state == FieldState::kUnavailable ||
                       (is_update && decoded_before_.fields[i].state == FieldState::kUnavailable);
    if (!unavailable || !columns[i].IsRendered()) continue;
    out += first_unavailable ? ",\"unavailable\":[" : ",";
    first_unavailable = false;
    AppendJsonString(*columns[i].name, out);
  }
  if (!first_unavailable) out.push_back(']');
  out += "}\n";
  return true;
}

}  // namespace sqltail::logreader
