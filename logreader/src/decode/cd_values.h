// Value encodings of ROW/PAGE-compressed (CD) records that need more than a copy: vardecimal and
// the compressed integer form. Both expand into the uncompressed (FixedVar) bytes the renderer reads.
#pragma once

#include <cstdint>

namespace sqltail::logreader::decode {

// Compressed integer (reference §4): big-endian, minimal length, value = unsigned - 2^(8n-1); zero
// has no bytes. False when longer than 8 bytes.
bool ReadCompressedInteger(const uint8_t* bytes, uint32_t length, int64_t& value);

// vardecimal (reference §3.2; Microsoft "Row Compression Implementation": decimal/numeric use the
// vardecimal format): byte 0 = sign (bit 7, 1 = positive) | exponent + 64, then 10-bit groups of
// three decimal digits, most significant first, trailing zero bits not stored; the exponent is the
// power of ten of the first significant digit. Writes the FixedVar decimal form (1 sign byte +
// little-endian integer scaled by 10^scale) into `out[0..width)`. On failure returns a static message.
const char* ExpandVarDecimal(const uint8_t* bytes, uint32_t length, int precision, int scale, uint8_t* out,
                             uint32_t width);

}  // namespace sqltail::logreader::decode
