// The snapshot's text forms (engine/src/snapshot_text.cpp): each CONVERT text parsed back into the
// stored bytes, at the types' boundaries, checked three ways: the bytes themselves (log-internals
// §3.2), the log decoder's rendering of them, and the fixture generator's encoder for the same value.
// Malformed or out-of-range text is refused with a reason.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "snapshot_text.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/sql_datetime.h"
#include "sqltail/logreader/record_decoder.h"

using namespace sqltail;
using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

ColumnLayout Column(std::string type_name, int max_length, int precision = 0, int scale = 0) {
  ColumnLayout c;
  c.name = "c";
  c.column_id = 1;
  c.type_name = type_name;
  c.type = logreader::SqlTypeFromName(type_name);
  c.max_length = max_length;
  c.precision = precision;
  c.scale = scale;
  c.leaf_offset = 4;
  c.leaf_null_bit = 1;
  return c;
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  char two[3];
  for (uint8_t b : bytes) {
    std::snprintf(two, sizeof two, "%02X", b);
    out += two;
  }
  return out;
}

// The stored bytes of `text`, or "" with the reason in `what`.
std::vector<uint8_t> Stored(const ColumnLayout& c, std::string_view text, std::string* what = nullptr) {
  std::vector<uint8_t> out;
  std::string reason;
  if (!engine::StoredBytesFromSnapshotText(c, text, out, reason)) {
    if (what) *what = reason;
    return {};
  }
  return out;
}

// What the log decoder renders for the stored bytes.
std::string Rendered(const ColumnLayout& c, const std::vector<uint8_t>& bytes) {
  logreader::FieldView field;
  field.state = logreader::FieldState::kValue;
  field.data = bytes.data();
  field.size = static_cast<uint32_t>(bytes.size());
  std::string out;
  if (!logreader::AppendCanonicalJson(c, field, out)) return "<does not render>";
  return out;
}

// The fixture generator's encoding of `value` in a one-column record: its fixed part.
std::vector<uint8_t> Encoded(const ColumnLayout& c, const fixtures::ColumnValue& value) {
  logreader::TableLayout layout;
  layout.schema = "dbo";
  layout.table = "t";
  layout.columns = {c};
  const fixtures::ColumnValue values[] = {value};
  auto record = fixtures::EncodeFixedVarRecord(layout, values);
  return {record.begin() + 4, record.begin() + 4 + c.max_length};
}

void Refused(const ColumnLayout& c, std::string_view text) {
  std::string what;
  CAPTURE(text);
  CHECK(Stored(c, text, &what).empty());
  CHECK_FALSE(what.empty());
}

}  // namespace

TEST_CASE("the SELECT expressions are the documented CONVERT styles; other types have none") {
  CHECK(*engine::SnapshotTextExpression(Column("date", 3, 10), "[d]") == "CONVERT(char(10), [d], 23)");
  CHECK(*engine::SnapshotTextExpression(Column("datetime2", 8, 27, 7), "[d]") == "CONVERT(varchar(30), [d], 121)");
  CHECK(*engine::SnapshotTextExpression(Column("time", 5, 16, 7), "[d]") == "CONVERT(varchar(30), [d], 121)");
  CHECK(*engine::SnapshotTextExpression(Column("datetime", 8, 23, 3), "[d]") == "CONVERT(varchar(23), [d], 121)");
  CHECK(*engine::SnapshotTextExpression(Column("smalldatetime", 4), "[d]") == "CONVERT(varchar(19), [d], 120)");
  CHECK(*engine::SnapshotTextExpression(Column("decimal", 9, 12, 2), "[d]") == "CONVERT(varchar(50), [d])");
  CHECK(*engine::SnapshotTextExpression(Column("money", 8, 19, 4), "[d]") == "CONVERT(varchar(30), [d], 2)");
  CHECK(*engine::SnapshotTextExpression(Column("float", 8, 53), "[d]") == "CONVERT(varchar(30), [d], 3)");
  CHECK(*engine::SnapshotTextExpression(Column("uniqueidentifier", 16), "[d]") == "CONVERT(char(36), [d])");
  for (const char* refused : {"datetimeoffset", "sql_variant", "xml", "hierarchyid", "int", "varchar", "binary"})
    CHECK_FALSE(engine::SnapshotTextExpression(Column(refused, 8), "[d]").has_value());
}

