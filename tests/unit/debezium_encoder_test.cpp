// DebeziumEncoder: Debezium's type-mapping options (time.precision.mode, decimal.handling.mode,
// binary.handling.mode) on decoded row images, and the transaction-metadata BEGIN/END events.
// Expected values are worked out by hand from the stored values, not by the encoder's own helpers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/engine/debezium_encoder.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"

using namespace sqltail;
using engine::BinaryHandlingMode;
using engine::DecimalHandlingMode;
using engine::TimePrecisionMode;
using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

// Stored values (all on 2024-02-29, 19,782 days after 1970-01-01 and 738,944 after 0001-01-01):
//   id int 7; d date; t time(7) 13:45:30.1234567; dt2 datetime2(7) 2024-02-29T13:45:30.1234567;
//   dt datetime 2024-02-29T00:00:01; dec decimal(10,2) -12.50; sm smallmoney 19.99;
//   vb varbinary(10) 0x00ABFF10.
constexpr int64_t kEpochDays = 19782;
constexpr uint64_t kDaysSinceYear1 = 738944;
constexpr uint64_t kTime7Units = 495301234567;  // (13*3600 + 45*60 + 30) s in 100 ns units + 1234567

fixtures::Bytes LittleEndian(uint64_t value, size_t size) {
  fixtures::Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

ColumnLayout Column(const char* name, SqlType type, int size, int& fixed_offset, int& var_ordinal, int null_bit) {
  ColumnLayout c;
  c.name = name;
  c.column_id = null_bit;
  c.leaf_null_bit = null_bit;
  c.type = type;
  c.type_name = std::string(logreader::SqlTypeName(type));
  c.max_length = size;
  c.is_nullable = true;
  if (type == SqlType::kVarBinary) {
    c.leaf_offset = -(++var_ordinal);
  } else {
    c.leaf_offset = fixed_offset;
    fixed_offset += size;
  }
  return c;
}

struct Fixture {
  logreader::CapturedTable table;
  fixtures::Bytes record;
  logreader::CommittedTransaction txn;

  Fixture() {
    auto& layout = table.layout;
    layout.schema = "dbo";
    layout.table = "typed";
    int fixed = 4, var = 0, bit = 0;
    layout.columns.push_back(Column("id", SqlType::kInt, 4, fixed, var, ++bit));
    layout.columns.back().is_nullable = false;
    layout.columns.back().key_ordinal = 1;
    layout.columns.push_back(Column("d", SqlType::kDate, 3, fixed, var, ++bit));
    layout.columns.push_back(Column("t", SqlType::kTime, 5, fixed, var, ++bit));
    layout.columns.back().scale = 7;
    layout.columns.push_back(Column("dt2", SqlType::kDateTime2, 8, fixed, var, ++bit));
    layout.columns.back().scale = 7;
    layout.columns.push_back(Column("dt", SqlType::kDateTime, 8, fixed, var, ++bit));
    layout.columns.push_back(Column("dec", SqlType::kDecimal, 9, fixed, var, ++bit));
    layout.columns.back().precision = 10;
    layout.columns.back().scale = 2;
    layout.columns.push_back(Column("sm", SqlType::kSmallMoney, 4, fixed, var, ++bit));
    layout.columns.push_back(Column("vb", SqlType::kVarBinary, 10, fixed, var, ++bit));
    table.key_columns = {0};

    // The record encoder knows no date/time types: write those columns' bytes as binary columns of
    // the same size at the same offsets (the record format does not tell them apart).
    logreader::TableLayout as_binary = layout;
    for (auto& c : as_binary.columns) {
      if (c.type == SqlType::kDate || c.type == SqlType::kTime || c.type == SqlType::kDateTime2 ||
          c.type == SqlType::kSmallMoney)
        c.type = SqlType::kBinary;
    }
    fixtures::Bytes time_bytes = LittleEndian(kTime7Units, 5);
    fixtures::Bytes datetime2_bytes = time_bytes;
    for (uint8_t b : LittleEndian(kDaysSinceYear1, 3)) datetime2_bytes.push_back(b);
    std::vector<fixtures::ColumnValue> values = {
        int64_t{7},
        LittleEndian(kDaysSinceYear1, 3),
        time_bytes,
        datetime2_bytes,
        fixtures::SqlDateTime(static_cast<int32_t>(kEpochDays + 25567), 300),  // 1900 -> 1970: 25,567 days
        fixtures::SqlDecimal::Parse("-12.50", 2),
        LittleEndian(199900, 4),
        fixtures::Bytes{0x00, 0xAB, 0xFF, 0x10},
    };
    record = fixtures::EncodeFixedVarRecord(as_binary, values);

    txn.commit_lsn = logreader::Lsn(0x27, 0x758, 5);
    txn.begin_lsn = logreader::Lsn(0x27, 0x758, 1);
    // datetime 2024-02-29T00:00:00 as logged: ticks (LE int32) then days since 1900 (LE int32).
    fixtures::Bytes commit_time = LittleEndian(0, 4);
    for (uint8_t b : LittleEndian(kEpochDays + 25567, 4)) commit_time.push_back(b);
    std::copy(commit_time.begin(), commit_time.end(), txn.commit_time);
    logreader::RowChange change;
    change.lsn = logreader::Lsn(0x27, 0x758, 3);
    change.op = logreader::ChangeOp::kInsert;
    change.table = &table;
    change.record = record;
    txn.changes.push_back(change);
  }

  std::string Encode(TimePrecisionMode time, DecimalHandlingMode decimal, BinaryHandlingMode binary) {
    engine::EncoderOptions options;
    options.topic_prefix = "srv";
    options.database = "db";
    options.time_precision_mode = time;
    options.decimal_handling_mode = decimal;
    options.binary_handling_mode = binary;
    engine::DebeziumEncoder encoder(options);
    engine::EncodedEvent event;
    std::string error;
    REQUIRE_MESSAGE(encoder.Encode(txn, txn.changes[0], 1, 1, 0, event, error), error);
    CHECK(*event.topic == "srv.db.dbo.typed");
    // tests/compat feeds these envelopes to Kafka Connect's JsonConverter (DebeziumEnvelopeCheck --samples).
    if (const char* samples = std::getenv("SQLTAIL_ENCODER_SAMPLES"); samples != nullptr) {
      static const char* const kTime[] = {"adaptive", "connect"};
      static const char* const kDecimal[] = {"precise", "double", "string"};
      static const char* const kBinary[] = {"bytes", "base64", "hex"};
      std::ofstream(samples, std::ios::app)
          << "time=" << kTime[static_cast<int>(time)] << ",decimal=" << kDecimal[static_cast<int>(decimal)]
          << ",binary=" << kBinary[static_cast<int>(binary)] << "\t" << event.value << "\n";
    }
    return event.value;
  }
};

// The `after` field schema of `name` as compact JSON, and the payload value as JSON text.
struct Field {
  std::string schema;
  std::string value;
};

Field AfterField(const std::string& envelope, const char* name) {
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(envelope);
  Field out;
  for (simdjson::dom::element field : root["schema"]["fields"].get_array()) {
    if (std::string_view(field["field"].get_string().value()) != "after") continue;
    for (simdjson::dom::element column : field["fields"].get_array()) {
      if (std::string_view(column["field"].get_string().value()) == name) out.schema = simdjson::minify(column);
    }
  }
  out.value = simdjson::minify(root["payload"]["after"][name]);
  return out;
}

}  // namespace

