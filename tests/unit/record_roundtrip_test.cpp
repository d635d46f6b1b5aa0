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
    const int64_t range = int64_t{1} << (bits - 1);
    return static_cast<int64_t>(v % (uint64_t{1} << bits)) - range;  // bits < 64: no overflow
  }
};

struct Column {
  ColumnLayout layout;
};

// Civil date of `days` since 0001-01-01 (proleptic Gregorian), written out independently of the
// decoder: whole 400-, 100-, 4- and 1-year cycles, then the month.
std::string IsoDate(int64_t days) {
  int64_t year = 1;
  year += 400 * (days / 146097);
  days %= 146097;
  int64_t centuries = std::min<int64_t>(days / 36524, 3);
  year += 100 * centuries;
  days -= centuries * 36524;
  year += 4 * (days / 1461);
  days %= 1461;
  int64_t years = std::min<int64_t>(days / 365, 3);
  year += years;
  days -= years * 365;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int month_days[12] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int month = 0;
  while (days >= month_days[month]) days -= month_days[month++];
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(year), month + 1, static_cast<int>(days) + 1);
  return buf;
}

// hh:mm:ss[.f...] of `units` of 10^-scale s since midnight.
std::string TimeOfDay(uint64_t units, int scale) {
  uint64_t per_second = 1;
  for (int i = 0; i < scale; ++i) per_second *= 10;
  const uint64_t seconds = units / per_second;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", static_cast<int>(seconds / 3600),
                static_cast<int>(seconds / 60 % 60), static_cast<int>(seconds % 60));
  std::string text = buf;
  if (scale > 0) {
    std::string fraction = std::to_string(units % per_second);
    text += "." + std::string(static_cast<size_t>(scale) - fraction.size(), '0') + fraction;
  }
  return text;
}

std::string Hex(const fixtures::Bytes& bytes) {
  std::string hex;
  for (uint8_t b : bytes) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02X", b);
    hex += buf;
  }
  return hex;
}

ColumnLayout MakeColumn(Draw& d, int index, int& fixed_offset, int& var_ordinal, int& bit_byte, int& bits_in_byte) {
  ColumnLayout c;
  c.name = "c" + std::to_string(index);
  c.column_id = index + 1;
  c.leaf_null_bit = index + 1;
  c.is_nullable = true;
  static const SqlType kTypes[] = {
      SqlType::kTinyInt, SqlType::kSmallInt,         SqlType::kInt,    SqlType::kBigInt,
      SqlType::kDecimal, SqlType::kNumeric,          SqlType::kFloat,  SqlType::kReal,
      SqlType::kMoney,   SqlType::kDateTime,         SqlType::kDate,   SqlType::kDateTime2,
      SqlType::kBit,     SqlType::kUniqueIdentifier, SqlType::kChar,   SqlType::kVarChar,
      SqlType::kNChar,   SqlType::kNVarChar,         SqlType::kBinary, SqlType::kVarBinary};
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
    case SqlType::kReal:
      size = 4;
      c.precision = 24;
      break;
    case SqlType::kMoney:
      size = 8;
      c.precision = 19;
      c.scale = 4;
      break;
    case SqlType::kDate:
      size = 3;
      break;
    case SqlType::kDateTime2:
      c.scale = static_cast<int>(d.Below(8));
      size = (c.scale <= 2 ? 3 : c.scale <= 4 ? 4 : 5) + 3;
      break;
    case SqlType::kUniqueIdentifier:
      size = 16;
      break;
    case SqlType::kNChar:
      size = 2 * (1 + static_cast<int>(d.Below(15)));
      break;
    case SqlType::kBinary:
      size = 1 + static_cast<int>(d.Below(20));
      break;
    case SqlType::kBit:
      // Bits share bytes of the fixed part, eight to a byte (leaf_bit_position).
      if (bits_in_byte == 0) bit_byte = fixed_offset++;
      c.max_length = 1;
      c.leaf_offset = bit_byte;
      c.leaf_bit_position = bits_in_byte;
      bits_in_byte = (bits_in_byte + 1) % 8;
      return c;
    case SqlType::kDecimal:
    case SqlType::kNumeric:
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
  if (c.type == SqlType::kNVarChar || c.type == SqlType::kNChar) c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
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
    case SqlType::kReal: {
      const float v = static_cast<float>(d.Signed(20)) / 64.0f;  // exact in a float
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      return {static_cast<double>(v), std::string(buf, end)};
    }
    case SqlType::kMoney: {
      const int64_t v = d.Signed(63);  // value * 10000
      const uint64_t magnitude = v < 0 ? static_cast<uint64_t>(-v) : static_cast<uint64_t>(v);
      const std::string fraction = std::to_string(magnitude % 10000);
      return {v, "\"" + std::string(v < 0 ? "-" : "") + std::to_string(magnitude / 10000) + "." +
                     std::string(4 - fraction.size(), '0') + fraction + "\""};
    }
    case SqlType::kDate: {
      const int64_t days = static_cast<int64_t>(d.Below(3652059));
      return {days, "\"" + IsoDate(days) + "\""};
    }
    case SqlType::kDateTime2: {
      uint64_t per_day = 86400;
      for (int i = 0; i < c.scale; ++i) per_day *= 10;
      const uint64_t days = d.Below(3652059);
      const uint64_t units = d.Below(per_day);
      return {static_cast<int64_t>(days * per_day + units),
              "\"" + IsoDate(static_cast<int64_t>(days)) + "T" + TimeOfDay(units, c.scale) + "\""};
    }
    case SqlType::kBit: {
      const bool v = d.Chance(50);
      return {v, v ? "true" : "false"};
    }
    case SqlType::kUniqueIdentifier: {
      fixtures::Bytes bytes(16);
      for (auto& b : bytes) b = static_cast<uint8_t>(d.Below(256));
      std::string hex = Hex(bytes);
      for (size_t at : {8, 13, 18, 23}) hex.insert(at, "-");
      return {hex, "\"" + hex + "\""};
    }
    case SqlType::kNChar: {
      const size_t chars = static_cast<size_t>(c.max_length) / 2;
      std::string text;
      for (size_t i = d.Below(chars + 1); i > 0; --i) text.push_back(static_cast<char>(' ' + d.Below(95)));
      std::string shown = text + std::string(chars - text.size(), ' ');  // nchar(n) is space padded
      std::string json;
      logreader::AppendJsonString(shown, json);
      return {text, json};
    }
    case SqlType::kBinary: {
      fixtures::Bytes bytes(d.Below(static_cast<uint64_t>(c.max_length) + 1));
      for (auto& b : bytes) b = static_cast<uint8_t>(d.Below(256));
      fixtures::Bytes padded = bytes;
      padded.resize(static_cast<size_t>(c.max_length), 0);  // binary(n) is zero padded
      return {bytes, "\"0x" + Hex(padded) + "\""};
    }
    case SqlType::kDecimal:
    case SqlType::kNumeric: {
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

TEST_CASE("encoder and decoder agree on 5,000 random rows of 20 types") {
  Draw d{std::mt19937_64(20261125)};
  logreader::DecodedRecord decoded;
  for (int round = 0; round < 5000; ++round) {
    logreader::TableLayout layout;
    layout.schema = "dbo";
    layout.table = "t";
    int fixed_offset = 4, var_ordinal = 0, bit_byte = 0, bits_in_byte = 0;
    int columns = 1 + static_cast<int>(d.Below(round % 100 == 0 ? 300 : 12));
    for (int i = 0; i < columns; ++i)
      layout.columns.push_back(MakeColumn(d, i, fixed_offset, var_ordinal, bit_byte, bits_in_byte));
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