TEST_CASE("date: 0001-01-01 .. 9999-12-31, leap days") {
  const auto c = Column("date", 3, 10);
  CHECK(Hex(Stored(c, "0001-01-01")) == "000000");
  CHECK(Hex(Stored(c, "9999-12-31")) == "DAB937");  // 3652058 days
  CHECK(Rendered(c, Stored(c, "9999-12-31")) == "\"9999-12-31\"");
  CHECK(Rendered(c, Stored(c, "2000-02-29")) == "\"2000-02-29\"");
  CHECK(Stored(c, "1942-05-31") == Encoded(c, int64_t{709085}));
  CHECK(Rendered(c, Encoded(c, int64_t{709085})) == "\"1942-05-31\"");
  for (const char* bad : {"", "1900-02-29", "2023-13-01", "2023-00-10", "0000-01-01", "2023-1-01", "2023-01-01 ",
                          "2023/01/01", "2023-01-32", "20230101xx"})
    Refused(c, bad);
}

TEST_CASE("datetime2(n) and time(n): boundaries, every scale, fraction digits") {
  const auto c7 = Column("datetime2", 8, 27, 7);
  CHECK(Hex(Stored(c7, "0001-01-01 00:00:00.0000000")) == "0000000000000000");
  const auto max7 = Stored(c7, "9999-12-31 23:59:59.9999999");
  CHECK(Hex(max7) == "FFBF692AC9DAB937");  // 863999999999 units, then 3652058 days
  CHECK(Rendered(c7, max7) == "\"9999-12-31T23:59:59.9999999\"");
  CHECK(Stored(c7, "2023-12-27 16:51:07.9000000") ==
        std::vector<uint8_t>{0xC0, 0xE3, 0xE2, 0x40, 0x8D, 0x40, 0x46, 0x0B});  // log-internals §3.2 example
  // The same value with fewer printed digits (undocumented count): scaled exactly.
  CHECK(Stored(c7, "2023-12-27 16:51:07.9") == Stored(c7, "2023-12-27 16:51:07.9000000"));
  const auto c3 = Column("datetime2", 7, 23, 3);
  CHECK(Rendered(c3, Stored(c3, "1900-09-29 17:17:25.639")) == "\"1900-09-29T17:17:25.639\"");
  CHECK(Stored(c3, "1900-09-29 17:17:25.6390000") == Stored(c3, "1900-09-29 17:17:25.639"));
  Refused(c3, "1900-09-29 17:17:25.6391");  // not exact at scale 3
  const auto c0 = Column("datetime2", 6, 19, 0);
  CHECK(Rendered(c0, Stored(c0, "2024-06-01 12:00:00")) == "\"2024-06-01T12:00:00\"");
  for (int scale = 0; scale <= 7; ++scale) {
    const int size = (scale <= 2 ? 3 : scale <= 4 ? 4 : 5) + 3;
    const auto c = Column("datetime2", size, 20 + scale, scale);
    int64_t per_day = 86400;
    for (int i = 0; i < scale; ++i) per_day *= 10;
    const int64_t value = 737000 * per_day + 1234567890123 % per_day;  // day 737000, a time with all digits
    const auto encoded = Encoded(c, value);
    const std::string text = Rendered(c, encoded);
    std::string sql = text.substr(1, text.size() - 2);
    sql[10] = ' ';
    CAPTURE(sql);
    CHECK(Stored(c, sql) == encoded);
  }
  const auto t7 = Column("time", 5, 16, 7);
  CHECK(Hex(Stored(t7, "00:00:00.0000000")) == "0000000000");
  CHECK(Hex(Stored(t7, "23:59:59.9999999")) == "FFBF692AC9");
  CHECK(Rendered(t7, Stored(t7, "23:59:59.9999999")) == "\"23:59:59.9999999\"");
  const auto t2 = Column("time", 3, 11, 2);
  CHECK(Rendered(t2, Stored(t2, "08:30:00.25")) == "\"08:30:00.25\"");
  for (const char* bad : {"24:00:00", "23:60:00", "23:59:60", "12:00", "12:00:00.", "12:00:00.1234567890", "x"})
    Refused(t7, bad);
  for (const char* bad : {"9999-12-31T23:59:59", "9999-12-31  23:59:59", "10000-01-01 00:00:00", "9999-12-31"})
    Refused(c7, bad);
}

