// ROW/PAGE compression (CD records): SCSU Unicode, vardecimal, money, datetime, binary, GUID, the page
// CI structure (vector 18's real header and anchor, a dictionary built here) and page-compressed
// records against it. Byte strings are built by hand from the documented encodings (UTS #6 tables,
// reference/log-internals.md §3.2/§4) and explained where they appear; round trips use small encoders
// written here from the same rules.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "decode/cd_values.h"
#include "decode/scsu.h"
#include "sqltail/logreader/page_compression.h"
#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

std::string HexFromBytes(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string hex;
  for (uint8_t byte : bytes) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

// ---- SCSU -------------------------------------------------------------------------------------

std::u16string Scsu(std::string_view hex, bool* ok = nullptr, std::string* error = nullptr) {
  std::string compact;
  for (char c : hex) {
    if (c != ' ') compact.push_back(c);
  }
  const std::vector<uint8_t> in = HexToBytes(compact);
  std::vector<uint8_t> out(decode::ScsuMaxOutput(static_cast<uint32_t>(in.size())) + 1);
  const decode::ScsuResult result =
      decode::ScsuToUtf16Le(in.data(), static_cast<uint32_t>(in.size()), out.data(), static_cast<uint32_t>(out.size()));
  if (ok != nullptr) *ok = result.ok;
  if (error != nullptr && result.error != nullptr) *error = result.error;
  std::u16string text;
  for (uint32_t i = 0; i + 1 < result.size; i += 2) text.push_back(static_cast<char16_t>(out[i] | (out[i + 1] << 8)));
  return text;
}

std::vector<uint8_t> Utf16Le(const std::u16string& text) {
  std::vector<uint8_t> bytes;
  for (char16_t unit : text) {
    bytes.push_back(static_cast<uint8_t>(unit));
    bytes.push_back(static_cast<uint8_t>(unit >> 8));
  }
  return bytes;
}

// A simple, valid (not optimal) SCSU encoder written from UTS #6: ASCII as is; a character in the
// active window as one byte; a character below U+3400 defines window (n+1)%8 at its 128-block with
// SDn; runs of two or more other BMP characters go through Unicode mode (SCU ... UC0), a lone one
// or a code unit whose high byte would read as a Unicode-mode tag through SQU.
std::vector<uint8_t> ScsuEncode(const std::u16string& text) {
  std::vector<uint8_t> out;
  uint32_t windows[8] = {0x0080, 0x00C0, 0x0400, 0x0600, 0x0900, 0x3040, 0x30A0, 0xFF00};
  uint32_t active = 0;
  uint32_t next_window = 1;
  auto plain_bmp = [](char16_t unit) { return unit >= 0x3400 && (unit < 0xE000 || unit > 0xF2FF); };
  for (size_t i = 0; i < text.size(); ++i) {
    const char16_t unit = text[i];
    if (unit < 0x80 && (unit >= 0x20 || unit == 0 || unit == 9 || unit == 10 || unit == 13)) {
      out.push_back(static_cast<uint8_t>(unit));
    } else if (unit >= windows[active] && unit < windows[active] + 0x80) {
      out.push_back(static_cast<uint8_t>(0x80 + unit - windows[active]));
    } else if (unit >= 0x80 && unit < 0x3400) {
      active = next_window;
      next_window = (next_window + 1) % 8;
      windows[active] = unit & ~0x7Fu;
      out.push_back(static_cast<uint8_t>(0x18 + active));
      out.push_back(static_cast<uint8_t>(unit >> 7));
      out.push_back(static_cast<uint8_t>(0x80 + (unit & 0x7F)));
    } else if (plain_bmp(unit) && i + 1 < text.size() && plain_bmp(text[i + 1])) {
      out.push_back(0x0F);  // SCU
      while (i < text.size() && plain_bmp(text[i])) {
        out.push_back(static_cast<uint8_t>(text[i] >> 8));
        out.push_back(static_cast<uint8_t>(text[i]));
        ++i;
      }
      --i;
      out.push_back(static_cast<uint8_t>(0xE0 + active));  // UCn: back to single-byte mode
    } else {
      out.push_back(0x0E);  // SQU
      out.push_back(static_cast<uint8_t>(unit >> 8));
      out.push_back(static_cast<uint8_t>(unit));
    }
  }
  return out;
}

// ---- CD records -------------------------------------------------------------------------------

struct CdValue {
  uint8_t code;                // CD array nibble
  std::vector<uint8_t> bytes;  // short (code 2..9, 12) or long (code 10) value
};

// header 0x01 (| 0x20 with long values), column count (1 byte, or 2 bytes big-endian with the high
// bit set from 128 columns), nibbles low first (unused nibble 1 as observed), the short-data cluster
// array ((n-1)/30 bytes), short values in order, then the long region (header 0x01, count, end
// offsets, the long cluster array of (n-1)/30 bytes, data) - reference 4. The decoder skips both
// cluster arrays (values are in column order); what their bytes hold is written here as each
// 30-column cluster's short-data size, a guess that the decoder does not depend on.
std::vector<uint8_t> BuildCd(const std::vector<CdValue>& values) {
  bool has_long = false;
  for (const auto& value : values) has_long = has_long || value.code == 10;
  std::vector<uint8_t> out = {static_cast<uint8_t>(has_long ? 0x21 : 0x01)};
  if (values.size() >= 128) {
    out.push_back(static_cast<uint8_t>(0x80 | (values.size() >> 8)));
    out.push_back(static_cast<uint8_t>(values.size()));
  } else {
    out.push_back(static_cast<uint8_t>(values.size()));
  }
  for (size_t i = 0; i < values.size(); i += 2) {
    const uint8_t high = i + 1 < values.size() ? values[i + 1].code : 1;
    out.push_back(static_cast<uint8_t>(values[i].code | (high << 4)));
  }
  const size_t clusters = values.empty() ? 0 : (values.size() - 1) / 30;
  for (size_t cluster = 0; cluster < clusters; ++cluster) {
    size_t short_size = 0;
    for (size_t i = cluster * 30; i < cluster * 30 + 30; ++i) {
      if (values[i].code != 10) short_size += values[i].bytes.size();
    }
    out.push_back(static_cast<uint8_t>(short_size));
  }
  for (const auto& value : values) {
    if (value.code != 10) out.insert(out.end(), value.bytes.begin(), value.bytes.end());
  }
  if (has_long) {
    std::vector<uint8_t> data;
    std::vector<uint16_t> ends;
    for (const auto& value : values) {
      if (value.code != 10) continue;
      data.insert(data.end(), value.bytes.begin(), value.bytes.end());
      ends.push_back(static_cast<uint16_t>(data.size()));
    }
    out.push_back(0x01);
    out.push_back(static_cast<uint8_t>(ends.size()));
    out.push_back(static_cast<uint8_t>(ends.size() >> 8));
    for (uint16_t end : ends) {
      out.push_back(static_cast<uint8_t>(end));
      out.push_back(static_cast<uint8_t>(end >> 8));
    }
    out.insert(out.end(), clusters, 0);
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

CdValue Short(std::string_view hex) {
  auto bytes = HexToBytes(hex);
  return CdValue{static_cast<uint8_t>(bytes.empty() ? 1 : bytes.size() + 1), bytes};
}
CdValue Long(std::vector<uint8_t> bytes) { return CdValue{10, std::move(bytes)}; }
CdValue Symbol(uint8_t index) { return CdValue{12, {index}}; }
CdValue Null() { return CdValue{0, {}}; }

CdValue Stored(std::vector<uint8_t> bytes) {
  if (bytes.size() > 8) return Long(std::move(bytes));
  return CdValue{static_cast<uint8_t>(bytes.empty() ? 1 : bytes.size() + 1), std::move(bytes)};
}

ColumnLayout Typed(std::string name, std::string type, int max_length, int leaf_offset, int null_bit, int precision = 0,
                   int scale = 0) {
  ColumnLayout column = Column(std::move(name), std::move(type), max_length, leaf_offset, null_bit);
  column.precision = precision;
  column.scale = scale;
  column.column_id = null_bit;
  if (column.type == SqlType::kChar || column.type == SqlType::kVarChar || column.type == SqlType::kNChar ||
      column.type == SqlType::kNVarChar)
    column.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  return column;
}

bool DecodeJson(const TableLayout& layout, const std::vector<uint8_t>& bytes, std::string& json, std::string& error,
                const PageCompressionInfo* ci = nullptr) {
  DecodedRecord record;
  DecodeError decode_error;
  if (!DecodeRecord(layout, bytes, record, decode_error, ci)) {
    error = decode_error.message;
    return false;
  }
  return RenderRecordJson(layout, record, json, error);
}

void CheckRecord(const TableLayout& layout, const std::vector<uint8_t>& bytes, std::string_view expected_columns,
                 const PageCompressionInfo* ci = nullptr) {
  std::string json, error;
  const bool ok = DecodeJson(layout, bytes, json, error, ci);
  INFO(error);
  REQUIRE(ok);
  std::string difference;
  const std::string expected =
      std::string(R"({"record_type":"primary","columns":)") + std::string(expected_columns) + "}";
  INFO(json);
  INFO(difference);
  CHECK(JsonEquivalent(json, expected, difference));
}

std::string DecodeFailure(const TableLayout& layout, const std::vector<uint8_t>& bytes,
                          const PageCompressionInfo* ci = nullptr) {
  std::string json, error;
  if (DecodeJson(layout, bytes, json, error, ci)) return "<decoded: " + json + ">";
  return error;
}

TableLayout RowLayout(std::vector<ColumnLayout> columns) {
  TableLayout layout;
  layout.compression = Compression::kRow;
  layout.columns = std::move(columns);
  return layout;
}

// vardecimal encoder from the same rules: sign/exponent byte, 10-bit groups of three digits of the
// significant digits (trailing zero digits dropped), trailing zero bytes dropped.
std::vector<uint8_t> VarDecimal(bool positive, std::string digits, int exponent) {
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  while (digits.size() % 3 != 0) digits.push_back('0');
  std::vector<uint8_t> out = {static_cast<uint8_t>((positive ? 0x80 : 0) | (exponent + 64))};
  uint32_t accumulator = 0;
  int bits = 0;
  for (size_t i = 0; i < digits.size(); i += 3) {
    accumulator = (accumulator << 10) | static_cast<uint32_t>(std::stoi(digits.substr(i, 3)));
    bits += 10;
    while (bits >= 8) {
      out.push_back(static_cast<uint8_t>(accumulator >> (bits - 8)));
      bits -= 8;
    }
  }
  if (bits > 0) out.push_back(static_cast<uint8_t>(accumulator << (8 - bits)));
  while (out.size() > 1 && out.back() == 0) out.pop_back();
  return out;
}

// Vector 18 (../shared): the real CI header (flags 06 = anchor | dictionary, PageModCount 15,
// dictionary offset 35, CI size) and the real 28-byte anchor record, as quoted there. The real
// dictionary that follows them in vector 18 is not used; the tests build their own.
// Anchor: 01 (CD record) 09 (columns) | CD array 04 04 28 00 18 | 830300 | 81188b | 80a31e00000000 |
// 53 | 80a31e00000000.
constexpr std::string_view kVector18HeaderAnchor =
    "060f0023001b020109040428001883030081188b80a31e000000005380a31e00000000";

// A CI from a header + anchor and dictionary entries, in the layout vector 18 describes: at the
// dictionary offset a 2-byte entry count, one 2-byte end offset per entry (relative to the dictionary
// start), then the entries; bytes 5-6 (CI size) are set to the total.
std::vector<uint8_t> BuildCi(std::string_view header_anchor_hex, const std::vector<std::vector<uint8_t>>& entries) {
  std::vector<uint8_t> ci = HexToBytes(header_anchor_hex);
  auto put16 = [&](size_t value) {
    ci.push_back(static_cast<uint8_t>(value));
    ci.push_back(static_cast<uint8_t>(value >> 8));
  };
  put16(entries.size());
  size_t end = 2 + 2 * entries.size();
  for (const auto& entry : entries) {
    end += entry.size();
    put16(end);
  }
  for (const auto& entry : entries) ci.insert(ci.end(), entry.begin(), entry.end());
  ci[5] = static_cast<uint8_t>(ci.size());
  ci[6] = static_cast<uint8_t>(ci.size() >> 8);
  return ci;
}

// 90 entries made up for these tests: entries 0..63 are `02 (0x10 + i)` (anchor prefix length 2 +
// one suffix byte, meant for column 1 whose anchor value is 83 03 00), entries 64..89 are
// `80 i 2A` (3-byte compressed ints, meant for a column without an anchor value).
constexpr size_t kDictionaryEntries = 90;
std::vector<std::vector<uint8_t>> TestDictionary() {
  std::vector<std::vector<uint8_t>> entries;
  for (size_t i = 0; i < kDictionaryEntries; ++i) {
    const auto index = static_cast<uint8_t>(i);
    if (i < 64) {
      entries.push_back({0x02, static_cast<uint8_t>(0x10 + index)});
    } else {
      entries.push_back({0x80, index, 0x2A});
    }
  }
  return entries;
}

// Header and anchor of vector 18 + the test dictionary: 35 + 2 + 2 * 90 + 64 * 2 + 26 * 3 = 423 bytes.
std::vector<uint8_t> Vector18Ci() { return BuildCi(kVector18HeaderAnchor, TestDictionary()); }

}  // namespace

// ---- SCSU (UTS #6) -----------------------------------------------------------------------------

TEST_CASE("SCSU: the examples of UTS #6 section 9") {
  // 9.1 German "Öl fließt": Ö (U+00D6) and ß (U+00DF) fall in the initial dynamic window 0
  // (U+0080..U+00FF, Table 3), so each is 0x80 + (c - 0x80): D6, DF; the rest is ASCII.
  CHECK(Scsu("D6 6C 20 66 6C 69 65 DF 74") == u"\u00D6l flie\u00DFt");
  // 9.2 Russian "Москва": SC2 (0x12) selects dynamic window 2 (U+0400, Table 3); М = U+041C -> 0x9C,
  // о = U+043E -> 0xBE, с = U+0441 -> 0xC1, к = U+043A -> 0xBA, в = U+0432 -> 0xB2, а = U+0430 -> 0xB0.
  CHECK(Scsu("12 9C BE C1 BA B2 B0") == u"\u041C\u043E\u0441\u043A\u0432\u0430");
}

TEST_CASE("SCSU: every single-byte and Unicode mode tag") {
  // SQ0 + 0x41: static window 0 (U+0000) + 0x41 = 'A'; SQ1 + 0x30: static window 1 (U+0080) + 0x30 =
  // U+00B0; SQ2 + 0x85: dynamic window 2 (U+0400) + 5 = U+0405 (quotes do not change the active window).
  CHECK(Scsu("01 41 02 30 03 85 E9") == u"A\u00B0\u0405\u00E9");
  // SC5 (0x15) selects window 5 = U+3040 (Hiragana): 0x82 = U+3042; SC0 back to Latin-1.
  CHECK(Scsu("15 82 84 10 E9") == u"\u3042\u3044\u00E9");
  // SD3 (0x1B) + offset byte 0x08 (Table 4: 0x08 * 0x80 = U+0400): 0x91 = U+0411.
  CHECK(Scsu("1B 08 91") == u"\u0411");
  // SD1 + 0xF9 (Table 4 special: U+00C0), SD2 + 0xFB (U+0370), SD4 + 0xFF (U+FF60), SD0 + 0x68
  // (0x68 * 0x80 + 0xAC00 = U+E000).
  CHECK(Scsu("19 F9 80 1A FB B1 1C FF 81 18 68 80") == u"\u00C0\u03A1\uFF61\uE000");
  // SQU (0x0E) quotes one big-endian code unit: U+4E00.
  CHECK(Scsu("0E 4E 00 41") == u"\u4E00A");
  // SDX (0x0B) + 0x21EC: window 1 (high 3 bits) at 0x10000 + 0x1EC * 0x80 = U+1F600; 0x80 = U+1F600
  // written as the surrogate pair D83D DE00.
  CHECK(Scsu("0B 21 EC 80") == u"\U0001F600");
  // SCU (0x0F) then big-endian pairs; UC0 (0xE0) back to single-byte mode with window 0.
  CHECK(Scsu("0F 4E 00 4E 8C E0 E9") == u"\u4E00\u4E8C\u00E9");
  // Unicode mode: UQU (0xF0) quotes a pair whose high byte is a tag (U+E123); UD2 (0xEA) + 0x08
  // defines window 2 at U+0400 and returns to single-byte mode.
  CHECK(Scsu("0F F0 E1 23 EA 08 81") == u"\uE123\u0401");
  // Unicode mode: UDX (0xF1) + 0x21EC as SDX above.
  CHECK(Scsu("0F F1 21 EC 81") == u"\U0001F601");
  // Controls NUL, TAB, LF, CR pass through in single-byte mode.
  CHECK(Scsu("00 09 0A 0D") == std::u16string(u"\0\t\n\r", 4));
}

TEST_CASE("SCSU: reserved and truncated input is refused") {
  for (const char* hex : {"0C", "0F F2 00", "18 00", "18 A8", "18 F8", "01", "0E 41", "0B 41", "0F F0 41", "0F E8"}) {
    bool ok = true;
    std::string error;
    Scsu(hex, &ok, &error);
    INFO(hex);
    CHECK_FALSE(ok);
    CHECK_FALSE(error.empty());
  }
  // The output buffer is never overrun.
  std::vector<uint8_t> in = HexToBytes("414243");
  uint8_t out[4];
  CHECK_FALSE(decode::ScsuToUtf16Le(in.data(), 3, out, sizeof out).ok);
}

TEST_CASE("SCSU round trips: ASCII, Latin, Cyrillic, Greek, Kana, CJK, Hangul, astral") {
  const std::u16string samples[] = {u"Hello, world",
                                    u"Gr\u00FC\u00DFe aus K\u00F6ln",
                                    u"\u041F\u0440\u0438\u0432\u0435\u0442",
                                    u"\u039A\u03B1\u03BB\u03B7\u03BC\u03AD\u03C1\u03B1",
                                    u"\u3053\u3093\u306B\u3061\u306F",
                                    u"\u4E2D\u6587\u6D4B\u8BD5",
                                    u"\uD55C\uAD6D\uC5B4",
                                    u"smile \U0001F600!"};
  for (const auto& text : samples) CHECK(Scsu(HexFromBytes(ScsuEncode(text))) == text);
  std::mt19937 random(20261125);
  const char16_t alphabet[] = {u'a',   u'Z',   u' ',   u'7',   0x00E9, 0x00FC, 0x0416, 0x0436, 0x03A9, 0x05D0,
                               0x0E01, 0x3042, 0x30AB, 0x4E2D, 0x6587, 0xAC00, 0xD55C, 0x20AC, 0xFF21, 0xE123};
  for (int round = 0; round < 2000; ++round) {
    std::u16string text;
    const int length = static_cast<int>(random() % 24);
    for (int i = 0; i < length; ++i) text.push_back(alphabet[random() % (sizeof alphabet / sizeof alphabet[0])]);
    const std::vector<uint8_t> encoded = ScsuEncode(text);
    INFO(HexFromBytes(encoded));
    REQUIRE(Scsu(HexFromBytes(encoded)) == text);
  }
}

// ---- CD value types ----------------------------------------------------------------------------

TEST_CASE("CD nchar/nvarchar: SCSU when the length is odd, UTF-16LE when even, nchar padded") {
  TableLayout layout =
      RowLayout({Typed("n", "nvarchar", 100, -1, 1), Typed("f", "nchar", 16, 4, 2), Typed("m", "nvarchar", -1, -2, 3)});
  // n = "Gray" as SCSU plus SQL Server's odd-length filler SC0 (0x10): 47 72 61 79 10 (5 bytes);
  // f = "Öl" in SCSU (D6 6C) + filler 10, padded to nchar(8) with spaces;
  // m = nvarchar(max): never Unicode-compressed, "ab" as UTF-16LE 61 00 62 00.
  CheckRecord(layout, BuildCd({Short("4772617910"), Short("D66C10"), Short("61006200")}),
              R"({"n":"Gray","f":"Öl      ","m":"ab"})");
  // Even length: stored uncompressed (the compressed form was not smaller): "Cᴏʀʏ" as UTF-16LE.
  CheckRecord(layout, BuildCd({Long(HexToBytes("43000F1D80028F02")), Null(), Null()}),
              R"({"n":"Cᴏʀʏ","f":null,"m":null})");
  // Russian through SC2, 7 bytes (odd): no filler needed.
  CheckRecord(layout, BuildCd({Short("129CBEC1BAB2B0"), Short(""), Null()}),
              R"({"n":"Москва","f":"        ","m":null})");
  // nchar(2) (4 bytes) cannot hold three characters.
  TableLayout narrow = RowLayout({Typed("f", "nchar", 4, 4, 1)});
  CHECK(DecodeFailure(narrow, BuildCd({Short("616263")})).find("column f") != std::string::npos);
  // A reserved SCSU tag names the column.
  CHECK(DecodeFailure(layout, BuildCd({Short("410C41"), Null(), Null()})).find("(column n)") != std::string::npos);
}

// n int columns (value = column number, one compressed byte 0x80 + v below 128, NULL every 7th)
// and a varchar(100) last, long (more than 8 bytes) so the long region's cluster array is crossed.
void CheckWideCdRecord(int int_columns) {
  std::vector<ColumnLayout> columns;
  std::vector<CdValue> values;
  std::string expected = "{";
  for (int i = 1; i <= int_columns; ++i) {
    columns.push_back(Typed("c" + std::to_string(i), "int", 4, 4 * i, i));
    const bool null = i % 7 == 0;
    const int value = i % 100;
    values.push_back(null ? Null() : (value == 0 ? CdValue{1, {}} : CdValue{2, {static_cast<uint8_t>(0x80 + value)}}));
    expected += "\"c" + std::to_string(i) + "\":" + (null ? std::string("null") : std::to_string(value)) + ",";
  }
  columns.push_back(Typed("tail", "varchar", 100, -1, int_columns + 1));
  const std::string tail = "the last column, long data";
  values.push_back(Long(std::vector<uint8_t>(tail.begin(), tail.end())));
  expected += "\"tail\":\"" + tail + "\"}";
  CAPTURE(int_columns);
  const TableLayout layout = RowLayout(columns);
  const std::vector<uint8_t> record = BuildCd(values);
  CheckRecord(layout, record, expected);
  // Cut inside the short-data cluster array (right after the CD array): refused, naming where.
  const size_t count_size = values.size() >= 128 ? 2 : 1;
  const size_t cd_end = 1 + count_size + (values.size() + 1) / 2;
  std::vector<uint8_t> cut(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(cd_end));
  CHECK(DecodeFailure(layout, cut).find("cluster array") != std::string::npos);
}

TEST_CASE("CD records past 30 columns: cluster arrays, 2-byte column count") {
  CheckWideCdRecord(30);    // 31 columns: one cluster array byte in each region
  CheckWideCdRecord(59);    // 60 columns: still one ((60-1)/30)
  CheckWideCdRecord(60);    // 61 columns: two
  CheckWideCdRecord(200);   // 201 columns: 2-byte count (0x80C9), six cluster bytes
  CheckWideCdRecord(1023);  // 1,024 columns, the most a non-sparse table has
}

TEST_CASE("CD nvarchar round trips through the SCSU encoder") {
  std::mt19937 random(7);
  const char16_t alphabet[] = {u'x', u'Y', u'1', u' ', 0x00C4, 0x00F6, 0x0431, 0x3050, 0x4E00, 0x9FA5, 0xAC01};
  TableLayout layout = RowLayout({Typed("n", "nvarchar", 4000, -1, 1)});
  for (int round = 0; round < 500; ++round) {
    std::u16string text;
    const int length = 1 + static_cast<int>(random() % 30);
    for (int i = 0; i < length; ++i) text.push_back(alphabet[random() % (sizeof alphabet / sizeof alphabet[0])]);
    std::vector<uint8_t> stored = ScsuEncode(text);
    if (stored.size() % 2 == 0) stored.push_back(0x10);                 // the odd-length filler (SC0)
    if (stored.size() >= Utf16Le(text).size()) stored = Utf16Le(text);  // stored compressed only if smaller
    DecodedRecord record;
    DecodeError error;
    INFO(HexFromBytes(stored));
    const std::vector<uint8_t> bytes = BuildCd({Stored(stored)});  // the fields point into it
    REQUIRE(DecodeRecord(layout, bytes, record, error));
    const std::vector<uint8_t> expected = Utf16Le(text);
    REQUIRE(record.fields[0].size == expected.size());
    CHECK(std::memcmp(record.fields[0].data, expected.data(), expected.size()) == 0);
  }
}

TEST_CASE("CD decimal/numeric: vardecimal") {
  TableLayout layout = RowLayout({Typed("d", "decimal", 9, 4, 1, 10, 2), Typed("big", "numeric", 17, 13, 2, 38, 0),
                                  Typed("neg", "decimal", 5, 30, 3, 5, 3)});
  // d = 123.45: byte 0 = 0x80 (positive) | (2 + 64) = 0xC2 (first significant digit is 10^2); groups
  // 123 = 0001111011, 450 = 0111000010 -> bits 00011110 11011100 0010(0000) = 1E DC 20.
  // big = 0 (no bytes); neg = -0.5 in decimal(5,3): 0x00 | (-1 + 64) = 0x3F, group 500 = 0111110100 ->
  // 01111101 00(000000) = 7D 00, trailing zero byte dropped -> 3F 7D.
  CheckRecord(layout, BuildCd({Short("C21EDC20"), Short(""), Short("3F7D")}),
              R"({"d":"123.45","big":"0","neg":"-0.500"})");
  // 38 digits: 12345678901234567890123456789012345678 (exponent 37).
  CheckRecord(layout, BuildCd({Null(), Stored(VarDecimal(true, "12345678901234567890123456789012345678", 37)), Null()}),
              R"({"d":null,"big":"12345678901234567890123456789012345678","neg":null})");
  // More fraction digits than the scale, more digits than the precision, a group above 999.
  CHECK(DecodeFailure(layout, BuildCd({Stored(VarDecimal(true, "1234", 0)), Null(), Null()})).find("scale") !=
        std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Stored(VarDecimal(true, "1", 12)), Null(), Null()})).find("precision") !=
        std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Short("C2FFC0"), Null(), Null()})).find("(column d)") != std::string::npos);
}