TEST_CASE("time.precision.mode=adaptive: io.debezium.time types at the column's precision") {
  Fixture f;
  std::string v = f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kBytes);
  CHECK(AfterField(v, "d").schema ==
        R"({"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"d"})");
  CHECK(AfterField(v, "d").value == std::to_string(kEpochDays));
  CHECK(AfterField(v, "t").schema ==
        R"({"type":"int64","optional":true,"name":"io.debezium.time.NanoTime","version":1,"field":"t"})");
  CHECK(AfterField(v, "t").value == "49530123456700");
  CHECK(AfterField(v, "dt2").schema ==
        R"({"type":"int64","optional":true,"name":"io.debezium.time.NanoTimestamp","version":1,"field":"dt2"})");
  CHECK(AfterField(v, "dt2").value == "1709214330123456700");
  CHECK(AfterField(v, "dt").schema ==
        R"({"type":"int64","optional":true,"name":"io.debezium.time.Timestamp","version":1,"field":"dt"})");
  CHECK(AfterField(v, "dt").value == "1709164801000");
}

TEST_CASE("datetime2(7) past NanoTimestamp's int64 range is refused, not wrapped") {
  // 2262-04-11T23:47:16.8547758 is the last 100 ns unit whose epoch nanoseconds fit an int64.
  auto encode_dt2 = [](uint64_t days_since_year_1, uint64_t units, TimePrecisionMode mode, std::string& value,
                       std::string& error) {
    Fixture f;
    const auto& dt2 = f.table.layout.columns[3];
    fixtures::Bytes bytes = LittleEndian(units, 5);
    for (uint8_t b : LittleEndian(days_since_year_1, 3)) bytes.push_back(b);
    std::copy(bytes.begin(), bytes.end(), f.record.begin() + dt2.leaf_offset);
    engine::EncoderOptions options;
    options.topic_prefix = "srv";
    options.database = "db";
    options.time_precision_mode = mode;
    engine::DebeziumEncoder encoder(options);
    engine::EncodedEvent event;
    const bool ok = encoder.Encode(f.txn, f.txn.changes[0], 1, 1, 0, event, error);
    if (ok) value = AfterField(event.value, "dt2").value;
    return ok;
  };
  constexpr uint64_t kDays2262_04_11 = 825913;  // days from 0001-01-01
  constexpr uint64_t kLastUnit = 856368547758;  // 23:47:16.8547758 in 100 ns units
  std::string value, error;
  REQUIRE_MESSAGE(encode_dt2(kDays2262_04_11, kLastUnit, TimePrecisionMode::kAdaptive, value, error), error);
  CHECK(value == "9223372036854775800");
  CHECK_FALSE(encode_dt2(kDays2262_04_11, kLastUnit + 1, TimePrecisionMode::kAdaptive, value, error));
  CHECK(error.find("column dt2") != std::string::npos);
  CHECK(error.find("NanoTimestamp's int64 range") != std::string::npos);
  CHECK_FALSE(encode_dt2(3652058, 0, TimePrecisionMode::kAdaptive, value, error));  // 9999-12-31
  // Connect mode carries the same value in milliseconds.
  REQUIRE_MESSAGE(encode_dt2(3652058, 0, TimePrecisionMode::kConnect, value, error), error);
  CHECK(value == "253402214400000");
}

