// Metadata defaults (online ADD COLUMN): the layout carries them as text; render them as the column's
// type only when the text is unambiguous for that type.
#include <charconv>
#include <cmath>

#include "decode/value_render.h"

namespace sqltail::logreader::decode {
namespace {

bool ParseInteger(std::string_view text, int64_t min, int64_t max, std::string& out) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) return false;
  out += std::to_string(value);
  return true;
}

// "[-]digits[.digits]" re-rendered with exactly `scale` fraction digits; refuses to round.
bool ParseFixedPoint(std::string_view text, int precision, int scale, std::string& out) {
  std::string_view sign;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    if (text[0] == '-') sign = "-";
    text.remove_prefix(1);
  }
  const size_t point = text.find('.');
  std::string_view whole = text.substr(0, point);
  std::string_view fraction = point == std::string_view::npos ? std::string_view() : text.substr(point + 1);
  auto all_digits = [](std::string_view part) {
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  if (whole.empty() || !all_digits(whole) || !all_digits(fraction)) return false;
  if (point != std::string_view::npos && fraction.empty()) return false;
  while (whole.size() > 1 && whole[0] == '0') whole.remove_prefix(1);
  while (fraction.size() > static_cast<size_t>(scale)) {
    if (fraction.back() != '0') return false;  // more precision than the column holds
    fraction.remove_suffix(1);
  }
  if (static_cast<int>(whole.size()) > precision - scale && !(whole == "0")) return false;
  bool is_zero = whole == "0" && fraction.find_first_not_of('0') == std::string_view::npos;
  out += '"';
  if (!is_zero) out += sign;
  out += whole;
  if (scale > 0) {
    out += '.';
    out += fraction;
    out.append(static_cast<size_t>(scale) - fraction.size(), '0');
  }
  out += '"';
  return true;
}

void AppendJsonString(std::string_view text, std::string& out) {
  // Default texts come from the catalog as UTF-8.
  AppendJsonStringUtf8(reinterpret_cast<const uint8_t*>(text.data()), static_cast<uint32_t>(text.size()), out);
}

size_t CountCodePoints(std::string_view utf8) {
  size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

size_t CountUtf16Units(std::string_view utf8) {
  size_t count = 0;
  for (char c : utf8) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) != 0x80) count += byte >= 0xF0 ? 2 : 1;
  }
  return count;
}

bool IsValidUtf8(std::string_view text) {
  std::string scratch;
  return AppendJsonStringUtf8(reinterpret_cast<const uint8_t*>(text.data()), static_cast<uint32_t>(text.size()),
                              scratch);
}

bool IsGuidText(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool AppendDefaultJson(const ColumnLayout& column, std::string_view text, std::string& out) {
  switch (column.type) {
    case SqlType::kTinyInt:
      return ParseInteger(text, 0, 255, out);
    case SqlType::kSmallInt:
      return ParseInteger(text, INT16_MIN, INT16_MAX, out);
    case SqlType::kInt:
      return ParseInteger(text, INT32_MIN, INT32_MAX, out);
    case SqlType::kBigInt:
      return ParseInteger(text, INT64_MIN, INT64_MAX, out);
    case SqlType::kBit:
      if (text == "1" || text == "true") {
        out += "true";
      } else if (text == "0" || text == "false") {
        out += "false";
      } else {
        return false;
      }
      return true;
    case SqlType::kDecimal:
    case SqlType::kNumeric:
      return ParseFixedPoint(text, column.precision, column.scale, out);
    case SqlType::kMoney:
      return ParseFixedPoint(text, 19, 4, out);
    case SqlType::kSmallMoney:
      return ParseFixedPoint(text, 10, 4, out);
    case SqlType::kReal:
    case SqlType::kFloat: {
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return false;
      char rendered[64];
      auto result = column.type == SqlType::kReal
                        ? std::to_chars(rendered, rendered + sizeof rendered, static_cast<float>(value))
                        : std::to_chars(rendered, rendered + sizeof rendered, value);
      out.append(rendered, result.ptr);
      return true;
    }
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kText:
    case SqlType::kNChar:
    case SqlType::kNVarChar:
    case SqlType::kNText: {
      if (!IsValidUtf8(text)) return false;
      std::string padded(text);
      // char/nchar keep their padding, as a stored value would.
      if (column.type == SqlType::kChar) {
        const TextEncoding encoding = EncodingForCollation(column.collation_name.value_or(""));
        if (encoding == TextEncoding::kUnknown) return false;
        const size_t length = encoding == TextEncoding::kUtf8 ? padded.size() : CountCodePoints(padded);
        if (column.max_length > 0 && length < static_cast<size_t>(column.max_length)) {
          padded.append(static_cast<size_t>(column.max_length) - length, ' ');
        }
      } else if (column.type == SqlType::kNChar) {
        const size_t units = CountUtf16Units(padded);
        if (column.max_length > 0 && units < static_cast<size_t>(column.max_length / 2)) {
          padded.append(static_cast<size_t>(column.max_length / 2) - units, ' ');
        }
      }
      AppendJsonString(padded, out);
      return true;
    }
    case SqlType::kUniqueIdentifier: {
      if (!IsGuidText(text)) return false;
      out += '"';
      for (char c : text) out += (c >= 'a' && c <= 'f') ? static_cast<char>(c - 'a' + 'A') : c;
      out += '"';
      return true;
    }
    default:
      return false;  // dates, binary, ...: text forms vary; refuse rather than guess
  }
}

}  // namespace sqltail::logreader::decode