TEST_CASE("CD vardecimal round trips from a seed") {
  std::mt19937_64 random(42);
  for (int round = 0; round < 3000; ++round) {
    const int precision = 1 + static_cast<int>(random() % 38);
    const int scale = static_cast<int>(random() % (precision + 1));
    const int width = precision <= 9 ? 5 : precision <= 19 ? 9 : precision <= 28 ? 13 : 17;
    std::string digits;
    const int count = 1 + static_cast<int>(random() % precision);
    for (int i = 0; i < count; ++i) digits.push_back(static_cast<char>('0' + random() % 10));
    while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
    const bool positive = random() % 2 == 0;
    // Expected rendering: the integer `digits` scaled by 10^-scale with exactly `scale` fraction digits.
    std::string padded =
        std::string(scale + 1 > static_cast<int>(digits.size()) ? scale + 1 - digits.size() : 0, '0') + digits;
    std::string expected = padded.substr(0, padded.size() - scale);
    if (scale > 0) expected += "." + padded.substr(padded.size() - scale);
    const bool zero = digits == "0";
    if (!positive && !zero) expected = "-" + expected;
    std::vector<uint8_t> stored;
    if (!zero) stored = VarDecimal(positive, digits, static_cast<int>(digits.size()) - 1 - scale);
    TableLayout layout = RowLayout({Typed("d", "decimal", width, 4, 1, precision, scale)});
    INFO(expected);
    INFO(HexFromBytes(stored));
    CheckRecord(layout, BuildCd({Stored(stored)}), "{\"d\":\"" + expected + "\"}");
  }
}

