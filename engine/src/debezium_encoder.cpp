#include "sqltail/engine/debezium_encoder.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include "sqltail/engine/value_text.h"

namespace sqltail::engine {

using logreader::AppendJsonString;
using logreader::ColumnLayout;
using logreader::FieldState;
using logreader::SqlType;

namespace {

std::string_view Unquote(std::string_view json) {
  if (json.size() >= 2 && json.front() == '"' && json.back() == '"') return json.substr(1, json.size() - 2);
  return json;
}

void AppendBase64(const uint8_t* data, size_t size, std::string& out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.push_back('"');
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (size - i == 1) {
    uint32_t v = data[i] << 16;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (size - i == 2) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  out.push_back('"');
}

// "-12.50" -> the unscaled value as Connect's Decimal wants it: big-endian two's complement, minimal
// length, base64 in JSON. Up to 38 digits fit in 128 bits.
bool AppendDecimalBytes(std::string_view text, std::string& out) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  unsigned __int128 magnitude = 0;
  for (char c : text) {
    if (c == '.') continue;
    if (c < '0' || c > '9') return false;
    magnitude = magnitude * 10 + static_cast<unsigned>(c - '0');
  }
  __int128 value = negative ? -static_cast<__int128>(magnitude) : static_cast<__int128>(magnitude);
  uint8_t bytes[16];
  for (int i = 0; i < 16; ++i) bytes[15 - i] = static_cast<uint8_t>(static_cast<unsigned __int128>(value) >> (8 * i));
  int start = 0;
  // Drop leading bytes that only repeat the sign.
  while (start < 15 &&
         ((bytes[start] == 0x00 && !(bytes[start + 1] & 0x80)) || (bytes[start] == 0xFF && (bytes[start + 1] & 0x80))))
    ++start;
  AppendBase64(bytes + start, static_cast<size_t>(16 - start), out);
  return true;
}

// "-12.50" -> the nearest double, shortest round-trip text (decimal.handling.mode=double).
bool AppendDecimalAsDouble(std::string_view text, std::string& out) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  char buf[32];
  auto [printed, print_ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (print_ec != std::errc()) return false;
  out.append(buf, printed);
  return true;
}

// binary.handling.mode=hex: lowercase, as Debezium's HexConverter writes it.
void AppendLowerHex(const uint8_t* data, size_t size, std::string& out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  out.push_back('"');
}

bool IsDecimalType(SqlType type) {
  return type == SqlType::kDecimal || type == SqlType::kNumeric || type == SqlType::kMoney ||
         type == SqlType::kSmallMoney;
}

struct ConnectType {
  const char* type;
  const char* name = nullptr;  // logical type
  bool decimal = false;
};

ConnectType ConnectTypeOf(const ColumnLayout& c, const EncoderOptions& options) {
  const bool connect_time = options.time_precision_mode == TimePrecisionMode::kConnect;
  switch (c.type) {
    case SqlType::kBit:
      return {"boolean"};
    case SqlType::kTinyInt:
    case SqlType::kSmallInt:
      return {"int16"};
    case SqlType::kInt:
      return {"int32"};
    case SqlType::kBigInt:
      return {"int64"};
    case SqlType::kReal:
      return {"float"};
    case SqlType::kFloat:
      return {"double"};
    case SqlType::kDecimal:
    case SqlType::kNumeric:
    case SqlType::kMoney:
    case SqlType::kSmallMoney:
      if (options.decimal_handling_mode == DecimalHandlingMode::kDouble) return {"double"};
      if (options.decimal_handling_mode == DecimalHandlingMode::kString) return {"string"};
      return {"bytes", "org.apache.kafka.connect.data.Decimal", true};
    case SqlType::kDate:
      if (connect_time) return {"int32", "org.apache.kafka.connect.data.Date"};
      return {"int32", "io.debezium.time.Date"};
    case SqlType::kTime:
      if (connect_time) return {"int32", "org.apache.kafka.connect.data.Time"};
      if (c.scale <= 3) return {"int32", "io.debezium.time.Time"};
      if (c.scale <= 6) return {"int64", "io.debezium.time.MicroTime"};
      return {"int64", "io.debezium.time.NanoTime"};
    case SqlType::kDateTime:
    case SqlType::kSmallDateTime:
      if (connect_time) return {"int64", "org.apache.kafka.connect.data.Timestamp"};
      return {"int64", "io.debezium.time.Timestamp"};
    case SqlType::kDateTime2:
      if (connect_time) return {"int64", "org.apache.kafka.connect.data.Timestamp"};
      if (c.scale <= 3) return {"int64", "io.debezium.time.Timestamp"};
      if (c.scale <= 6) return {"int64", "io.debezium.time.MicroTimestamp"};
      return {"int64", "io.debezium.time.NanoTimestamp"};
    case SqlType::kDateTimeOffset:
      return {"string", "io.debezium.time.ZonedTimestamp"};
    case SqlType::kXml:
      return {"string", "io.debezium.data.Xml"};
    case SqlType::kBinary:
    case SqlType::kVarBinary:
    case SqlType::kImage:
    case SqlType::kTimestamp:
      return {options.binary_handling_mode == BinaryHandlingMode::kBytes ? "bytes" : "string"};
    default:
      return {"string"};  // character types, uniqueidentifier; sql_variant/hierarchyid as their text
  }
}

// The Decimal parameters (precision, scale) of a decimal column's schema; money types are fixed.
std::pair<int, int> DecimalParameters(const ColumnLayout& c) {
  if (c.type == SqlType::kMoney) return {19, 4};
  if (c.type == SqlType::kSmallMoney) return {10, 4};
  return {c.precision, c.scale};
}

void AppendFieldSchema(const ColumnLayout& c, bool optional, const EncoderOptions& options, std::string& out) {
  ConnectType t = ConnectTypeOf(c, options);
  out += "{\"type\":\"";
  out += t.type;
  out += "\",\"optional\":";
  out += optional ? "true" : "false";
  if (t.name != nullptr) {
    out += ",\"name\":\"";
    out += t.name;
    out += "\",\"version\":1";
  }
  if (t.decimal) {
    const auto [precision, scale] = DecimalParameters(c);
    out += ",\"parameters\":{\"scale\":\"" + std::to_string(scale) + "\",\"connect.decimal.precision\":\"" +
           std::to_string(precision) + "\"}";
  }
  out += ",\"field\":";
  AppendJsonString(*c.name, out);
  out += "}";
}

void AppendStructSchema(const logreader::CapturedTable& table, const std::vector<size_t>* only, const std::string& name,
                        bool optional, const char* field, const EncoderOptions& options, std::string& out) {
  out += "{\"type\":\"struct\",\"fields\":[";
  bool first = true;
  const auto& columns = table.layout.columns;
  auto add = [&](size_t i) {
    if (!first) out.push_back(',');
    first = false;
    AppendFieldSchema(columns[i], only == nullptr && columns[i].is_nullable, options, out);
  };
  if (only != nullptr) {
    for (size_t i : *only) add(i);
  } else {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i].IsRendered()) add(i);
  }
  out += "],\"optional\":";
  out += optional ? "true" : "false";
  out += ",\"name\":";
  AppendJsonString(name, out);
  if (field != nullptr) {
    out += ",\"field\":\"";
    out += field;
    out += "\"";
  }
  out += "}";
}

