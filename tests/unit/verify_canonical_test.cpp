// verify's per-type normalisation: a source value in sqltail's canonical rendering and what each
// target stores for it (the Debezium conversion the encoder made) give the same canonical value; a
// changed value, a value of the wrong form and the modes' coarser units behave as documented.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/engine/verify_canonical.h"

#include <doctest/doctest.h>

#include <string>

using sqltail::engine::BinaryHandlingMode;
using sqltail::engine::ColumnCanonicaliser;
using sqltail::engine::DecimalHandlingMode;
using sqltail::engine::RowChecksum;
using sqltail::engine::StoredTypeModes;
using sqltail::engine::TimePrecisionMode;
using sqltail::engine::VerifyValue;
using sqltail::logreader::ColumnLayout;
using sqltail::logreader::SqlTypeFromName;

namespace {

ColumnCanonicaliser Column(const char* type, int scale = 0, StoredTypeModes modes = {}) {
  ColumnLayout c;
  c.name = "c";
  c.type_name = type;
  c.type = SqlTypeFromName(type);
  c.scale = scale;
  return ColumnCanonicaliser::ForColumn(c, modes);
}

VerifyValue Text(std::string_view text) { return {VerifyValue::Type::kText, false, 0, 0, text}; }
VerifyValue Bytes(std::string_view bytes) { return {VerifyValue::Type::kBytes, false, 0, 0, bytes}; }
VerifyValue Integer(int64_t value) { return {VerifyValue::Type::kInteger, false, value, 0, {}}; }
VerifyValue Real(double value) { return {VerifyValue::Type::kReal, false, 0, value, {}}; }
VerifyValue Bool(bool value) { return {VerifyValue::Type::kBool, value, 0, 0, {}}; }

// The source value and the stored one normalise alike.
void Same(const ColumnCanonicaliser& c, const VerifyValue& source, const VerifyValue& stored) {
  CHECK(c.compared());
  CHECK(c.Source(source) == c.Target(stored));
  CHECK(c.Source(source).tag != "x");
}
void Different(const ColumnCanonicaliser& c, const VerifyValue& source, const VerifyValue& stored) {
  CHECK_FALSE(c.Source(source) == c.Target(stored));
}

}  // namespace

TEST_CASE("date: ISO text and days since 1970-01-01") {
  auto c = Column("date");
  Same(c, Text("1970-01-02"), Integer(1));
  Same(c, Text("1966-03-04"), Integer(-1399));
  Same(c, Text("0001-01-01"), Integer(-719162));
  Same(c, Text("9999-12-31"), Integer(2932896));
  Different(c, Text("1970-01-02"), Integer(2));
  CHECK(c.note().empty());
}

TEST_CASE("datetime2: the stored unit of the scale, exactly") {
  auto ns = Column("datetime2", 7);
  Same(ns, Text("1999-10-18T16:09:18.7381878"), Integer(940262958738187800));
  Different(ns, Text("1999-10-18T16:09:18.7381878"), Integer(940262958738187801));
  Same(ns, Text("1960-01-01T00:00:00.0000001"), Integer(-315619199999999900));
  // Year 1 in nanoseconds does not fit the int64 the target stores: no stored value matches it.
  CHECK(ns.Source(Text("0001-01-01T00:00:00.0000000")).bytes == "-62135596800000000000");
  auto us = Column("datetime2", 5);
  Same(us, Text("2023-12-27T16:51:07.90001"), Integer(1703695867900010));
  auto ms = Column("datetime2", 3);
  Same(ms, Text("1982-09-03T18:29:04.645"), Integer(399925744645));
  Same(ms, Text("1969-12-31T23:59:59.999"), Integer(-1));
  CHECK(ns.note().empty());
}

TEST_CASE("datetime2 and time under time_precision_mode=connect: milliseconds, and said so") {
  StoredTypeModes connect;
  connect.time_precision_mode = TimePrecisionMode::kConnect;
  auto c = Column("datetime2", 7, connect);
  Same(c, Text("1999-10-18T16:09:18.7381878"), Integer(940262958738));
  CHECK(c.note().find("compared to the millisecond") == 0);
  CHECK(Column("datetime2", 3, connect).note().empty());
  auto t = Column("time", 7, connect);
  Same(t, Text("16:51:07.9000001"), Integer(60667900));
  CHECK_FALSE(t.note().empty());
}

TEST_CASE("datetime, smalldatetime, time: milliseconds or the time unit of the scale") {
  Same(Column("datetime", 3), Text("1996-07-31T00:00:00.003"), Integer(838771200003));
  Same(Column("smalldatetime"), Text("2004-07-31T10:15:00"), Integer(1091268900000));
  Same(Column("time", 7), Text("16:51:07.9000001"), Integer(60667900000100));
  Same(Column("time", 4), Text("16:51:07.9001"), Integer(60667900100));
  Same(Column("time", 0), Text("16:51:07"), Integer(60667000));
}