TEST_CASE("time.precision.mode=connect: Connect's Date/Time/Timestamp, always milliseconds") {
  Fixture f;
  std::string v = f.Encode(TimePrecisionMode::kConnect, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kBytes);
  CHECK(AfterField(v, "d").schema ==
        R"({"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"d"})");
  CHECK(AfterField(v, "d").value == std::to_string(kEpochDays));
  CHECK(AfterField(v, "t").schema ==
        R"({"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"t"})");
  CHECK(AfterField(v, "t").value == "49530123");
  CHECK(
      AfterField(v, "dt2").schema ==
      R"({"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"dt2"})");
  CHECK(AfterField(v, "dt2").value == "1709214330123");
  CHECK(
      AfterField(v, "dt").schema ==
      R"({"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"dt"})");
  CHECK(AfterField(v, "dt").value == "1709164801000");
}

TEST_CASE("decimal.handling.mode: precise, double, string") {
  Fixture f;
  std::string precise =
      f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kBytes);
  CHECK(AfterField(precise, "dec").schema ==
        R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,)"
        R"("parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"dec"})");
  CHECK(AfterField(precise, "dec").value == R"("+x4=")");  // -1250 = 0xFB1E
  CHECK(AfterField(precise, "sm").schema ==
        R"({"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,)"
        R"("parameters":{"scale":"4","connect.decimal.precision":"10"},"field":"sm"})");
  CHECK(AfterField(precise, "sm").value == R"("Awzc")");  // 199900 = 0x030CDC

  std::string as_double =
      f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kDouble, BinaryHandlingMode::kBytes);
  CHECK(AfterField(as_double, "dec").schema == R"({"type":"double","optional":true,"field":"dec"})");
  CHECK(AfterField(as_double, "dec").value == "-12.5");
  CHECK(AfterField(as_double, "sm").schema == R"({"type":"double","optional":true,"field":"sm"})");
  CHECK(AfterField(as_double, "sm").value == "19.99");

  std::string as_string =
      f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kString, BinaryHandlingMode::kBytes);
  CHECK(AfterField(as_string, "dec").schema == R"({"type":"string","optional":true,"field":"dec"})");
  CHECK(AfterField(as_string, "dec").value == R"("-12.50")");
  CHECK(AfterField(as_string, "sm").value == R"("19.9900")");
}

TEST_CASE("binary.handling.mode: bytes, base64, hex") {
  Fixture f;
  std::string bytes = f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kBytes);
  CHECK(AfterField(bytes, "vb").schema == R"({"type":"bytes","optional":true,"field":"vb"})");
  CHECK(AfterField(bytes, "vb").value == R"("AKv/EA==")");
  std::string base64 =
      f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kBase64);
  CHECK(AfterField(base64, "vb").schema == R"({"type":"string","optional":true,"field":"vb"})");
  CHECK(AfterField(base64, "vb").value == R"("AKv/EA==")");
  std::string hex = f.Encode(TimePrecisionMode::kAdaptive, DecimalHandlingMode::kPrecise, BinaryHandlingMode::kHex);
  CHECK(AfterField(hex, "vb").schema == R"({"type":"string","optional":true,"field":"vb"})");
  CHECK(AfterField(hex, "vb").value == R"("00abff10")");
}