constexpr const char* kSourceSchema =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":"
    "{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"
    "\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"change_lsn\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"commit_lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_serial_no\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.sqlserver.Source\",\"version\":1,\"field\":\"source\"}";

constexpr const char* kEnvelopeTail =
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}";

void AppendInt(int64_t value, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// Debezium's source block from its start up to the table name: the same for streamed and snapshot
// events but for the time and the snapshot marker.
void AppendSourceHead(std::string_view prefix, std::string_view database, int64_t ts_ns, std::string_view snapshot,
                      const logreader::TableLayout& layout, std::string& v) {
  v += ",\"source\":{\"version\":\"sqltail-0.1\",\"connector\":\"sqlserver\",\"name\":";
  AppendJsonString(prefix, v);
  v += ",\"ts_ms\":";
  AppendInt(ts_ns / 1000000, v);
  v += ",\"snapshot\":";
  AppendJsonString(snapshot, v);
  v += ",\"db\":";
  AppendJsonString(database, v);
  v += ",\"sequence\":null,\"ts_us\":";
  AppendInt(ts_ns / 1000, v);
  v += ",\"ts_ns\":";
  AppendInt(ts_ns, v);
  v += ",\"schema\":";
  AppendJsonString(layout.schema, v);
  v += ",\"table\":";
  AppendJsonString(layout.table, v);
}

}  // namespace

int64_t DatetimeBytesToUnixNanos(const uint8_t bytes[8]) {
  uint32_t ticks =
      static_cast<uint32_t>(bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24);
  int32_t days =
      static_cast<int32_t>(bytes[4] | bytes[5] << 8 | bytes[6] << 16 | static_cast<uint32_t>(bytes[7]) << 24);
  int64_t unix_days = static_cast<int64_t>(days) - 25567;  // 1900-01-01 -> 1970-01-01
  int64_t ms = (static_cast<int64_t>(ticks) * 10 + 1) / 3;
  return unix_days * 86400000000000LL + ms * 1000000LL;
}

bool ParseTimePrecisionMode(std::string_view text, TimePrecisionMode& out) {
  if (text == "adaptive") return out = TimePrecisionMode::kAdaptive, true;
  if (text == "connect") return out = TimePrecisionMode::kConnect, true;
  return false;
}