TEST_CASE("decimal and money: exact text at the column's scale") {
  auto c = Column("decimal", 2);
  Same(c, Text("-12.50"), Text("-12.50"));
  Same(c, Text("-12.50"), Text("-012.5"));
  Same(c, Text("0.00"), Text("-0.00"));
  Same(c, Text("7.00"), Integer(7));
  Different(c, Text("-12.50"), Text("12.50"));
  Different(c, Text("12.50"), Text("12.51"));
  Different(c, Text("12.50"), Text("12.501"));  // more digits than the scale holds: another value
  Different(c, Text("12.50"), Real(12.5));      // a decimal stored as a double is not exact
  auto money = Column("money", 0);              // money's scale is 4 whatever the catalog says
  Same(money, Text("4454567273.5188"), Text("4454567273.5188"));
  Different(money, Text("4454567273.5188"), Text("4454567273.5189"));
  CHECK(money.Source(Text("19.99")).bytes == "19.9900");
}

TEST_CASE("decimal under decimal_handling_mode double and string") {
  StoredTypeModes as_double;
  as_double.decimal_handling_mode = DecimalHandlingMode::kDouble;
  auto d = Column("decimal", 2, as_double);
  Same(d, Text("2720902574.81"), Real(2720902574.81));
  CHECK(d.note().find("compared as the nearest double") == 0);
  StoredTypeModes as_string;
  as_string.decimal_handling_mode = DecimalHandlingMode::kString;
  Same(Column("numeric", 1, as_string), Text("2849.2"), Text("2849.2"));
}

TEST_CASE("binary: raw bytes, whatever binary_handling_mode stored") {
  const std::string bytes("\x00\xFF\x10", 3);
  Same(Column("varbinary"), Text("0x00FF10"), Bytes(bytes));
  Different(Column("varbinary"), Text("0x00FF10"), Bytes(bytes.substr(0, 2)));
  Different(Column("varbinary"), Text("0x00FF10"), Text("0x00FF10"));  // bytes mode stores no text
  StoredTypeModes base64, hex;
  base64.binary_handling_mode = BinaryHandlingMode::kBase64;
  hex.binary_handling_mode = BinaryHandlingMode::kHex;
  Same(Column("binary", 0, base64), Text("0x00FF10"), Text("AP8Q"));
  Same(Column("image", 0, hex), Text("0x00FF10"), Text("00ff10"));
  Same(Column("varbinary"), Text("0x"), Bytes(""));
}

TEST_CASE("uniqueidentifier upper case; character types as they are") {
  Same(Column("uniqueidentifier"), Text("66FF8218-F1BC-F914-45C7-BFFE07A741DA"),
       Text("66ff8218-f1bc-f914-45c7-bffe07a741da"));
  Same(Column("nchar"), Text("ab  "), Text("ab  "));
  Different(Column("char"), Text("ab  "), Text("ab"));  // char keeps its padding
  Same(Column("datetimeoffset", 7), Text("2023-12-27T16:51:07.9000000+05:30"),
       Text("2023-12-27T16:51:07.9000000+05:30"));
}

TEST_CASE("bit, integers, floats") {
  Same(Column("bit"), Bool(true), Integer(1));    // SQLite
  Same(Column("bit"), Bool(false), Bool(false));  // PostgreSQL boolean
  Same(Column("bigint"), Integer(-5), Integer(-5));
  Different(Column("int"), Integer(5), Text("5"));
  Same(Column("float"), Integer(3), Real(3.0));  // a whole float renders as a JSON integer
  Same(Column("real"), Real(0.1), Real(0.1));
}

TEST_CASE("null on either side; malformed values match no well-formed one") {
  auto c = Column("date");
  Same(c, VerifyValue{}, VerifyValue{});
  Different(c, VerifyValue{}, Integer(0));
  CHECK(c.Source(Text("31/12/1999")).tag == "x");
  Different(c, Text("31/12/1999"), Integer(10956));
  CHECK(c.Target(Text("1999-12-31")).tag == "x");  // a target holding ISO text is not what the applier writes
}

TEST_CASE("types verify cannot compare exactly are left out and named") {
  auto variant = Column("sql_variant");
  CHECK_FALSE(variant.compared());
  CHECK(variant.note().find("not compared: ") == 0);
  CHECK_FALSE(Column("geography").compared());
  CHECK(Column("geography").note() == "not compared: sqltail has no canonical rendering of type geography");
}

TEST_CASE("untyped columns hash as RowChecksum's own renderings (no catalog)") {
  auto c = ColumnCanonicaliser::Untyped();
  RowChecksum via_canonical, direct;
  via_canonical.BeginRow();
  c.MixSource(Integer(5), via_canonical);
  c.MixTarget(Text("x"), via_canonical);
  c.MixSource(Real(1.5), via_canonical);
  c.MixTarget(VerifyValue{}, via_canonical);
  c.MixSource(Bool(true), via_canonical);
  via_canonical.EndRow();
  direct.BeginRow();
  direct.Integer(5);
  direct.Text("x");
  direct.Real(1.5);
  direct.Null();
  direct.Integer(1);
  direct.EndRow();
  CHECK(via_canonical.value() == direct.value());
}
