#include "sqltail/logreader/event_dump.h"

#include <simdjson.h>

#include <cstdio>

#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/log_reader.h"

namespace sqltail::logreader {
namespace {

constexpr size_t kMaxValueChars = 40;
constexpr std::string_view kUnavailablePlaceholder = "\"__sqltail_unavailable\"";

bool ParseHexField(std::string_view text, size_t max_digits, uint32_t& out) {
  if (text.empty() || text.size() > max_digits) return false;
  out = 0;
  for (char c : text) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return false;
    out = out * 16 + static_cast<uint32_t>(digit);
  }
  return true;
}

std::string Shorten(std::string text) {
  if (text.size() > kMaxValueChars) {
    size_t keep = kMaxValueChars - 3;
    // Do not cut a UTF-8 sequence in half.
    while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
    text.resize(keep);
    text += "...";
  }
  return text;
}

std::string ValueText(simdjson::dom::element value) {
  std::string text = simdjson::minify(value);
  if (text == kUnavailablePlaceholder) return "?";
  return Shorten(std::move(text));
}

void AppendColumn(std::string& out, std::string_view name, const std::string& text) {
  if (!out.empty()) out += ", ";
  out += name;
  out += '=';
  out += text;
}

std::string Pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace

bool EventFilter::Matches(const CommittedTransaction& txn, const RowChange& change) const {
  if (!ops.empty() && ops.find(static_cast<char>(change.op)) == std::string::npos) return false;
  if (transaction && txn.id != *transaction) return false;
  if (from_lsn && change.lsn < *from_lsn) return false;
  if (to_lsn && change.lsn > *to_lsn) return false;
  if (tables.empty()) return true;
  const std::string name = change.table->QualifiedName();
  for (const auto& pattern : tables)
    if (WildcardMatch(pattern, name)) return true;
  return false;
}

bool EventFilter::AddOps(std::string_view list, std::string& error) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view item =
        list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    char op = 0;
    if (item == "c" || item == "insert") op = 'c';
    if (item == "u" || item == "update") op = 'u';
    if (item == "d" || item == "delete") op = 'd';
    if (op == 0) {
      error = "--op '" + std::string(item) + "' is not c, u or d (insert, update, delete)";
      return false;
    }
    if (ops.find(op) == std::string::npos) ops.push_back(op);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

bool EventFilter::SetTransaction(std::string_view text, std::string& error) {
  size_t colon = text.find(':');
  uint32_t high = 0, low = 0;
  if (colon == std::string_view::npos || !ParseHexField(text.substr(0, colon), 4, high) ||
      !ParseHexField(text.substr(colon + 1), 8, low)) {
    error = "--xact '" + std::string(text) + "' is not a transaction id as fn_dblog prints it (0000:000002d6)";
    return false;
  }
  transaction = TransactionId{static_cast<uint16_t>(high), low};
  return true;
}

bool EventFilter::ParseLsn(std::string_view text, Lsn& out, std::string& error) {
  auto lsn = Lsn::Parse(text);
  if (!lsn) {
    error = "'" + std::string(text) +
            "' is not an LSN (0000001a:0000003b:0001, 0x0000001A:0000003B:0001, 26:59:1, 26000000005900001 or "
            "0x0000001A0000003B0001)";
    return false;
  }
  out = *lsn;
  return true;
}

std::string EventTableHeader() {
  return Pad("LSN", 23) + Pad("OP", 7) + Pad("TABLE", 25) + Pad("TRANSACTION", 14) + Pad("KEY", 17) + "CHANGED\n";
}

bool EventTableRow(std::string_view json_line, std::string& out, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::object event;
  if (parser.parse(json_line.data(), json_line.size()).get(event)) {
    error = "not a JSON object: " + std::string(json_line.substr(0, 80));
    return false;
  }
  std::string_view lsn, op, schema, table, transaction;
  if (event["change_lsn"].get(lsn) || event["op"].get(op) || event["schema"].get(schema) || event["table"].get(table) ||
      event["transaction_id"].get(transaction)) {
    error = "not a change-event line: " + std::string(json_line.substr(0, 80));
    return false;
  }
  std::string key;
  simdjson::dom::object key_object;
  const bool has_key = !event["key"].get(key_object);
  if (has_key) {
    for (auto [name, value] : key_object) AppendColumn(key, name, ValueText(value));
  }
  if (key.empty()) key = "-";
  simdjson::dom::object before, after;
  bool has_before = !event["before"].get(before);
  bool has_after = !event["after"].get(after);
  std::string changed;
  std::string_view op_name = op == "c" ? "insert" : op == "u" ? "update" : op == "d" ? "delete" : op;
  if (op == "u" && has_before && has_after) {
    for (auto [name, value] : after) {
      simdjson::dom::element old_value;
      std::string new_text = simdjson::minify(value);
      if (!before[name].get(old_value) && simdjson::minify(old_value) == new_text &&
          new_text != kUnavailablePlaceholder)
        continue;
      if (!changed.empty()) changed += ", ";
      changed +=
          std::string(name) + ": " + (before[name].error() ? "?" : ValueText(old_value)) + " -> " + ValueText(value);
    }
    if (changed.empty()) changed = "(no column changed)";
  } else if (has_after || has_before) {
    for (auto [name, value] : has_after ? after : before) {
      if (has_key && !key_object[name].error()) continue;  // shown under KEY
      AppendColumn(changed, name, ValueText(value));
    }
  }
  out += Pad(std::string(lsn), 23) + Pad(std::string(op_name), 7) +
         Pad(std::string(schema) + "." + std::string(table), 25) + Pad(std::string(transaction), 14) + Pad(key, 17) +
         changed + "\n";
  return true;
}

bool DumpEvents(LogSource& source, const EventDumpOptions& options, const std::function<void(std::string_view)>& write,
                std::string& error) {
  Catalog catalog;
  if (!source.ReadCatalog(catalog, error)) return false;
  if (!options.json) write(EventTableHeader());
  EventLineWriter writer;
  std::string line, row;
  LogReader reader(source, catalog, [&](const CommittedTransaction& txn, std::string& txn_error) {
    for (const auto& change : txn.changes) {
      if (!options.filter.Matches(txn, change)) continue;
      line.clear();
      if (!writer.Append(txn, change, line, txn_error)) return false;
      if (options.json) {
        write(line);
        continue;
      }
      row.clear();
      if (!EventTableRow(line, row, txn_error)) return false;
      write(row);
    }
    return true;
  });
  reader.SetSpill(options.spill);
  size_t rows = 0;
  do {
    if (!reader.Poll(options.batch_rows, rows, error)) return false;
  } while (rows > 0);
  return true;
}

}  // namespace sqltail::logreader
