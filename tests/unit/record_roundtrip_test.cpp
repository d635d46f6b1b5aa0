// The fixture generator's record encoder and the decoder agree: random layouts and values from a
// seed, encoded as SQL Server stores them, decoded and rendered back to the values that went in.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <charconv>
#include <cstdio>
#include <random>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/dump_json.h"
#include "sqltail/logreader/record_decoder.h"

using namespace sqltail;
using fixtures::ColumnValue;
using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

// Portable draws from mt19937_64 (std distributions differ between standard libraries).
struct Draw {
  std::mt19937_64 rng;
  uint64_t Below(uint64_t n) { return rng() % n; }
  bool Chance(int percent) { return Below(100) < static_cast<uint64_t>(percent); }
  int64_t Signed(int bits) {
    uint64_t v = rng();
    if (bits == 64) return static_cast<int64_t>(v);
    int64_t range = int64_t{1} << (bits - 1);
    return static_cast<int64_t>(v % static_cast<uint64_t>(2 * range)) - range;
  }
};

struct Column {
  ColumnLayout layout;
};

ColumnLayout MakeColumn(Draw& d, int index, int& fixed_offset, int& var_ordinal) {
  ColumnLayout c;
  c.name = "c" + std::to_string(index);
  c.column_id = index + 1;
  c.leaf_null_bit = index + 1;
  c.is_nullable = true;
  static const SqlType kTypes[] = {SqlType::kTinyInt, SqlType::kSmallInt, SqlType::kInt,      SqlType::kBigInt,
                                   SqlType::kDecimal, SqlType::kFloat,    SqlType::kDateTime, SqlType::kChar,
                                   SqlType::kVarChar, SqlType::kNVarChar, SqlType::kVarBinary};
  c.type = kTypes[d.Below(std::size(kTypes))];
  c.type_name = std::string(logreader::SqlTypeName(c.type));
  int size = 0;
  switch (c.type) {
    case SqlType::kTinyInt:
      size = 1;
      break;
    case SqlType::kSmallInt:
      size = 2;
      break;
    case SqlType::kInt:
      size = 4;
      break;
    case SqlType::kBigInt:
      size = 8;
      break;
    case SqlType::kFloat:
      size = 8;
      c.precision = 53;
      break;
    case SqlType::kDateTime:
      size = 8;
      break;
    case SqlType::kDecimal:
      c.precision = 1 + static_cast<int>(d.Below(38));
      c.scale = static_cast<int>(d.Below(static_cast<uint64_t>(c.precision) + 1));
      size = c.precision <= 9 ? 5 : c.precision <= 19 ? 9 : c.precision <= 28 ? 13 : 17;
      break;
    case SqlType::kChar:
      size = 1 + static_cast<int>(d.Below(20));
      break;
    case SqlType::kVarChar:
      c.max_length = 1 + static_cast<int>(d.Below(60));
      break;
    case SqlType::kNVarChar:
      c.max_length = 2 * (1 + static_cast<int>(d.Below(30)));
      break;
    case SqlType::kVarBinary:
      c.max_length = 1 + static_cast<int>(d.Below(40));
      break;
    default:
      break;
  }
  if (c.type == SqlType::kChar || c.type == SqlType::kVarChar) c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  if (c.type == SqlType::kNVarChar) c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  if (size > 0) {
    c.max_length = size;
    c.leaf_offset = fixed_offset;
    fixed_offset += size;
  } else {
    c.leaf_offset = -(++var_ordinal);
  }
  return c;
}

