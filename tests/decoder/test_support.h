// Helpers for decoder tests: hex, layouts, rendering a record, JSON comparison.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/logreader/record_decoder.h"

namespace sqltail::test {

std::vector<uint8_t> HexToBytes(std::string_view hex);  // accepts an optional 0x prefix

logreader::TableLayout LayoutFromJson(std::string_view json);  // fails the test on a bad layout

// {"record_type": ..., "columns": {...}} as logreader-dump prints it; false when a value does not render.
bool RenderRecordJson(const logreader::TableLayout& layout, const logreader::DecodedRecord& record, std::string& json,
                      std::string& failure);

// Compares two JSON documents value by value (numbers numerically, strings exactly); describes the
// first difference in `difference`.
bool JsonEquivalent(std::string_view actual, std::string_view expected, std::string& difference);

// One column for hand-built layouts.
logreader::ColumnLayout Column(std::string name, std::string type, int max_length, int leaf_offset, int null_bit);

// Renders one field of a one-column layout built from `column` and the stored bytes.
std::string RenderValue(const logreader::ColumnLayout& column, const std::vector<uint8_t>& bytes, bool& ok);

// Builds a FixedVar data record: status A from the parts present.
struct VarValue {
  std::vector<uint8_t> bytes;
  bool complex = false;
};
std::vector<uint8_t> BuildRecord(const std::vector<uint8_t>& fixed, uint16_t column_count,
                                 const std::vector<int>& null_bits, const std::vector<VarValue>& vars,
                                 uint8_t record_type = 0, bool with_bitmap = true);

}  // namespace sqltail::test
