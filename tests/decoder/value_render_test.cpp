// Per-type rendering, including range boundaries and invalid bytes.
#include <doctest/doctest.h>

#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

std::string Render(ColumnLayout column, std::string_view hex) {
  bool ok = false;
  std::string out = RenderValue(column, HexToBytes(hex), ok);
  return ok ? out : "<refused>";
}

ColumnLayout Typed(std::string type, int max_length, int precision = 0, int scale = 0) {
  ColumnLayout column = Column("c", std::move(type), max_length, 4, 1);
  column.precision = precision;
  column.scale = scale;
  return column;
}

ColumnLayout Text(std::string type, int max_length, std::string collation) {
  ColumnLayout column = Typed(std::move(type), max_length);
  column.collation_name = std::move(collation);
  return column;
}

}  // namespace

TEST_CASE("integers and bit") {
  CHECK(Render(Typed("tinyint", 1), "FF") == "255");
  CHECK(Render(Typed("smallint", 2), "0080") == "-32768");
  CHECK(Render(Typed("int", 4), "39300000") == "12345");
  CHECK(Render(Typed("int", 4), "FFFFFFFF") == "-1");
  CHECK(Render(Typed("bigint", 8), "0000000000000080") == "-9223372036854775808");
  CHECK(Render(Typed("bigint", 8), "F4A593850F000000") == "66665555444");
  CHECK(Render(Typed("int", 4), "393000") == "<refused>");
  CHECK(Render(Typed("bit", 1), "01") == "true");
  CHECK(Render(Typed("bit", 1), "00") == "false");
}

TEST_CASE("decimal and numeric: all storage sizes, negative, 38 digits") {
  CHECK(Render(Typed("decimal", 5, 5, 2), "00E2040000") == "\"-12.50\"");
  CHECK(Render(Typed("decimal", 5, 5, 2), "0105000000") == "\"0.05\"");
  CHECK(Render(Typed("numeric", 5, 9, 0), "01FFC99A3B") == "\"999999999\"");
  CHECK(Render(Typed("numeric", 5, 9, 0), "0100CA9A3B") == "<refused>");  // 10^9 exceeds precision 9
}

TEST_CASE("decimal 38 digits") {
  // 10^38 - 1 = 0x4B3B4CA85A86C47A098A223FFFFFFFFF
  const std::string max_magnitude = "FFFFFFFF3F228A097AC4865AA84C3B4B";
  CHECK(Render(Typed("decimal", 17, 38, 0), "01" + max_magnitude) == "\"99999999999999999999999999999999999999\"");
  CHECK(Render(Typed("decimal", 17, 38, 10), "00" + max_magnitude) == "\"-9999999999999999999999999999.9999999999\"");
  CHECK(Render(Typed("decimal", 17, 38, 38), "01" + max_magnitude) == "\"0.99999999999999999999999999999999999999\"");
  // 10^38 itself is out of range
  CHECK(Render(Typed("decimal", 17, 38, 0), "010000000040228A097AC4865AA84C3B4B") == "<refused>");
  CHECK(Render(Typed("decimal", 13, 28, 4), "01010000000000000000000000000000") == "<refused>");
  CHECK(Render(Typed("decimal", 13, 28, 4), "01010000000000000000000000") == "\"0.0001\"");
  CHECK(Render(Typed("decimal", 9, 19, 2), "02000000000000000000") == "<refused>");
  CHECK(Render(Typed("decimal", 9, 19, 2), "020000000000000000") == "<refused>");  // sign byte 2
}

TEST_CASE("money, real, float") {
  CHECK(Render(Typed("money", 8), "DC0C030000000000") == "\"19.9900\"");
  CHECK(Render(Typed("money", 8), "24F3FCFFFFFFFFFF") == "\"-19.9900\"");
  CHECK(Render(Typed("money", 8), "0000000000000080") == "\"-922337203685477.5808\"");
  CHECK(Render(Typed("smallmoney", 4), "01000000") == "\"0.0001\"");
  CHECK(Render(Typed("float", 8), "0000000000D07440") == "333");
  CHECK(Render(Typed("float", 8), "9A9999999999B93F") == "0.1");
  CHECK(Render(Typed("real", 4), "CDCCCC3D") == "0.1");
  CHECK(Render(Typed("float", 8), "000000000000F07F") == "<refused>");  // infinity
}