TEST_CASE("CD money, smallmoney, datetime, binary, uniqueidentifier") {
  TableLayout layout =
      RowLayout({Typed("m", "money", 8, 4, 1), Typed("s", "smallmoney", 4, 12, 2), Typed("dt", "datetime", 8, 16, 3),
                 Typed("b", "binary", 6, 24, 4), Typed("g", "uniqueidentifier", 16, 30, 5)});
  // m = 19.99 -> 199900 = 0x030CDC, 3 bytes biased by 2^23: 0x830CDC. s = -1.0000 -> -10000:
  // 2 bytes, 0x8000 - 10000 = 0x58F0. dt = 2004-07-31 10:15:00: days since 1900-01-01 = 38197 =
  // 0x9535 -> 3 bytes biased 0x809535 (2 bytes would only hold up to 32767), then 4 big-endian
  // ticks 10:15 = 36900 s * 300 = 11070000 = 0x00A8EA30. b = 0xC0FFEE with its trailing zeros dropped.
  // g stored as the 16 FixedVar bytes (long region).
  CheckRecord(layout,
              BuildCd({Short("830CDC"), Short("58F0"), Short("80953500A8EA30"), Short("C0FFEE"),
                       Long(HexToBytes("4AD0E1AA37C27449B4D5935247737718"))}),
              R"({"m":"19.9900","s":"-1.0000","dt":"2004-07-31T10:15:00.000","b":"0xC0FFEE000000",)"
              R"("g":"AAE1D04A-C237-4974-B4D5-935247737718"})");
  // Zero values take no bytes: money 0, datetime 1900-01-01, binary all zeros, GUID all zeros.
  CheckRecord(layout, BuildCd({Short(""), Short(""), Short(""), Short(""), Short("")}),
              R"({"m":"0.0000","s":"0.0000","dt":"1900-01-01T00:00:00.000","b":"0x000000000000",)"
              R"("g":"00000000-0000-0000-0000-000000000000"})");
  // datetime on 1900-01-01 stores the 4 time bytes only: 00:00:01 = 300 ticks = 0x0000012C.
  CheckRecord(layout, BuildCd({Null(), Null(), Short("0000012C"), Null(), Null()}),
              R"({"m":null,"s":null,"dt":"1900-01-01T00:00:01.000","b":null,"g":null})");
  // Undocumented shapes fail naming the column: a 2-byte datetime, a 7-byte binary(6), a 5-byte GUID.
  CHECK(DecodeFailure(layout, BuildCd({Null(), Null(), Short("0102"), Null(), Null()})).find("(column dt)") !=
        std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Null(), Null(), Null(), Short("01020304050607"), Null()})).find("(column b)") !=
        std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Null(), Null(), Null(), Null(), Short("0102030405")})).find("(column g)") !=
        std::string::npos);
  // smallmoney out of its 4-byte range (5 bytes is longer than the column).
  CHECK(DecodeFailure(layout, BuildCd({Null(), Short("FFFFFFFFFF"), Null(), Null(), Null()})).find("(column s)") !=
        std::string::npos);
}