bool ParseDecimalHandlingMode(std::string_view text, DecimalHandlingMode& out) {
  if (text == "precise") return out = DecimalHandlingMode::kPrecise, true;
  if (text == "double") return out = DecimalHandlingMode::kDouble, true;
  if (text == "string") return out = DecimalHandlingMode::kString, true;
  return false;
}

bool ParseBinaryHandlingMode(std::string_view text, BinaryHandlingMode& out) {
  if (text == "bytes") return out = BinaryHandlingMode::kBytes, true;
  if (text == "base64") return out = BinaryHandlingMode::kBase64, true;
  if (text == "hex") return out = BinaryHandlingMode::kHex, true;
  return false;
}

DebeziumEncoder::DebeziumEncoder(EncoderOptions options)
    : options_(std::move(options)), transaction_topic_(options_.topic_prefix + ".transaction") {}

namespace {

// io.debezium.connector.common.TransactionMetadataKey/Value (Debezium's SchemaFactory), as
// JsonConverter schemas.
constexpr const char* kTransactionKeySchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1}";
constexpr const char* kTransactionValueSchema =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},"
    "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"data_collection\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],"
    "\"optional\":false,\"name\":\"event.collection\",\"version\":1},\"optional\":true,\"field\":\"data_collections\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataValue\",\"version\":1}";

}  // namespace

void DebeziumEncoder::EncodeTransactionBegin(const logreader::CommittedTransaction& txn, EncodedEvent& out) {
  AppendTransactionEvent(txn, false, {}, out);
}

void DebeziumEncoder::EncodeTransactionEnd(const logreader::CommittedTransaction& txn,
                                           std::span<const TableEventCount> tables, EncodedEvent& out) {
  AppendTransactionEvent(txn, true, tables, out);
}

void DebeziumEncoder::AppendTransactionEvent(const logreader::CommittedTransaction& txn, bool end,
                                             std::span<const TableEventCount> tables, EncodedEvent& out) {
  char lsn[22];
  txn.commit_lsn.Format(lsn);
  const std::string_view id(lsn, sizeof lsn);
  out.topic = &transaction_topic_;
  out.key.clear();
  out.value.clear();
  if (options_.schemas_enable) out.key = std::string("{\"schema\":") + kTransactionKeySchema + ",\"payload\":";
  out.key += "{\"id\":\"";
  out.key += id;
  out.key += "\"}";
  if (options_.schemas_enable) out.key.push_back('}');

  std::string& v = out.value;
  if (options_.schemas_enable) v = std::string("{\"schema\":") + kTransactionValueSchema + ",\"payload\":";
  v += end ? "{\"status\":\"END\",\"id\":\"" : "{\"status\":\"BEGIN\",\"id\":\"";
  v += id;
  v += "\",\"event_count\":";
  if (end) {
    uint64_t total = 0;
    for (const auto& t : tables) total += t.events;
    AppendInt(static_cast<int64_t>(total), v);
    v += ",\"data_collections\":[";
    for (size_t i = 0; i < tables.size(); ++i) {
      if (i > 0) v.push_back(',');
      // Debezium names a SQL Server data collection <db>.<schema>.<table>.
      const auto& layout = tables[i].table->layout;
      v += "{\"data_collection\":";
      AppendJsonString(options_.database + "." + layout.schema + "." + layout.table, v);
      v += ",\"event_count\":";
      AppendInt(static_cast<int64_t>(tables[i].events), v);
      v += "}";
    }
    v += "]";
  } else {
    v += "null,\"data_collections\":null";
  }
  v += ",\"ts_ms\":";
  AppendInt(DatetimeBytesToUnixNanos(txn.commit_time) / 1000000, v);
  v += "}";
  if (options_.schemas_enable) v.push_back('}');
}

const std::string& DebeziumEncoder::TopicFor(const logreader::CapturedTable& table) { return SchemasFor(table).topic; }

DebeziumEncoder::TableSchemas& DebeziumEncoder::SchemasFor(const logreader::CapturedTable& table) {
  auto it = schemas_.find(&table);
  if (it != schemas_.end()) return it->second;
  TableSchemas s;
  s.topic = options_.topic_prefix + "." + options_.database + "." + table.layout.schema + "." + table.layout.table;
  if (options_.schemas_enable) {
    s.key_prefix = "{\"schema\":";
    AppendStructSchema(table, &table.key_columns, s.topic + ".Key", false, nullptr, options_, s.key_prefix);
    s.key_prefix += ",\"payload\":";
    s.value_prefix = "{\"schema\":{\"type\":\"struct\",\"fields\":[";
    AppendStructSchema(table, nullptr, s.topic + ".Value", true, "before", options_, s.value_prefix);
    s.value_prefix.push_back(',');
    AppendStructSchema(table, nullptr, s.topic + ".Value", true, "after", options_, s.value_prefix);
    s.value_prefix.push_back(',');
    s.value_prefix += kSourceSchema;
    s.value_prefix.push_back(',');
    s.value_prefix += kEnvelopeTail;
    s.value_prefix += "],\"optional\":false,\"name\":";
    AppendJsonString(s.topic + ".Envelope", s.value_prefix);
    s.value_prefix += ",\"version\":2},\"payload\":";
  }
  return schemas_.emplace(&table, std::move(s)).first->second;
}