TEST_CASE("datetime: 1753-01-01 .. 9999-12-31 23:59:59.997, milliseconds map back to 1/300 s ticks") {
  const auto c = Column("datetime", 8, 23, 3);
  CHECK(Stored(c, "1753-01-01 00:00:00.000") == Encoded(c, fixtures::SqlDateTime(-53690, 0)));
  CHECK(Hex(Stored(c, "1900-01-01 00:00:00.000")) == "0000000000000000");
  CHECK(Stored(c, "9999-12-31 23:59:59.997") == Encoded(c, fixtures::SqlDateTime(2958463, 25919999)));
  CHECK(Rendered(c, Stored(c, "9999-12-31 23:59:59.997")) == "\"9999-12-31T23:59:59.997\"");
  // Every tick of a second prints as one millisecond value and parses back to that tick.
  for (uint32_t tick = 0; tick < 300; ++tick) {
    const fixtures::SqlDateTime value(45000, 3600 * 300 + tick);
    const auto encoded = Encoded(c, value);
    std::string sql = value.ToString();
    sql[10] = ' ';
    CAPTURE(sql);
    CHECK(Stored(c, sql) == encoded);
    CHECK(Rendered(c, encoded) == "\"" + value.ToString() + "\"");
  }
  // .001, .002, .005 ... are no tick's print; 1752-12-31 is before datetime's range.
  for (const char* bad :
       {"2000-01-01 00:00:00.001", "2000-01-01 00:00:00.002", "2000-01-01 00:00:00.005", "2000-01-01 00:00:00.999",
        "1752-12-31 23:59:59.997", "2000-01-01 00:00:00", "2000-01-01 00:00:00.0000", "2000-01-01 00:00:00.00"})
    Refused(c, bad);
}

TEST_CASE("smalldatetime: 1900-01-01 .. 2079-06-06 23:59, whole minutes") {
  const auto c = Column("smalldatetime", 4, 16, 0);
  CHECK(Hex(Stored(c, "1900-01-01 00:00:00")) == "00000000");
  CHECK(Hex(Stored(c, "2079-06-06 23:59:00")) == "9F05FFFF");  // 1439 minutes, day 65535
  CHECK(Rendered(c, Stored(c, "2079-06-06 23:59:00")) == "\"2079-06-06T23:59:00\"");
  for (const char* bad : {"1899-12-31 23:59:00", "2079-06-07 00:00:00", "2000-01-01 00:00:30", "2000-01-01 00:00"})
    Refused(c, bad);
}

TEST_CASE("decimal/numeric: negative, zero, 38 digits, sign byte and storage sizes") {
  const auto c = Column("decimal", 9, 12, 2);
  CHECK(Stored(c, "-8169972755.46") == Encoded(c, fixtures::SqlDecimal::Parse("-8169972755.46", 2)));
  CHECK(Rendered(c, Stored(c, "-8169972755.46")) == "\"-8169972755.46\"");
  CHECK(Hex(Stored(c, "0.00")) == "010000000000000000");
  CHECK(Hex(Stored(c, "-0.50")) == "003200000000000000");
  CHECK(Stored(c, ".50") == Stored(c, "0.50"));
  CHECK(Stored(c, "9999999999.99") == Encoded(c, fixtures::SqlDecimal::Parse("9999999999.99", 2)));
  const auto c38 = Column("numeric", 17, 38, 0);
  const std::string max38(38, '9');
  CHECK(Stored(c38, max38) == Encoded(c38, fixtures::SqlDecimal::Parse(max38, 0)));
  CHECK(Rendered(c38, Stored(c38, "-" + max38)) == "\"-" + max38 + "\"");
  const auto c38s = Column("decimal", 17, 38, 38);
  const std::string small = "-0." + std::string(37, '0') + "1";
  CHECK(Rendered(c38s, Stored(c38s, small)) == "\"" + small + "\"");
  Refused(c38, max38 + "9");     // 39 digits
  Refused(c, "10000000000.00");  // 13 digits for precision 12
  for (const char* bad : {"", "-", "1.5", "1.500", "1,000.00", "1e5", "--1.00", "1.00 ", "+1.00", "1..00"})
    Refused(c, bad);
  Refused(Column("decimal", 7, 12, 2), "1.00");  // not a decimal storage size
}