TEST_CASE("CD types without a documented encoding fail with the column and type") {
  const char* types[][2] = {{"real", "4"},          {"float", "8"},         {"date", "3"},
                            {"time", "5"},          {"datetime2", "8"},     {"datetimeoffset", "10"},
                            {"smalldatetime", "4"}, {"sql_variant", "8016"}};
  for (const auto& type : types) {
    TableLayout layout = RowLayout({Typed("v", type[0], std::stoi(type[1]), 4, 1)});
    const std::string failure = DecodeFailure(layout, BuildCd({Short("0102")}));
    INFO(failure);
    CHECK(failure.find("(column v)") != std::string::npos);
    CHECK(failure.find(std::string("row-compressed ") + type[0]) != std::string::npos);
  }
}

// ---- PAGE compression: vector 18 ---------------------------------------------------------------

TEST_CASE("page CI: vector 18 header and anchor, test dictionary") {
  const std::vector<uint8_t> bytes = Vector18Ci();
  REQUIRE(bytes.size() == 423);
  std::string error;
  const auto ci = ParsePageCompressionInfo(bytes, error);
  INFO(error);
  REQUIRE(ci);
  CHECK(ci->HasAnchor());
  CHECK(ci->HasDictionary());
  CHECK(ci->page_mod_count == 15);
  CHECK(ci->size == 423);  // set by BuildCi (vector 18's own CI, with its real dictionary, is 539)
  CHECK(ci->dictionary_offset == 35);
  // DBCC: column 1 offset 7 length 3, 2 NULL, 3 offset 10 length 3, 4 NULL, 5 offset 13 length 7,
  // 6 offset 20 length 1, 7 and 8 NULL, 9 offset 21 length 7 (offsets in the anchor record, which
  // starts at CI byte 7).
  REQUIRE(ci->anchor.size() == 9);
  const int expected[9][2] = {{7, 3}, {-1, 0}, {10, 3}, {-1, 0}, {13, 7}, {20, 1}, {-1, 0}, {-1, 0}, {21, 7}};
  for (int i = 0; i < 9; ++i) {
    INFO("column " << i + 1);
    CHECK(ci->anchor[i].present == (expected[i][0] >= 0));
    if (expected[i][0] >= 0) {
      CHECK(ci->anchor[i].value.offset == static_cast<uint32_t>(7 + expected[i][0]));
      CHECK(ci->anchor[i].value.size == static_cast<uint32_t>(expected[i][1]));
    }
  }
  // Test dictionary (relative to its start at 35): count, 90 end offsets, so entry 0 at 2 + 2 * 90 =
  // 182, entry 1 at 184, entry 64 (the first 3-byte one) at 182 + 64 * 2 = 310, entry 73 at
  // 310 + 9 * 3 = 337, entry 89 at 310 + 25 * 3 = 385, ending at 388 = the end of the CI.
  REQUIRE(ci->dictionary.size() == kDictionaryEntries);
  CHECK(ci->dictionary[0].offset == 35 + 182);
  CHECK(ci->dictionary[0].size == 2);
  CHECK(ci->dictionary[1].offset == 35 + 184);
  CHECK(ci->dictionary[63].size == 2);
  CHECK(ci->dictionary[64].offset == 35 + 310);
  CHECK(ci->dictionary[64].size == 3);
  CHECK(ci->dictionary[73].offset == 35 + 337);
  CHECK(ci->dictionary[89].offset == 35 + 385);
  CHECK(ci->dictionary[89].offset + ci->dictionary[89].size == 423);
  CHECK(HexFromBytes({bytes.begin() + 35, bytes.begin() + 41}) == "5A00B800BA00");  // count 90, ends 184 and 186
  CHECK(HexFromBytes({bytes.begin() + 35 + 337, bytes.begin() + 35 + 340}) == "80492A");
}