TEST_CASE("date, time, datetime2, datetimeoffset boundaries") {
  CHECK(Render(Typed("date", 3), "000000") == "\"0001-01-01\"");
  CHECK(Render(Typed("date", 3), "DAB937") == "\"9999-12-31\"");
  CHECK(Render(Typed("date", 3), "DBB937") == "<refused>");
  CHECK(Render(Typed("date", 3), "42240B") == "\"2000-02-29\"");  // 730122
  CHECK(Render(Typed("time", 5, 16, 7), "C0E3E2408D") == "\"16:51:07.9000000\"");
  CHECK(Render(Typed("time", 3, 8, 0), "7F5101") == "\"23:59:59\"");
  CHECK(Render(Typed("time", 3, 8, 0), "805101") == "<refused>");
  CHECK(Render(Typed("datetime2", 8, 27, 7), "C0E3E2408D40460B") == "\"2023-12-27T16:51:07.9000000\"");
  CHECK(Render(Typed("datetime2", 8, 27, 7), "FFBF692AC9DAB937") == "\"9999-12-31T23:59:59.9999999\"");
  CHECK(Render(Typed("datetime2", 8, 27, 7), "0000000000000000") == "\"0001-01-01T00:00:00.0000000\"");
  CHECK(Render(Typed("datetime2", 6, 19, 0), "000000000000") == "\"0001-01-01T00:00:00\"");
  // datetimeoffset(7): stored 2023-12-27 11:21:07.9 UTC, offset +05:30 -> local 16:51:07.9
  CHECK(Render(Typed("datetimeoffset", 10, 34, 7), "C0A72A275F40460B4A01") == "\"2023-12-27T16:51:07.9000000+05:30\"");
  CHECK(Render(Typed("datetimeoffset", 10, 34, 7), "C0E3E2408D40460B0000") == "\"2023-12-27T16:51:07.9000000+00:00\"");
  // offset -01:00 crossing midnight backwards: stored 0001-01-02 00:30 UTC -> 0001-01-01 23:30 -01:00
  CHECK(Render(Typed("datetimeoffset", 8, 26, 0), "080700010000C4FF") == "\"0001-01-01T23:30:00-01:00\"");
  CHECK(Render(Typed("datetimeoffset", 8, 26, 0), "000000000000C4FF") == "<refused>");  // local before 0001-01-01
}

TEST_CASE("datetime and smalldatetime") {
  CHECK(Render(Typed("datetime", 8, 23, 3), "912BA300B6A10000") == "\"2013-05-06T09:54:05.070\"");
  CHECK(Render(Typed("datetime", 8, 23, 3), "0100000000000000") == "\"1900-01-01T00:00:00.003\"");
  CHECK(Render(Typed("datetime", 8, 23, 3), "0200000000000000") == "\"1900-01-01T00:00:00.007\"");
  CHECK(Render(Typed("datetime", 8, 23, 3),
               "FF818B01"
               "462EFFFF") == "\"1753-01-01T23:59:59.997\"");
  CHECK(Render(Typed("datetime", 8, 23, 3),
               "FF818B01"
               "7F242D00") == "\"9999-12-31T23:59:59.997\"");
  CHECK(Render(Typed("datetime", 8, 23, 3), "00828B0100000000") == "<refused>");  // 25920000 ticks
  CHECK(Render(Typed("smalldatetime", 4), "67023595") == "\"2004-07-31T10:15:00\"");
}

TEST_CASE("uniqueidentifier, binary family") {
  CHECK(Render(Typed("uniqueidentifier", 16), "4AD0E1AA37C27449B4D5935247737718") ==
        "\"AAE1D04A-C237-4974-B4D5-935247737718\"");
  CHECK(Render(Typed("varbinary", 10), "00FFa1") == "\"0x00FFA1\"");
  CHECK(Render(Typed("varbinary", 10), "") == "\"0x\"");
  CHECK(Render(Typed("timestamp", 8), "00000000000007D1") == "\"0x00000000000007D1\"");
  CHECK(Render(Typed("hierarchyid", 892), "58") == "\"0x58\"");
  CHECK(Render(Typed("xml", -1), "4400") == "<refused>");
}

