// Fuzz target: the record decoder and value rendering. The first byte picks one of a few layouts
// (every type family, fixed and variable, bit packing, sparse-free), the rest is the record.
// First bytes 0xF0..0xF4 select the compressed-record inputs: a row-compressed layout of every CD
// value type, a page-compressed layout against a CI of vector 18's header and anchor with a built
// dictionary, a fuzzed CI (2-byte length, CI, then the record), raw SCSU bytes (as an nvarchar long
// value) and raw binary XML (an xml value).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/page_compression.h"
#include "sqltail/logreader/record_decoder.h"

using namespace sqltail::logreader;

namespace {

ColumnLayout Col(const char* name, SqlType type, int max_length, int offset, int null_bit, int precision = 0,
                 int scale = 0, int bit = 0) {
  ColumnLayout c;
  c.name = name;
  c.type = type;
  c.type_name = std::string(SqlTypeName(type));
  c.max_length = max_length;
  c.leaf_offset = offset;
  c.leaf_null_bit = null_bit;
  c.precision = precision;
  c.scale = scale;
  c.leaf_bit_position = bit;
  if (type == SqlType::kChar || type == SqlType::kVarChar || type == SqlType::kNChar || type == SqlType::kNVarChar ||
      type == SqlType::kText || type == SqlType::kNText)
    c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  return c;
}

std::vector<TableLayout> MakeLayouts() {
  std::vector<TableLayout> layouts(4);
  layouts[0].columns = {Col("id", SqlType::kInt, 4, 4, 1), Col("text", SqlType::kVarChar, 100, -1, 2)};
  layouts[1].columns = {Col("a", SqlType::kBigInt, 8, 4, 1),
                        Col("b", SqlType::kDecimal, 17, 12, 2, 38, 10),
                        Col("c", SqlType::kDateTime2, 8, 29, 3, 27, 7),
                        Col("d", SqlType::kBit, 1, 37, 4, 0, 0, 0),
                        Col("e", SqlType::kBit, 1, 37, 5, 0, 0, 3),
                        Col("f", SqlType::kUniqueIdentifier, 16, 38, 6),
                        Col("g", SqlType::kNVarChar, 200, -1, 7),
                        Col("h", SqlType::kVarBinary, -1, -2, 8),
                        Col("i", SqlType::kSqlVariant, 8016, -3, 9)};
  layouts[2].columns = {Col("t", SqlType::kTime, 5, 4, 1, 16, 7), Col("o", SqlType::kDateTimeOffset, 10, 9, 2, 34, 7),
                        Col("m", SqlType::kMoney, 8, 19, 3),      Col("r", SqlType::kReal, 4, 27, 4),
                        Col("dt", SqlType::kDate, 3, 31, 5),      Col("sd", SqlType::kSmallDateTime, 4, 34, 6),
                        Col("x", SqlType::kText, 16, -1, 7),      Col("n", SqlType::kNChar, 20, 38, 8)};
  layouts[3] = layouts[1];
  layouts[3].compression = Compression::kRow;
  return layouts;
}

// Row compression: every value type the CD decoder expands (and some it refuses).
TableLayout MakeCdLayout() {
  TableLayout layout;
  layout.compression = Compression::kRow;
  layout.columns = {Col("n", SqlType::kNVarChar, 200, -1, 1),
                    Col("nc", SqlType::kNChar, 20, 4, 2),
                    Col("d", SqlType::kDecimal, 17, 24, 3, 38, 6),
                    Col("m", SqlType::kMoney, 8, 41, 4),
                    Col("sm", SqlType::kSmallMoney, 4, 49, 5),
                    Col("dt", SqlType::kDateTime, 8, 53, 6),
                    Col("b", SqlType::kBinary, 6, 61, 7),
                    Col("g", SqlType::kUniqueIdentifier, 16, 67, 8),
                    Col("x", SqlType::kXml, -1, -2, 9),
                    Col("c", SqlType::kChar, 10, 83, 10),
                    Col("nm", SqlType::kNVarChar, -1, -3, 11),
                    Col("f", SqlType::kFloat, 8, 93, 12),
                    Col("i", SqlType::kInt, 4, 101, 13),
                    Col("bit", SqlType::kBit, 1, 105, 14)};
  return layout;
}

TableLayout MakePageLayout() {
  TableLayout layout;
  layout.compression = Compression::kPage;
  layout.columns = {Col("c1", SqlType::kInt, 4, 4, 1),        Col("c2", SqlType::kInt, 4, 8, 2),
                    Col("c3", SqlType::kNVarChar, 40, -1, 3), Col("c4", SqlType::kDecimal, 9, 12, 4, 18, 2),
                    Col("c5", SqlType::kBigInt, 8, 21, 5),    Col("c6", SqlType::kChar, 4, 29, 6),
                    Col("c7", SqlType::kMoney, 8, 33, 7),     Col("c8", SqlType::kInt, 4, 41, 8),
                    Col("c9", SqlType::kVarBinary, 20, -2, 9)};
  return layout;
}

// Vector 18's real CI header and anchor record (as quoted in ../shared); the dictionary is built by
// BuildCi below.
constexpr const char* kVector18HeaderAnchor = "060f0023001b020109040428001883030081188b80a31e000000005380a31e00000000";

std::vector<uint8_t> Unhex(const char* hex) {
  std::vector<uint8_t> bytes;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; hex[i] != 0 && hex[i + 1] != 0; i += 2) {
    bytes.push_back(static_cast<uint8_t>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return bytes;
}

// Header and anchor + a made-up dictionary in the layout of vector 18 (2-byte count, 2-byte end
// offsets relative to the dictionary start, entries), the CI size (bytes 5-6) set to the total. The
// entries are those of tests/decoder/compressed_record_test.cpp: 0..63 = 02 (10+i) (anchor prefix 2 +
// one byte), 64..89 = 80 i 2A (3-byte compressed ints).
std::vector<uint8_t> BuildCi() {
  std::vector<uint8_t> ci = Unhex(kVector18HeaderAnchor);
  constexpr size_t kEntries = 90;
  auto put16 = [&](size_t value) {
    ci.push_back(static_cast<uint8_t>(value));
    ci.push_back(static_cast<uint8_t>(value >> 8));
  };
  put16(kEntries);
  size_t end = 2 + 2 * kEntries;
  for (size_t i = 0; i < kEntries; ++i) {
    end += i < 64 ? 2 : 3;
    put16(end);
  }
  for (size_t i = 0; i < kEntries; ++i) {
    const auto index = static_cast<uint8_t>(i);
    if (i < 64) {
      ci.insert(ci.end(), {0x02, static_cast<uint8_t>(0x10 + index)});
    } else {
      ci.insert(ci.end(), {0x80, index, 0x2A});
    }
  }
  ci[5] = static_cast<uint8_t>(ci.size());
  ci[6] = static_cast<uint8_t>(ci.size() >> 8);
  return ci;
}

void DecodeAndRender(const TableLayout& layout, std::span<const uint8_t> record, const PageCompressionInfo* ci) {
  static DecodedRecord decoded;
  DecodeError error;
  if (!DecodeRecord(layout, record, decoded, error, ci)) return;
  std::string json;
  for (size_t i = 0; i < layout.columns.size() && i < decoded.fields.size(); ++i) {
    (void)AppendCanonicalJson(layout.columns[i], decoded.fields[i], json);
  }
}

// One long value in a CD record: header 0x21, one column, code 0xA, long region with one entry.
std::vector<uint8_t> OneLongValue(std::span<const uint8_t> value) {
  const size_t size = value.size() & 0x7FFF;
  std::vector<uint8_t> record = {
      0x21, 0x01, 0x1A, 0x01, 0x01, 0x00, static_cast<uint8_t>(size), static_cast<uint8_t>(size >> 8)};
  record.insert(record.end(), value.begin(), value.begin() + static_cast<std::ptrdiff_t>(size));
  return record;
}

int CompressedInputs(uint8_t mode, std::span<const uint8_t> input) {
  static const TableLayout cd_layout = MakeCdLayout();
  static const TableLayout page_layout = MakePageLayout();
  static const PageCompressionInfo page_ci = [] {
    std::string error;
    return *ParsePageCompressionInfo(BuildCi(), error);
  }();
  switch (mode) {
    case 0:
      DecodeAndRender(cd_layout, input, nullptr);
      break;
    case 1:
      DecodeAndRender(page_layout, input, &page_ci);
      break;
    case 2: {
      if (input.size() < 2) break;
      const size_t ci_size = std::min<size_t>(input[0] | (input[1] << 8), input.size() - 2);
      std::string error;
      const auto ci = ParsePageCompressionInfo(input.subspan(2, ci_size), error);
      if (ci) DecodeAndRender(page_layout, input.subspan(2 + ci_size), &*ci);
      break;
    }
    case 3: {
      TableLayout layout;
      layout.compression = Compression::kRow;
      layout.columns = {Col("n", SqlType::kNVarChar, 8000, -1, 1)};
      DecodeAndRender(layout, OneLongValue(input), nullptr);
      break;
    }
    case 4: {
      ColumnLayout column = Col("x", SqlType::kXml, -1, -1, 1);
      std::string json;
      (void)AppendCanonicalJson(column,
                                FieldView{FieldState::kValue, input.data(), static_cast<uint32_t>(input.size())}, json);
      break;
    }
    default:
      break;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<TableLayout> layouts = MakeLayouts();
  static DecodedRecord decoded;
  if (size == 0) return 0;
  if (data[0] >= 0xF0)
    return CompressedInputs(static_cast<uint8_t>(data[0] - 0xF0), std::span<const uint8_t>(data + 1, size - 1));
  const TableLayout& layout = layouts[data[0] % layouts.size()];
  DecodeError error;
  if (!DecodeRecord(layout, std::span<const uint8_t>(data + 1, size - 1), decoded, error)) return 0;
  std::string json;
  for (size_t i = 0; i < layout.columns.size() && i < decoded.fields.size(); ++i) {
    (void)AppendCanonicalJson(layout.columns[i], decoded.fields[i], json);
  }
  return 0;
}