TEST_CASE("money and smallmoney: four decimals, minimum and maximum") {
  const auto m = Column("money", 8, 19, 4);
  CHECK(Hex(Stored(m, "-922337203685477.5808")) == "0000000000000080");
  CHECK(Hex(Stored(m, "922337203685477.5807")) == "FFFFFFFFFFFFFF7F");
  CHECK(Rendered(m, Stored(m, "-922337203685477.5808")) == "\"-922337203685477.5808\"");
  CHECK(Stored(m, "-2429235579.8726") == Encoded(m, int64_t{-24292355798726}));
  Refused(m, "922337203685477.5808");
  Refused(m, "-922337203685477.5809");
  Refused(m, "1.00");  // style 2 prints four decimals
  Refused(m, "1,000.0000");
  const auto s = Column("smallmoney", 4, 10, 4);
  CHECK(Hex(Stored(s, "-214748.3648")) == "00000080");
  CHECK(Hex(Stored(s, "214748.3647")) == "FFFFFF7F");
  CHECK(Rendered(s, Stored(s, "0.0001")) == "\"0.0001\"");
  Refused(s, "214748.3648");
}

TEST_CASE("float and real: 17 (9) significant digits give back the stored value") {
  const auto f = Column("float", 8, 53);
  for (double v : {333.0, 0.1, -1.0 / 3, 1.7976931348623157e308, 2.2250738585072014e-308, 4.9406564584124654e-324, -0.0,
                   123456789012345678.0}) {
    char text[40];
    std::snprintf(text, sizeof text, "%.16E", v);  // 17 significant digits
    CAPTURE(text);
    CHECK(Stored(f, text) == Encoded(f, v));
    std::snprintf(text, sizeof text, "%.17g", v);
    CHECK(Stored(f, text) == Encoded(f, v));
  }
  CHECK(Hex(Stored(f, "333")) == "0000000000D07440");                             // log-internals §3.2 example
  CHECK(Stored(f, "1.2345678912345679e+008") == Encoded(f, 123456789.12345679));  // three-digit exponent
  CHECK(Stored(f, "3.3300000000000000E+002") == Stored(f, "333"));
  const auto r = Column("real", 4, 24);
  CHECK(Stored(r, "0.100000001") == Encoded(r, 0.1));
  CHECK(Stored(r, "3.4028234663852886E+038") == Encoded(r, 3.4028234663852886e38));
  for (const char* bad : {"", "1e999", "inf", "nan", "1.0.0", "0x10", "1 ", " 1", "+1"}) Refused(f, bad);
}

TEST_CASE("uniqueidentifier: text order to the stored .NET Guid(byte[]) order") {
  const auto c = Column("uniqueidentifier", 16);
  // log-internals §3.2 vector 07: 4AD0E1AA37C27449... stores AAE1D04A-C237-4974-...
  CHECK(Hex(Stored(c, "AAE1D04A-C237-4974-0102-030405060708")) == "4AD0E1AA37C274490102030405060708");
  CHECK(Stored(c, "aae1d04a-c237-4974-0102-030405060708") == Stored(c, "AAE1D04A-C237-4974-0102-030405060708"));
  const std::string guid = "D40E0D99-3CAA-428F-9968-604B1EA30A98";
  CHECK(Stored(c, guid) == Encoded(c, guid));
  CHECK(Rendered(c, Stored(c, guid)) == "\"" + guid + "\"");
  for (const char* bad : {"", "D40E0D99-3CAA-428F-9968-604B1EA30A9", "D40E0D99-3CAA-428F-9968-604B1EA30A98 ",
                          "D40E0D993CAA-428F-9968-604B1EA30A98-", "G40E0D99-3CAA-428F-9968-604B1EA30A98",
                          "{D40E0D99-3CAA-428F-9968-604B1EA30A9}"})
    Refused(c, bad);
}
