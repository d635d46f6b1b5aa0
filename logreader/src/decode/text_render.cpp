// Text values as JSON strings: CP1252, UTF-8 and UTF-16LE sources, with JSON escaping.
#include <array>

#include "decode/value_render.h"

namespace sqltail::logreader::decode {
namespace {

// Windows-1252 0x80-0x9F. The five bytes Windows leaves undefined (81, 8D, 8F, 90, 9D) convert to the
// C1 control of the same value, as MultiByteToWideChar does for code page 1252.
constexpr std::array<char16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

void AppendUtf8(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// One code point inside a JSON string: quote, backslash and C0 controls escaped.
void AppendJsonCodePoint(char32_t code_point, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (code_point == '"') {
    out += "\\\"";
  } else if (code_point == '\\') {
    out += "\\\\";
  } else if (code_point < 0x20) {
    out += "\\u00";
    out += kHex[code_point >> 4];
    out += kHex[code_point & 0xF];
  } else {
    AppendUtf8(code_point, out);
  }
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

TextEncoding EncodingForCollation(std::string_view name) {
  auto ends_with_ignore_case = [&](std::string_view suffix) {
    if (name.size() < suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); ++i) {
      char c = name[name.size() - suffix.size() + i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (c != suffix[i]) return false;
    }
    return true;
  };
  if (ends_with_ignore_case("_UTF8")) return TextEncoding::kUtf8;
  // SQL_Latin1_General_CP1_* and the Windows Latin1_General_* collations use code page 1252.
  // (SQL_Latin1_General_CP1250_... does not match: the prefix ends with "CP1_".)
  if (name.starts_with("SQL_Latin1_General_CP1_") || name.starts_with("Latin1_General_")) {
    return TextEncoding::kCp1252;
  }
  return TextEncoding::kUnknown;
}

bool AppendJsonStringCp1252(const uint8_t* data, uint32_t size, std::string& out) {
  out += '"';
  for (uint32_t i = 0; i < size; ++i) {
    const uint8_t byte = data[i];
    const char32_t code_point = (byte >= 0x80 && byte <= 0x9F) ? kCp1252High[byte - 0x80] : byte;
    AppendJsonCodePoint(code_point, out);
  }
  out += '"';
  return true;
}

bool AppendJsonStringUtf8(const uint8_t* data, uint32_t size, std::string& out) {
  out += '"';
  uint32_t i = 0;
  while (i < size) {
    const uint8_t lead = data[i];
    char32_t code_point = 0;
    uint32_t length = 0;
    if (lead < 0x80) {
      code_point = lead;
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      code_point = lead & 0x1F;
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      code_point = lead & 0x0F;
      length = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      code_point = lead & 0x07;
      length = 4;
    } else {
      return false;
    }
    if (i + length > size) return false;
    for (uint32_t k = 1; k < length; ++k) {
      if (!IsContinuation(data[i + k])) return false;
      code_point = (code_point << 6) | (data[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((length == 3 && code_point < 0x800) || (length == 4 && (code_point < 0x10000 || code_point > 0x10FFFF)) ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    AppendJsonCodePoint(code_point, out);
    i += length;
  }
  out += '"';
  return true;
}

bool AppendJsonStringUtf16Le(const uint8_t* data, uint32_t size, std::string& out) {
  if (size % 2 != 0) return false;
  out += '"';
  for (uint32_t i = 0; i < size; i += 2) {
    const char32_t unit = static_cast<char32_t>(data[i] | (data[i + 1] << 8));
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (i + 4 > size) return false;
      const char32_t low = static_cast<char32_t>(data[i + 2] | (data[i + 3] << 8));
      if (low < 0xDC00 || low > 0xDFFF) return false;
      AppendJsonCodePoint(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), out);
      i += 2;
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      return false;
    } else {
      AppendJsonCodePoint(unit, out);
    }
  }
  out += '"';
  return true;
}

}  // namespace sqltail::logreader::decode