bool DebeziumEncoder::AppendRow(const logreader::RowChange& change, const logreader::DecodedRecord& decoded,
                                const std::vector<size_t>* only, std::string& out, std::string& error) {
  const auto& columns = change.table->layout.columns;
  const bool connect_time = options_.time_precision_mode == TimePrecisionMode::kConnect;
  out.push_back('{');
  bool first = true;
  auto append = [&](size_t i) {
    const ColumnLayout& c = columns[i];
    const logreader::FieldView& field = decoded.fields[i];
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(*c.name, out);
    out.push_back(':');
    auto fail = [&](const char* what) {
      error = "log record " + change.lsn.ToString() + ", table " + change.table->QualifiedName() + ", column " +
              *c.name + ": " + what;
      return false;
    };
    if (field.state == FieldState::kNull) {
      out += "null";
      return true;
    }
    if (field.state == FieldState::kUnavailable) {
      // Debezium's convention: the placeholder for string columns, null otherwise; the column is
      // named in the sqltail.unavailable header either way.
      const ConnectType unavailable_type = ConnectTypeOf(c, options_);
      const bool plain_string = unavailable_type.name == nullptr && std::string_view(unavailable_type.type) == "string";
      out += plain_string ? "\"__debezium_unavailable_value\"" : "null";
      return true;
    }
    if (field.state == FieldState::kOffRow) {
      return fail(
          "the value is stored off-row; reading off-row values is not implemented yet "
          "(capture.off_row_values = unavailable emits such columns as unavailable instead)");
    }
    ConnectType t = ConnectTypeOf(c, options_);
    if (field.state == FieldState::kValue && (c.type == SqlType::kBinary || c.type == SqlType::kVarBinary ||
                                              c.type == SqlType::kImage || c.type == SqlType::kTimestamp)) {
      // bytes and base64 are the same JSON text: JsonConverter writes bytes as base64.
      if (options_.binary_handling_mode == BinaryHandlingMode::kHex) {
        AppendLowerHex(field.data, field.size, out);
      } else {
        AppendBase64(field.data, field.size, out);
      }
      return true;
    }
    scratch_.clear();
    if (!logreader::AppendCanonicalJson(c, field, scratch_)) {
      const std::string what =
          logreader::DescribeStoredBytes(decoded, field) + " are not a valid " + c.type_name + " value";
      return fail(what.c_str());
    }
    std::string_view canonical = scratch_;
    if (t.decimal) {
      if (!AppendDecimalBytes(Unquote(canonical), out)) return fail("decimal value out of range");
      return true;
    }
    if (IsDecimalType(c.type) && options_.decimal_handling_mode == DecimalHandlingMode::kDouble) {
      if (!AppendDecimalAsDouble(Unquote(canonical), out)) return fail("cannot convert the decimal to a double");
      return true;
    }
    if (t.name == nullptr || c.type == SqlType::kDateTimeOffset || c.type == SqlType::kXml) {
      out += canonical;  // numbers, booleans and strings are the same in both renderings
      return true;
    }
    std::string_view text = Unquote(canonical);
    int64_t value = 0;
    if (c.type == SqlType::kDate) {
      if (!ParseIsoDate(text, value)) return fail("cannot convert the date");
    } else if (c.type == SqlType::kTime) {
      int64_t nanos;
      if (!ParseIsoTimeOfDay(text, nanos)) return fail("cannot convert the time");
      value = connect_time || c.scale <= 3 ? nanos / 1000000 : c.scale <= 6 ? nanos / 1000 : nanos;
    } else {
      // datetime family: "YYYY-MM-DDTHH:MM:SS[.f]" -> epoch ms / us / ns (the value taken as UTC).
      int64_t days, nanos;
      if (text.size() < 19 || text[10] != 'T' || !ParseIsoDate(text.substr(0, 10), days) ||
          !ParseIsoTimeOfDay(text.substr(11), nanos))
        return fail("cannot convert the timestamp");
      __int128 total = static_cast<__int128>(days) * 86400000000000LL + nanos;
      bool micro = !connect_time && c.type == SqlType::kDateTime2 && c.scale > 3 && c.scale <= 6;
      bool nano = !connect_time && c.type == SqlType::kDateTime2 && c.scale > 6;
      __int128 divisor = nano ? 1 : micro ? 1000 : 1000000;
      __int128 scaled = total / divisor;
      if (total % divisor != 0 && total < 0) scaled -= 1;  // floor
      // Epoch nanoseconds fit an int64 only from 1677-09-21 to 2262-04-11: a wrapped value would be
      // a wrong date, so refuse (connect mode's milliseconds cover the whole range).
      if (scaled > std::numeric_limits<int64_t>::max() || scaled < std::numeric_limits<int64_t>::min())
        return fail(("the value " + std::string(text) +
                     " is outside io.debezium.time.NanoTimestamp's int64 range (1677-09-21..2262-04-11); "
                     "capture.time_precision_mode = connect carries it in milliseconds")
                        .c_str());
      value = static_cast<int64_t>(scaled);
    }
    AppendInt(value, out);
    return true;
  };
  if (only != nullptr) {
    for (size_t i : *only)
      if (!append(i)) return false;
  } else {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i].IsRendered() && !append(i)) return false;
  }
  out.push_back('}');
  return true;
}