// A value for `c` and its canonical JSON rendering, computed without the decoder.
std::pair<ColumnValue, std::string> MakeValue(Draw& d, const ColumnLayout& c) {
  if (d.Chance(15)) return {fixtures::SqlNull{}, "null"};
  switch (c.type) {
    case SqlType::kTinyInt: {
      int64_t v = static_cast<int64_t>(d.Below(256));
      return {v, std::to_string(v)};
    }
    case SqlType::kSmallInt: {
      int64_t v = d.Signed(16);
      return {v, std::to_string(v)};
    }
    case SqlType::kInt: {
      int64_t v = d.Signed(32);
      return {v, std::to_string(v)};
    }
    case SqlType::kBigInt: {
      int64_t v = d.Signed(64);
      return {v, std::to_string(v)};
    }
    case SqlType::kFloat: {
      double v = static_cast<double>(d.Signed(40)) / 1024.0;
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      return {v, std::string(buf, end)};
    }
    case SqlType::kDateTime: {
      fixtures::SqlDateTime v(static_cast<int32_t>(d.Below(2958463)) - 53690,
                              static_cast<uint32_t>(d.Below(fixtures::SqlDateTime::kTicksPerDay)));
      return {v, "\"" + v.ToString() + "\""};
    }
    case SqlType::kDecimal: {
      std::string digits;
      int count = 1 + static_cast<int>(d.Below(static_cast<uint64_t>(c.precision)));
      for (int i = 0; i < count; ++i) digits.push_back(static_cast<char>('0' + d.Below(10)));
      while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
      while (static_cast<int>(digits.size()) <= c.scale) digits.insert(0, "0");
      std::string text = digits.substr(0, digits.size() - static_cast<size_t>(c.scale));
      if (c.scale > 0) text += "." + digits.substr(digits.size() - static_cast<size_t>(c.scale));
      bool zero = digits.find_first_not_of('0') == std::string::npos;
      if (!zero && d.Chance(50)) text = "-" + text;
      return {fixtures::SqlDecimal::Parse(text, c.scale), "\"" + text + "\""};
    }
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kNVarChar: {
      int max_chars = c.type == SqlType::kNVarChar ? c.max_length / 2 : c.max_length;
      size_t length = c.type == SqlType::kChar ? d.Below(static_cast<uint64_t>(max_chars) + 1)
                                               : d.Below(static_cast<uint64_t>(max_chars) + 1);
      std::string text;
      for (size_t i = 0; i < length; ++i) text.push_back(static_cast<char>(' ' + d.Below(95)));
      std::string shown = text;
      if (c.type == SqlType::kChar) shown.append(static_cast<size_t>(max_chars) - text.size(), ' ');
      std::string json;
      logreader::AppendJsonString(shown, json);
      return {c.type == SqlType::kChar ? shown : text, json};
    }
    case SqlType::kVarBinary: {
      fixtures::Bytes bytes(d.Below(static_cast<uint64_t>(c.max_length) + 1));
      std::string hex = "\"0x";
      for (auto& b : bytes) {
        b = static_cast<uint8_t>(d.Below(256));
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02X", b);
        hex += buf;
      }
      return {bytes, hex + "\""};
    }
    default:
      FAIL("type not covered");
      return {};
  }
}

}  // namespace

TEST_CASE("encoder and decoder agree on 5,000 random rows") {
  Draw d{std::mt19937_64(20261125)};
  logreader::DecodedRecord decoded;
  for (int round = 0; round < 5000; ++round) {
    logreader::TableLayout layout;
    layout.schema = "dbo";
    layout.table = "t";
    int fixed_offset = 4, var_ordinal = 0;
    int columns = 1 + static_cast<int>(d.Below(round % 100 == 0 ? 300 : 12));
    for (int i = 0; i < columns; ++i) layout.columns.push_back(MakeColumn(d, i, fixed_offset, var_ordinal));
    std::vector<ColumnValue> values;
    std::string expected = "{\"record_type\":\"primary\",\"columns\":{";
    for (int i = 0; i < columns; ++i) {
      auto [value, json] = MakeValue(d, layout.columns[static_cast<size_t>(i)]);
      values.push_back(std::move(value));
      if (i > 0) expected += ",";
      expected += "\"c" + std::to_string(i) + "\":" + json;
    }
    expected += "}}";
    fixtures::Bytes record;
    try {
      record = fixtures::EncodeFixedVarRecord(layout, values);
    } catch (const std::exception& e) {
      FAIL("encoder rejected round " << round << ": " << e.what());
    }
    logreader::DecodeError error;
    REQUIRE_MESSAGE(logreader::DecodeRecord(layout, record, decoded, error),
                    "round " << round << ": " << error.message << " at byte " << error.byte_offset);
    std::string json, render_error;
    REQUIRE_MESSAGE(logreader::DecodedRecordToJson(layout, decoded, json, render_error), render_error);
    CAPTURE(round);
    CHECK(json == expected);
  }
}