TEST_CASE("page CI: truncated or inconsistent structures are refused") {
  const std::vector<uint8_t> bytes = Vector18Ci();
  std::string error;
  for (size_t cut : {size_t{0}, size_t{6}, size_t{20}, bytes.size() - 1}) {
    std::vector<uint8_t> shorter(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_FALSE(ParsePageCompressionInfo(shorter, error));
    CHECK(error.find("page compression info") != std::string::npos);
  }
  std::vector<uint8_t> bad = bytes;
  bad[3] = 0x10;  // dictionary offset 16: inside the anchor
  CHECK_FALSE(ParsePageCompressionInfo(bad, error));
  bad = bytes;
  bad[38] = 0xFF;  // first dictionary end offset (bytes 37-38) past the CI
  CHECK_FALSE(ParsePageCompressionInfo(bad, error));
  bad = bytes;
  bad[7] = 0x00;  // anchor record: header 0x00 is not a CD record
  CHECK_FALSE(ParsePageCompressionInfo(bad, error));
  bad = bytes;
  bad[8] = 0x00;  // anchor with 0 columns: it would end at byte 9, not where the dictionary starts
  CHECK_FALSE(ParsePageCompressionInfo(bad, error));
  CHECK(error.find("anchor record ends at byte 9") != std::string::npos);
  std::mt19937 random(18);
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> mutated = bytes;
    mutated[random() % 64] = static_cast<uint8_t>(random());
    const auto ci = ParsePageCompressionInfo(mutated, error);
    if (!ci) CHECK_FALSE(error.empty());
  }
}

