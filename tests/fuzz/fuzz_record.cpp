// Fuzz target: the record decoder and value rendering. The first byte picks one of a few layouts
// (every type family, fixed and variable, bit packing, sparse-free), the rest is the record.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<TableLayout> layouts = MakeLayouts();
  static DecodedRecord decoded;
  if (size == 0) return 0;
  const TableLayout& layout = layouts[data[0] % layouts.size()];
  DecodeError error;
  if (!DecodeRecord(layout, std::span<const uint8_t>(data + 1, size - 1), decoded, error)) return 0;
  std::string json;
  for (size_t i = 0; i < layout.columns.size() && i < decoded.fields.size(); ++i) {
    (void)AppendCanonicalJson(layout.columns[i], decoded.fields[i], json);
  }
  return 0;
}
