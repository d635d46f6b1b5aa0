// Canonical JSON rendering of stored values (DESIGN.md "Canonical value rendering"), shared by
// column rendering and sql_variant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sqltail/logreader/table_layout.h"

namespace sqltail::logreader::decode {

// How char/varchar/text bytes are encoded; unknown code pages are never guessed.
enum class TextEncoding : uint8_t { kUnknown, kCp1252, kUtf8 };

TextEncoding EncodingForCollation(std::string_view collation_name);

// What the renderer needs to know about a value's type.
struct ValueType {
  SqlType type = SqlType::kUnknown;
  int precision = 0;
  int scale = 0;
  int max_length = 0;
  TextEncoding encoding = TextEncoding::kUnknown;
};

// Renders the stored bytes of one value; false (maybe with partial output) when they are invalid.
bool AppendValueJson(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out);

// JSON strings from the three encodings; false on bytes that are not valid text.
bool AppendJsonStringCp1252(const uint8_t* data, uint32_t size, std::string& out);
bool AppendJsonStringUtf8(const uint8_t* data, uint32_t size, std::string& out);
bool AppendJsonStringUtf16Le(const uint8_t* data, uint32_t size, std::string& out);

// sql_variant: base type id, version, properties, value.
bool AppendSqlVariantJson(const uint8_t* data, uint32_t size, std::string& out);

// Metadata default (text form) rendered as the column's type.
bool AppendDefaultJson(const ColumnLayout& column, std::string_view text, std::string& out);

}  // namespace sqltail::logreader::decode