TEST_CASE("page-compressed records against vector 18's anchor: dictionary symbols and anchor prefixes") {
  std::string error;
  const auto ci = ParsePageCompressionInfo(Vector18Ci(), error);
  REQUIRE(ci);
  TableLayout layout;
  layout.compression = Compression::kPage;
  layout.columns = {Typed("c1", "int", 4, 4, 1),  Typed("c2", "int", 4, 8, 2),     Typed("c3", "int", 4, 12, 3),
                    Typed("c4", "int", 4, 16, 4), Typed("c5", "bigint", 8, 20, 5), Typed("c6", "binary", 1, 28, 6),
                    Typed("c7", "int", 4, 29, 7), Typed("c8", "int", 4, 33, 8),    Typed("c9", "varbinary", 20, -1, 9)};
  // c1: symbol 0 -> entry 02 10: prefix 2 of c1's anchor 83 03 00 + suffix 10 = 83 03 10 ->
  //     0x830310 - 0x800000 = 0x030310 = 197392.
  // c2: symbol 73 (> 72, past the 2-byte entries) -> entry 80 49 2A; c2 has no anchor value, so no
  //     prefix: 0x80492A - 0x800000 = 18730.
  // c3: inline 02 99: prefix 2 of c3's anchor 81 18 8B + 99 = 81 18 99 -> 0x011899 = 71833.
  // c5: inline 07: the whole anchor 80 A3 1E 00 00 00 00 -> 0x80A31E00000000 - 2^55 = 0xA31E00000000.
  // c6: inline 00 41: prefix 0 + 41. c9: inline 03 FF: 80 A3 1E + FF.
  const std::vector<uint8_t> record = BuildCd(
      {Symbol(0), Symbol(73), Short("0299"), Null(), Short("07"), Short("0041"), Null(), Null(), Short("03FF")});
  CheckRecord(layout, record,
              R"({"c1":197392,"c2":18730,"c3":71833,"c4":null,"c5":179349244346368,"c6":"0x41","c7":null,)"
              R"("c8":null,"c9":"0x80A31EFF"})",
              &*ci);
  // Without the CI the page layout is refused; a symbol past the dictionary or a prefix longer than
  // the anchor names the column.
  CHECK(DecodeFailure(layout, record).find("compression information") != std::string::npos);
  TableLayout row_layout = layout;
  row_layout.compression = Compression::kRow;
  CHECK(DecodeFailure(row_layout, record).find("(column c1)") != std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Symbol(kDictionaryEntries)}), &*ci).find("(column c1)") != std::string::npos);
  CHECK(DecodeFailure(layout, BuildCd({Short("0405")}), &*ci).find("anchor prefix length 4") != std::string::npos);
}
