// SQL Server binary XML ([MS-BINXML]) to XML text: the subset untyped xml columns use (name and
// qname definitions, elements, attributes, UTF-16 text). Anything else is refused, never guessed.
#pragma once

#include <cstdint>
#include <string>

namespace sqltail::logreader::decode {

// Appends the XML text (UTF-8) of a binary XML value to `text`. On failure returns false and, when
// `error` is given, says which token at which byte offset is outside the subset or malformed.
bool BinaryXmlToText(const uint8_t* data, uint32_t size, std::string& text, std::string* error);

// The XML text as a JSON string (DESIGN.md: xml renders as a JSON string).
bool AppendBinaryXmlJson(const uint8_t* data, uint32_t size, std::string& out);

}  // namespace sqltail::logreader::decode