TEST_CASE("char/varchar code pages and JSON escaping") {
  const std::string latin1 = "SQL_Latin1_General_CP1_CI_AS";
  CHECK(Render(Text("char", 6, latin1), "414243202020") == "\"ABC   \"");
  CHECK(Render(Text("varchar", 10, "Latin1_General_CI_AS"), "80E9") == "\"\u20AC\u00E9\"");
  CHECK(Render(Text("varchar", 10, latin1), "8A9F81") == "\"\u0160\u0178\u0081\"");
  CHECK(Render(Text("varchar", 10, latin1), "225C0A0141") == "\"\\\"\\\\\\u000a\\u0001A\"");
  CHECK(Render(Text("varchar", 10, "Latin1_General_100_CI_AS_SC_UTF8"), "E282AC") == "\"\u20AC\"");
  CHECK(Render(Text("varchar", 10, "Latin1_General_100_CI_AS_SC_UTF8"), "E282") == "<refused>");
  CHECK(Render(Text("varchar", 10, "Cyrillic_General_CI_AS"), "41") == "<refused>");
  CHECK(Render(Text("varchar", 10, "SQL_Latin1_General_CP1250_CI_AS"), "41") == "<refused>");
  CHECK(Render(Typed("varchar", 10), "41") == "<refused>");  // no collation
  CHECK(Render(Text("text", 16, latin1), "6869") == "\"hi\"");
}

TEST_CASE("nchar/nvarchar UTF-16") {
  CHECK(Render(Typed("nvarchar", 20), "61006200") == "\"ab\"");
  CHECK(Render(Typed("nvarchar", 20), "3DD800DE") == "\"\U0001F600\"");
  CHECK(Render(Typed("nvarchar", 20), "3DD84100") == "<refused>");  // high surrogate without low
  CHECK(Render(Typed("nvarchar", 20), "00DE") == "<refused>");      // lone low surrogate
  CHECK(Render(Typed("nvarchar", 20), "610062") == "<refused>");    // odd byte count
  CHECK(Render(Typed("nchar", 6), "610020002000") == "\"a  \"");
  CHECK(Render(Typed("ntext", 16), "") == "\"\"");
}

TEST_CASE("sql_variant base types") {
  CHECK(Render(Typed("sql_variant", 8016), "380107000000") == "7");
  CHECK(Render(Typed("sql_variant", 8016), "380207000000") == "<refused>");  // version 2 unknown
  CHECK(Render(Typed("sql_variant", 8016), "6A01120201E204000000000000") == "\"12.50\"");
  CHECK(Render(Typed("sql_variant", 8016), "2A0107C0E3E2408D40460B") == "\"2023-12-27T16:51:07.9000000\"");
  CHECK(Render(Typed("sql_variant", 8016),
               "E7011400"
               "0904D00000"
               "61006200") == "\"ab\"");
  CHECK(Render(Typed("sql_variant", 8016),
               "A7010A00"
               "0904D00034"
               "6869") == "\"hi\"");
  CHECK(Render(Typed("sql_variant", 8016),
               "A7010A00"
               "1904D00000"
               "6869") == "<refused>");  // unknown code page
  CHECK(Render(Typed("sql_variant", 8016),
               "A5010A00"
               "00FF") == "\"0x00FF\"");
  CHECK(Render(Typed("sql_variant", 8016), "3D01912BA300B6A10000") == "\"2013-05-06T09:54:05.070\"");
  CHECK(Render(Typed("sql_variant", 8016), "24014AD0E1AA37C27449B4D5935247737718") ==
        "\"AAE1D04A-C237-4974-B4D5-935247737718\"");
  CHECK(Render(Typed("sql_variant", 8016), "F101") == "<refused>");
}