bool DebeziumEncoder::Encode(const logreader::CommittedTransaction& txn, const logreader::RowChange& change,
                             uint64_t total_order, uint64_t data_collection_order, int64_t now_ns, EncodedEvent& out,
                             std::string& error) {
  TableSchemas& schemas = SchemasFor(*change.table);
  if (!logreader::DecodeChange(change, decoded_, error)) return false;
  const bool is_update = change.op == logreader::ChangeOp::kUpdate;
  if (is_update && !logreader::DecodeChangeBefore(change, decoded_before_, error)) return false;
  if (options_.off_row_values_unavailable) {
    for (logreader::DecodedRecord* decoded : {&decoded_, is_update ? &decoded_before_ : nullptr}) {
      if (decoded == nullptr) continue;
      for (auto& field : decoded->fields) {
        if (field.state != FieldState::kOffRow) continue;
        field.state = FieldState::kUnavailable;
        ++off_row_unavailable_;
      }
    }
  }
  out.topic = &schemas.topic;
  out.key.clear();
  out.value.clear();
  out.unavailable.clear();
  {
    char lsn[22];
    txn.commit_lsn.Format(lsn);
    out.txn_header.assign(lsn, sizeof lsn);
    out.txn_header.push_back(' ');
    AppendInt(static_cast<int64_t>(total_order), out.txn_header);
  }
  for (size_t i = 0; i < change.table->layout.columns.size(); ++i) {
    const auto& column = change.table->layout.columns[i];
    if (!column.IsRendered()) continue;
    if (decoded_.fields[i].state == FieldState::kUnavailable ||
        (is_update && decoded_before_.fields[i].state == FieldState::kUnavailable)) {
      if (!out.unavailable.empty()) out.unavailable.push_back(',');
      out.unavailable += *column.name;
    }
  }
  if (!change.table->key_columns.empty()) {
    out.key += schemas.key_prefix;
    if (!AppendRow(change, decoded_, &change.table->key_columns, out.key, error)) return false;
    if (options_.schemas_enable) out.key.push_back('}');
  }
  std::string& v = out.value;
  v += schemas.value_prefix;
  bool is_delete = change.op == logreader::ChangeOp::kDelete;
  v += "{\"before\":";
  if (is_delete || is_update) {
    if (!AppendRow(change, is_update ? decoded_before_ : decoded_, nullptr, v, error)) return false;
  } else {
    v += "null";
  }
  v += ",\"after\":";
  if (!is_delete) {
    if (!AppendRow(change, decoded_, nullptr, v, error)) return false;
  } else {
    v += "null";
  }
  int64_t source_ns = DatetimeBytesToUnixNanos(txn.commit_time);
  char lsn[22];
  AppendSourceHead(options_.topic_prefix, options_.database, source_ns, "false", change.table->layout, v);
  v += ",\"change_lsn\":\"";
  change.lsn.Format(lsn);
  v.append(lsn, sizeof lsn);
  v += "\",\"commit_lsn\":\"";
  txn.commit_lsn.Format(lsn);
  v.append(lsn, sizeof lsn);
  v += "\",\"event_serial_no\":1},\"op\":\"";
  v.push_back(static_cast<char>(change.op));
  v += "\",\"ts_ms\":";
  AppendInt(now_ns / 1000000, v);
  v += ",\"ts_us\":";
  AppendInt(now_ns / 1000, v);
  v += ",\"ts_ns\":";
  AppendInt(now_ns, v);
  v += ",\"transaction\":{\"id\":\"";
  v.append(lsn, sizeof lsn);  // Debezium's SQL Server transaction id is the commit LSN
  v += "\",\"total_order\":";
  AppendInt(static_cast<int64_t>(total_order), v);
  v += ",\"data_collection_order\":";
  AppendInt(static_cast<int64_t>(data_collection_order), v);
  v += "}}";
  if (options_.schemas_enable) v.push_back('}');
  return true;
}