TEST_CASE("option values are parsed as Debezium spells them") {
  TimePrecisionMode time{};
  CHECK(engine::ParseTimePrecisionMode("connect", time));
  CHECK(time == TimePrecisionMode::kConnect);
  CHECK_FALSE(engine::ParseTimePrecisionMode("adaptive_time_microseconds", time));
  DecimalHandlingMode decimal{};
  CHECK(engine::ParseDecimalHandlingMode("string", decimal));
  CHECK(decimal == DecimalHandlingMode::kString);
  CHECK_FALSE(engine::ParseDecimalHandlingMode("Precise", decimal));
  BinaryHandlingMode binary{};
  CHECK(engine::ParseBinaryHandlingMode("hex", binary));
  CHECK(binary == BinaryHandlingMode::kHex);
  CHECK_FALSE(engine::ParseBinaryHandlingMode("base64-url-safe", binary));
}

TEST_CASE("transaction metadata: BEGIN and END keyed by the commit LSN") {
  Fixture f;
  engine::EncoderOptions options;
  options.topic_prefix = "srv";
  options.database = "db";
  engine::DebeziumEncoder encoder(options);
  engine::EncodedEvent event;
  simdjson::dom::parser parser;

  encoder.EncodeTransactionBegin(f.txn, event);
  CHECK(*event.topic == "srv.transaction");
  simdjson::dom::element key = parser.parse(event.key);
  CHECK(std::string_view(key["schema"]["name"].get_string().value()) ==
        "io.debezium.connector.common.TransactionMetadataKey");
  CHECK(simdjson::minify(key["payload"]) == R"({"id":"00000027:00000758:0005"})");
  simdjson::dom::element begin = parser.parse(event.value);
  CHECK(std::string_view(begin["schema"]["name"].get_string().value()) ==
        "io.debezium.connector.common.TransactionMetadataValue");
  CHECK(simdjson::minify(begin["payload"]) ==
        R"({"status":"BEGIN","id":"00000027:00000758:0005","event_count":null,"data_collections":null,)"
        R"("ts_ms":1709164800000})");

  logreader::CapturedTable other = f.table;
  other.layout.table = "other";
  std::vector<engine::TableEventCount> counts = {{&f.table, 3}, {&other, 2}};
  encoder.EncodeTransactionEnd(f.txn, counts, event);
  simdjson::dom::element end = parser.parse(event.value);
  CHECK(simdjson::minify(end["payload"]) ==
        R"({"status":"END","id":"00000027:00000758:0005","event_count":5,"data_collections":[)"
        R"({"data_collection":"db.dbo.typed","event_count":3},{"data_collection":"db.dbo.other","event_count":2}],)"
        R"("ts_ms":1709164800000})");
}

// A value stored off-row (its variable offset entry has the complex bit 0x8000): by default the
// event is an error naming the column and the option; with capture.off_row_values = unavailable
// the column is unavailable (null for bytes), named in sqltail.unavailable and counted.
TEST_CASE("an off-row value: an error naming the column by default, unavailable when configured") {
  Fixture f;
  // Record: status (2), fixed length (2), fixed part, column count (2), NULL bitmap (1 byte for
  // 8 columns), variable count (2), then vb's end offset: set its complex bit.
  const size_t fixed_end = static_cast<size_t>(f.record[2]) | (static_cast<size_t>(f.record[3]) << 8);
  const size_t vb_entry = fixed_end + 2 + 1 + 2;
  REQUIRE(vb_entry + 1 < f.record.size());
  f.record[vb_entry + 1] |= 0x80;
  f.txn.changes[0].record = f.record;

  engine::EncoderOptions options;
  options.topic_prefix = "srv";
  options.database = "db";
  engine::EncodedEvent event;
  std::string error;
  {
    engine::DebeziumEncoder encoder(options);
    CHECK_FALSE(encoder.Encode(f.txn, f.txn.changes[0], 1, 1, 0, event, error));
    CHECK(error.find("table dbo.typed, column vb: the value is stored off-row") != std::string::npos);
    CHECK(error.find("capture.off_row_values = unavailable") != std::string::npos);
  }
  options.off_row_values_unavailable = true;
  engine::DebeziumEncoder encoder(options);
  error.clear();
  REQUIRE_MESSAGE(encoder.Encode(f.txn, f.txn.changes[0], 1, 1, 0, event, error), error);
  CHECK(event.unavailable == "vb");
  CHECK(AfterField(event.value, "vb").value == "null");
  CHECK(AfterField(event.value, "id").value == "7");
  CHECK(encoder.off_row_values_unavailable() == 1);
}