TEST_CASE("money and smallmoney limits, float extremes") {
  CHECK(Render(Typed("money", 8), "FFFFFFFFFFFFFF7F") == "\"922337203685477.5807\"");
  CHECK(Render(Typed("smallmoney", 4), "00000080") == "\"-214748.3648\"");
  CHECK(Render(Typed("smallmoney", 4), "FFFFFF7F") == "\"214748.3647\"");
  CHECK(Render(Typed("smallmoney", 4), "000000") == "<refused>");
  CHECK(Render(Typed("float", 8), "FFFFFFFFFFFFEF7F") == "1.7976931348623157e+308");
  CHECK(Render(Typed("float", 8), "0100000000000000") == "5e-324");
  CHECK(Render(Typed("real", 4), "FFFF7F7F") == "3.4028235e+38");
  CHECK(Render(Typed("float", 8), "000000000000F87F") == "<refused>");  // NaN
  CHECK(Render(Typed("real", 4), "0000C07F") == "<refused>");
}

TEST_CASE("time(0-7): the last unit of the day, and one past it") {
  // Storage is 3/4/5 bytes for scale 0-2/3-4/5-7 (reference 3.2).
  const char* last[8] = {"7F5101",   "FF2E0D",     "FFD583",     "FF5B2605",
                         "FF977F33", "FFEFFB0202", "FF5FD71D14", "FFBF692AC9"};
  const char* past[8] = {"805101",   "002F0D",     "00D683",     "005C2605",
                         "00987F33", "00F0FB0202", "0060D71D14", "00C0692AC9"};
  const char* text[8] = {"23:59:59",      "23:59:59.9",     "23:59:59.99",     "23:59:59.999",
                         "23:59:59.9999", "23:59:59.99999", "23:59:59.999999", "23:59:59.9999999"};
  for (int scale = 0; scale <= 7; ++scale) {
    const int size = scale <= 2 ? 3 : (scale <= 4 ? 4 : 5);
    INFO("time(" << scale << ")");
    CHECK(Render(Typed("time", size, 8 + scale + (scale > 0), scale), last[scale]) ==
          std::string("\"") + text[scale] + "\"");
    CHECK(Render(Typed("time", size, 8, scale), past[scale]) == "<refused>");
    // datetime2(n) is the time bytes then the 3-byte date.
    CHECK(Render(Typed("datetime2", size + 3, 19, scale), std::string(last[scale]) + "DAB937") ==
          std::string("\"9999-12-31T") + text[scale] + "\"");
  }
}

TEST_CASE("datetimeoffset: +-14:00 at both ends of the range") {
  // Stored UTC 9999-12-31 09:59:59.9999999 with +14:00 is the largest local value.
  CHECK(Render(Typed("datetimeoffset", 10, 34, 7), "FF0FACD153DAB9374803") == "\"9999-12-31T23:59:59.9999999+14:00\"");
  // Stored UTC 0001-01-01 14:00 with -14:00 is the smallest.
  CHECK(Render(Typed("datetimeoffset", 10, 34, 7), "00B0BD5875000000B8FC") == "\"0001-01-01T00:00:00.0000000-14:00\"");
  // 9999-12-31 23:00 UTC at +01:00 is past 9999-12-31 locally; 14:01 is not an offset.
  CHECK(Render(Typed("datetimeoffset", 10, 34, 7), "0058A5C8C0DAB9373C00") == "<refused>");
  CHECK(Render(Typed("datetimeoffset", 8, 26, 0), "000000E803004903") == "<refused>");
  CHECK(Render(Typed("datetimeoffset", 9, 34, 7), "FF0FACD153DAB93748") == "<refused>");  // short
}