bool DebeziumEncoder::EncodeSnapshotRead(const logreader::CapturedTable& table, std::span<const uint8_t> record,
                                         logreader::Lsn snapshot_lsn, std::string_view marker, int64_t now_ns,
                                         EncodedEvent& out, std::string& error) {
  TableSchemas& schemas = SchemasFor(table);
  logreader::RowChange change;
  change.lsn = snapshot_lsn;
  change.op = logreader::ChangeOp::kInsert;
  change.table = &table;
  change.record = record;
  if (!logreader::DecodeChange(change, decoded_, error)) return false;
  out.topic = &schemas.topic;
  out.key.clear();
  out.value.clear();
  out.unavailable.clear();
  if (!table.key_columns.empty()) {
    out.key += schemas.key_prefix;
    if (!AppendRow(change, decoded_, &table.key_columns, out.key, error)) return false;
    if (options_.schemas_enable) out.key.push_back('}');
  }
  std::string& v = out.value;
  v += schemas.value_prefix;
  v += "{\"before\":null,\"after\":";
  if (!AppendRow(change, decoded_, nullptr, v, error)) return false;
  char lsn[22];
  AppendSourceHead(options_.topic_prefix, options_.database, now_ns, marker, table.layout, v);
  v += ",\"change_lsn\":null,\"commit_lsn\":\"";
  snapshot_lsn.Format(lsn);
  v.append(lsn, sizeof lsn);
  v += "\",\"event_serial_no\":null},\"op\":\"r\",\"ts_ms\":";
  AppendInt(now_ns / 1000000, v);
  v += ",\"ts_us\":";
  AppendInt(now_ns / 1000, v);
  v += ",\"ts_ns\":";
  AppendInt(now_ns, v);
  v += ",\"transaction\":null}";
  if (options_.schemas_enable) v.push_back('}');
  return true;
}

}  // namespace sqltail::engine

