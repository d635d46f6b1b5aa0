// AppendCanonicalJson: field state -> canonical JSON (DESIGN.md "Canonical value rendering").
#include "decode/value_render.h"

#include "sqltail/logreader/record_decoder.h"

namespace sqltail::logreader {
namespace {

constexpr uint8_t kRowOverflowRootType = 2;
constexpr uint8_t kLobRootType = 4;
constexpr uint32_t kTextPointerSize = 16;
constexpr uint32_t kInlineRootBaseSize = 12;  // header before the 12-byte links
constexpr uint32_t kInlineRootLinkSize = 12;
constexpr uint32_t kInlineRootMaxSize = 72;

bool IsLobType(const ColumnLayout& column) {
  switch (column.type) {
    case SqlType::kText:
    case SqlType::kNText:
    case SqlType::kImage:
    case SqlType::kXml:
      return true;
    default:
      return column.max_length == -1;
  }
}

// In-row pointer kinds (reference §3.2, vector 16): a 16-byte text pointer for LOB types, or a
// 24..72-byte inline root whose first byte is 2 (row-overflow) or 4 (LOB root). Anything else is refused.
bool AppendOffRowJson(const ColumnLayout& column, const FieldView& field, std::string& out) {
  std::string_view kind;
  if (field.size == kTextPointerSize && IsLobType(column)) {
    kind = "text_pointer";
  } else if (field.size >= kInlineRootBaseSize + kInlineRootLinkSize && field.size <= kInlineRootMaxSize &&
             (field.size - kInlineRootBaseSize) % kInlineRootLinkSize == 0) {
    if (field.data[0] == kRowOverflowRootType) {
      kind = "row_overflow";
    } else if (field.data[0] == kLobRootType && IsLobType(column)) {
      kind = "lob_root";
    } else {
      return false;
    }
  } else {
    return false;
  }
  out += "{\"off_row\":{\"kind\":\"";
  out += kind;
  out += "\"}}";
  return true;
}

}  // namespace

bool AppendCanonicalJson(const ColumnLayout& column, const FieldView& field, std::string& out) {
  const size_t original_size = out.size();
  bool ok = false;
  switch (field.state) {
    case FieldState::kNull:
      out += "null";
      ok = true;
      break;
    case FieldState::kUnavailable:
      out += "\"__sqltail_unavailable\"";
      ok = true;
      break;
    case FieldState::kOffRow:
      ok = field.data != nullptr && AppendOffRowJson(column, field, out);
      break;
    case FieldState::kDefault:
      ok = column.default_value.has_value() && decode::AppendDefaultJson(column, *column.default_value, out);
      break;
    case FieldState::kValue: {
      if (field.data == nullptr && field.size != 0) break;
      static constexpr uint8_t kEmpty = 0;
      decode::ValueType type{column.type, column.precision, column.scale, column.max_length,
                             decode::TextEncoding::kUnknown};
      if (column.collation_name) type.encoding = decode::EncodingForCollation(*column.collation_name);
      ok = decode::AppendValueJson(type, field.data != nullptr ? field.data : &kEmpty, field.size, out);
      break;
    }
  }
  if (!ok) out.resize(original_size);
  return ok;
}

}  // namespace sqltail::logreader
