// SCSU (Unicode Technical Standard #6) expansion to UTF-16LE: how ROW/PAGE compression stores
// nchar/nvarchar values (Microsoft "Unicode Compression Implementation"). Allocation-free.
#pragma once

#include <cstdint>

namespace sqltail::logreader::decode {

struct ScsuResult {
  bool ok = false;
  uint32_t size = 0;             // UTF-16LE bytes written
  uint32_t error_offset = 0;     // input byte where decoding failed
  const char* error = nullptr;   // static message when !ok
  bool trailing_filler = false;  // a lone final byte in Unicode mode was ignored (see scsu.cpp)
};

// Output needs at most 4 bytes per input byte (a window byte can yield a surrogate pair).
constexpr uint32_t ScsuMaxOutput(uint32_t input_size) { return 4 * input_size; }

// Decodes `size` SCSU bytes into UTF-16LE at `out` (capacity bytes). Fails on reserved tags,
// reserved window offsets, truncated arguments and output overflow; never reads or writes outside.
ScsuResult ScsuToUtf16Le(const uint8_t* in, uint32_t size, uint8_t* out, uint32_t capacity);

}  // namespace sqltail::logreader::decode