namespace sqltail::engine {
namespace {

// io.debezium.connector.schema.Column / Table / Change and the SQL Server connector's
// SchemaChangeKey / SchemaChangeValue (Debezium's SchemaFactory and ConnectTableChangeSerializer),
// as JsonConverter schemas.
constexpr const char* kSchemaChangeKeySchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"databaseName\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.sqlserver.SchemaChangeKey\",\"version\":1}";
constexpr const char* kSchemaChangeColumnSchema =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"jdbcType\"},"
    "{\"type\":\"int32\",\"optional\":true,\"field\":\"nativeType\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"typeName\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"typeExpression\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"charsetName\"},"
    "{\"type\":\"int32\",\"optional\":true,\"field\":\"length\"},"
    "{\"type\":\"int32\",\"optional\":true,\"field\":\"scale\"},"
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"position\"},"
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"optional\"},"
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"autoIncremented\"},"
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"generated\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"comment\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"defaultValueExpression\"},"
    "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false},\"optional\":true,\"field\":\"enumValues\"}"
    "],"
    "\"optional\":false,\"name\":\"io.debezium.connector.schema.Column\",\"version\":1}";

std::string SchemaChangeValueSchema() {
  std::string s = "{\"type\":\"struct\",\"fields\":[";
  s += kSourceSchema;
  s += ",{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
       "{\"type\":\"string\",\"optional\":true,\"field\":\"databaseName\"},"
       "{\"type\":\"string\",\"optional\":true,\"field\":\"schemaName\"},"
       "{\"type\":\"string\",\"optional\":true,\"field\":\"ddl\"},"
       "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["
       "{\"type\":\"string\",\"optional\":false,\"field\":\"type\"},"
       "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
       "{\"type\":\"struct\",\"fields\":["
       "{\"type\":\"string\",\"optional\":true,\"field\":\"defaultCharsetName\"},"
       "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":false},\"optional\":true,"
       "\"field\":\"primaryKeyColumnNames\"},"
       "{\"type\":\"array\",\"items\":";
  s += kSchemaChangeColumnSchema;
  s += ",\"optional\":false,\"field\":\"columns\"},"
       "{\"type\":\"string\",\"optional\":true,\"field\":\"comment\"}],"
       "\"optional\":true,\"name\":\"io.debezium.connector.schema.Table\",\"version\":1,\"field\":\"table\"}],"
       "\"optional\":false,\"name\":\"io.debezium.connector.schema.Change\",\"version\":1},"
       "\"optional\":false,\"field\":\"tableChanges\"}],"
       "\"optional\":false,\"name\":\"io.debezium.connector.sqlserver.SchemaChangeValue\",\"version\":1}";
  return s;
}

// java.sql.Types codes of Microsoft's documented default mapping of SQL Server types to JDBC types
// ("Understanding the JDBC driver data types", the JDBC 4 column), and the driver's own
// microsoft.sql.Types codes for datetimeoffset, sql_variant, geometry and geography. Debezium reads
// jdbcType from the driver's DatabaseMetaData.getColumns, which is [UNCONFIRMED] to give the same
// code for xml, sql_variant and the CLR types (docs/events.md).
int JdbcTypeOf(const ColumnLayout& c) {
  const bool max = c.max_length == -1;
  switch (c.type) {
    case SqlType::kBit:
      return -7;  // BIT
    case SqlType::kTinyInt:
      return -6;  // TINYINT
    case SqlType::kSmallInt:
      return 5;  // SMALLINT
    case SqlType::kInt:
      return 4;  // INTEGER
    case SqlType::kBigInt:
      return -5;  // BIGINT
    case SqlType::kReal:
      return 7;  // REAL
    case SqlType::kFloat:
      return 8;  // DOUBLE
    case SqlType::kNumeric:
      return 2;  // NUMERIC
    case SqlType::kDecimal:
    case SqlType::kMoney:
    case SqlType::kSmallMoney:
      return 3;  // DECIMAL
    case SqlType::kDate:
      return 91;  // DATE
    case SqlType::kTime:
      return 92;  // TIME
    case SqlType::kDateTime:
    case SqlType::kSmallDateTime:
    case SqlType::kDateTime2:
      return 93;  // TIMESTAMP
    case SqlType::kDateTimeOffset:
      return -155;
    case SqlType::kChar:
    case SqlType::kUniqueIdentifier:
      return 1;  // CHAR
    case SqlType::kVarChar:
      return max ? -1 : 12;  // LONGVARCHAR : VARCHAR
    case SqlType::kText:
      return -1;
    case SqlType::kNChar:
      return -15;  // NCHAR
    case SqlType::kNVarChar:
      return max ? -16 : -9;  // LONGNVARCHAR : NVARCHAR
    case SqlType::kNText:
      return -16;
    case SqlType::kBinary:
    case SqlType::kTimestamp:
      return -2;  // BINARY
    case SqlType::kVarBinary:
      return max ? -4 : -3;  // LONGVARBINARY : VARBINARY
    case SqlType::kImage:
      return -4;
    case SqlType::kXml:
      return 2009;  // SQLXML
    case SqlType::kSqlVariant:
      return -156;
    case SqlType::kGeometry:
      return -157;
    case SqlType::kGeography:
      return -158;
    case SqlType::kHierarchyId:
      return -3;  // a CLR type: "udt -> VARBINARY"
    default:
      return 1111;  // OTHER
  }
}

// JDBC's COLUMN_SIZE: digits for numbers, characters of the text form for dates and times (both
// sys.columns.precision), characters for character strings, bytes for binary strings. Null where
// it is not determined here: (max), LOB, xml, sql_variant and CLR types.
std::optional<int> JdbcLengthOf(const ColumnLayout& c) {
  if (c.max_length == -1) return std::nullopt;
  switch (c.type) {
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kBinary:
    case SqlType::kVarBinary:
    case SqlType::kTimestamp:
      return c.max_length;
    case SqlType::kNChar:
    case SqlType::kNVarChar:
      return c.max_length / 2;
    case SqlType::kUniqueIdentifier:
      return 36;
    case SqlType::kText:
    case SqlType::kNText:
    case SqlType::kImage:
    case SqlType::kXml:
    case SqlType::kSqlVariant:
    case SqlType::kGeometry:
    case SqlType::kGeography:
    case SqlType::kHierarchyId:
    case SqlType::kUnknown:
      return std::nullopt;
    default:
      return c.precision > 0 ? std::optional<int>(c.precision) : std::nullopt;
  }
}

// JDBC's DECIMAL_DIGITS: the scale of exact numbers and of fractional seconds; null for the rest.
std::optional<int> JdbcScaleOf(const ColumnLayout& c) {
  switch (c.type) {
    case SqlType::kTinyInt:
    case SqlType::kSmallInt:
    case SqlType::kInt:
    case SqlType::kBigInt:
    case SqlType::kBit:
    case SqlType::kDecimal:
    case SqlType::kNumeric:
    case SqlType::kMoney:
    case SqlType::kSmallMoney:
    case SqlType::kTime:
    case SqlType::kDateTime2:
    case SqlType::kDateTimeOffset:
    case SqlType::kDateTime:
    case SqlType::kSmallDateTime:
      return c.scale;
    default:
      return std::nullopt;
  }
}

// A part of Debezium's TableId.toDoubleQuotedString: in double quotes with inner quotes doubled,
// except that a part already starting or ending with a quote is kept as it is.
void AppendDoubleQuotedPart(std::string_view part, std::string& out) {
  if (!part.empty() && (part.front() == '"' || part.back() == '"')) {
    out += part;
    return;
  }
  out.push_back('"');
  for (char c : part) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendOptionalInt(std::optional<int> value, std::string& out) {
  if (value) {
    AppendInt(*value, out);
  } else {
    out += "null";
  }
}

}  // namespace

bool ConnectColumnTypeOf(std::string_view type_name, int precision, int scale, const EncoderOptions& options,
                         ConnectColumnType& out) {
  ColumnLayout c;
  c.type = logreader::SqlTypeFromName(type_name);
  if (c.type == SqlType::kUnknown) return false;
  c.precision = precision;
  c.scale = scale;
  const ConnectType t = ConnectTypeOf(c, options);
  out = ConnectColumnType{};
  out.type = t.type;
  if (t.name != nullptr) out.logical_name = t.name;
  if (t.decimal) std::tie(out.precision, out.scale) = DecimalParameters(c);
  return true;
}

void DebeziumEncoder::EncodeSchemaChange(const logreader::CapturedTable& table, std::string_view type,
                                         std::optional<logreader::Lsn> commit_lsn, std::string_view snapshot,
                                         int64_t ts_ns, EncodedEvent& out) {
  out.topic = &options_.topic_prefix;
  out.unavailable.clear();
  out.txn_header.clear();
  out.key.clear();
  if (options_.schemas_enable) {
    out.key += "{\"schema\":";
    out.key += kSchemaChangeKeySchema;
    out.key += ",\"payload\":";
  }
  out.key += "{\"databaseName\":";
  AppendJsonString(options_.database, out.key);
  out.key += "}";
  if (options_.schemas_enable) out.key += "}";

  std::string& v = out.value;
  v.clear();
  if (options_.schemas_enable) {
    if (schema_change_schema_.empty()) schema_change_schema_ = SchemaChangeValueSchema();
    v += "{\"schema\":";
    v += schema_change_schema_;
    v += ",\"payload\":";
  }
  v.push_back('{');
  const size_t source_at = v.size();
  AppendSourceHead(options_.topic_prefix, options_.database, ts_ns, snapshot, table.layout, v);
  v.erase(source_at, 1);  // the source block opens this payload: no comma before it
  v += ",\"change_lsn\":null,\"commit_lsn\":";
  if (commit_lsn) {
    v += '"' + commit_lsn->ToString() + '"';
  } else {
    v += "null";
  }
  v += ",\"event_serial_no\":null},\"ts_ms\":";
  AppendInt(ts_ns / 1000000, v);
  v += ",\"databaseName\":";
  AppendJsonString(options_.database, v);
  v += ",\"schemaName\":";
  AppendJsonString(table.layout.schema, v);
  v += ",\"ddl\":null,\"tableChanges\":[{\"type\":";
  AppendJsonString(type, v);
  v += ",\"id\":";
  scratch_.clear();
  AppendDoubleQuotedPart(options_.database, scratch_);
  scratch_.push_back('.');
  AppendDoubleQuotedPart(table.layout.schema, scratch_);
  scratch_.push_back('.');
  AppendDoubleQuotedPart(table.layout.table, scratch_);
  AppendJsonString(scratch_, v);
  v += ",\"table\":{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[";
  const auto& columns = table.layout.columns;
  for (size_t k = 0; k < table.key_columns.size(); ++k) {
    if (k > 0) v.push_back(',');
    AppendJsonString(*columns[table.key_columns[k]].name, v);
  }
  v += "],\"columns\":[";
  // Positions are 1..n in column order, as Debezium numbers the columns it read.
  std::vector<const ColumnLayout*> ordered;
  for (const auto& c : columns)
    if (c.IsRendered()) ordered.push_back(&c);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const ColumnLayout* a, const ColumnLayout* b) { return a->column_id < b->column_id; });
  for (size_t i = 0; i < ordered.size(); ++i) {
    const ColumnLayout& c = *ordered[i];
    if (i > 0) v.push_back(',');
    v += "{\"name\":";
    AppendJsonString(*c.name, v);
    v += ",\"jdbcType\":";
    AppendInt(JdbcTypeOf(c), v);
    // mssql-jdbc's column metadata names an identity column's type "int identity" (the form
    // Debezium's documented example shows).
    scratch_ = c.type_name;
    if (c.is_identity.value_or(false)) scratch_ += " identity";
    v += ",\"nativeType\":null,\"typeName\":";
    AppendJsonString(scratch_, v);
    v += ",\"typeExpression\":";
    AppendJsonString(scratch_, v);
    v += ",\"charsetName\":null,\"length\":";
    AppendOptionalInt(JdbcLengthOf(c), v);
    v += ",\"scale\":";
    AppendOptionalInt(JdbcScaleOf(c), v);
    v += ",\"position\":";
    AppendInt(static_cast<int64_t>(i + 1), v);
    v += ",\"optional\":";
    v += c.is_nullable ? "true" : "false";
    // Null when the catalog does not say (an older fixture): unknown, not a guessed false.
    v += ",\"autoIncremented\":";
    v += c.is_identity ? (*c.is_identity ? "true" : "false") : "null";
    v += ",\"generated\":";
    v += c.is_computed ? (*c.is_computed ? "true" : "false") : "null";
    v += ",\"comment\":null,\"defaultValueExpression\":";
    if (c.default_definition) {
      AppendJsonString(*c.default_definition, v);
    } else {
      v += "null";
    }
    v += ",\"enumValues\":null}";
  }
  v += "],\"comment\":null}}]}";
  if (options_.schemas_enable) v.push_back('}');
}

}  // namespace sqltail::engine