TEST_CASE("datetime and smalldatetime limits") {
  CHECK(Render(Typed("datetime", 8, 23, 3), "00000000462EFFFF") == "\"1753-01-01T00:00:00.000\"");
  CHECK(Render(Typed("datetime", 8, 23, 3), "00000000452EFFFF") == "<refused>");                    // 1752-12-31
  CHECK(Render(Typed("datetime", 8, 23, 3), "0000000080242D00") == "<refused>");                    // 10000-01-01
  CHECK(Render(Typed("datetime", 8, 23, 3), "2B01000000000000") == "\"1900-01-01T00:00:00.997\"");  // 299 ticks
  CHECK(Render(Typed("datetime", 8, 23, 3), "2C01000000000000") == "\"1900-01-01T00:00:01.000\"");  // 300 ticks
  CHECK(Render(Typed("smalldatetime", 4), "00000000") == "\"1900-01-01T00:00:00\"");
  CHECK(Render(Typed("smalldatetime", 4), "9F05FFFF") == "\"2079-06-06T23:59:00\"");
  CHECK(Render(Typed("smalldatetime", 4), "A0050000") == "<refused>");  // minute 1440
}

TEST_CASE("sql_variant: the other base types") {
  const int v = 8016;
  CHECK(Render(Typed("sql_variant", v), "3001FF") == "255");
  CHECK(Render(Typed("sql_variant", v), "34010080") == "-32768");
  CHECK(Render(Typed("sql_variant", v), "7F010000000000000080") == "-9223372036854775808");
  CHECK(Render(Typed("sql_variant", v), "680101") == "true");
  CHECK(Render(Typed("sql_variant", v), "3C01DC0C030000000000") == "\"19.9900\"");
  CHECK(Render(Typed("sql_variant", v), "7A0124F3FCFF") == "\"-19.9900\"");
  CHECK(Render(Typed("sql_variant", v), "3E019A9999999999B93F") == "0.1");
  CHECK(Render(Typed("sql_variant", v), "3B01CDCCCC3D") == "0.1");
  CHECK(Render(Typed("sql_variant", v), "3A0167023595") == "\"2004-07-31T10:15:00\"");
  CHECK(Render(Typed("sql_variant", v), "280142240B") == "\"2000-02-29\"");
  CHECK(Render(Typed("sql_variant", v), "290103FF5B2605") == "\"23:59:59.999\"");
  CHECK(Render(Typed("sql_variant", v), "2B0100A39F0040460B4A01") == "\"2023-12-27T16:51:07+05:30\"");
  CHECK(Render(Typed("sql_variant", v), "6C01050200E2040000") == "\"-12.50\"");
  CHECK(Render(Typed("sql_variant", v), "AF0104000904D0003461622020") == "\"ab  \"");
  CHECK(Render(Typed("sql_variant", v), "EF0104000904D0003461006200") == "\"ab\"");
  CHECK(Render(Typed("sql_variant", v), "AD01030000FF10") == "\"0x00FF10\"");
  CHECK(Render(Typed("sql_variant", v), "AD01020000FF10") == "<refused>");  // value longer than its max length
  CHECK(Render(Typed("sql_variant", v), "2901") == "<refused>");            // scale property missing
  CHECK(Render(Typed("sql_variant", v), "300100FF") == "<refused>");        // tinyint of two bytes
}

TEST_CASE("field states: NULL, unavailable, off-row") {
  ColumnLayout column = Text("varchar", -1, "SQL_Latin1_General_CP1_CI_AS");
  std::string out;
  CHECK(AppendCanonicalJson(column, FieldView{FieldState::kNull, nullptr, 0}, out));
  CHECK(out == "null");
  out.clear();
  CHECK(AppendCanonicalJson(column, FieldView{FieldState::kUnavailable, nullptr, 0}, out));
  CHECK(out == "\"__sqltail_unavailable\"");
  const auto text_pointer = HexToBytes("000035F2000000001023000001000100");
  out.clear();
  CHECK(AppendCanonicalJson(column, FieldView{FieldState::kOffRow, text_pointer.data(), 16}, out));
  CHECK(out == R"({"off_row":{"kind":"text_pointer"}})");
  const auto unknown_root = HexToBytes("010000000100000023480000401F00004D03000001000000");
  out.clear();
  out.push_back('x');  // (not out = "x": GCC 12 -Wrestrict false positive at -O2)
  CHECK_FALSE(AppendCanonicalJson(
      column, FieldView{FieldState::kOffRow, unknown_root.data(), static_cast<uint32_t>(unknown_root.size())}, out));
  CHECK(out == "x");  // nothing appended on failure
}
