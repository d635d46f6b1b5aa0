// vardecimal and compressed-integer expansion for CD records (see cd_values.h).
#include "decode/cd_values.h"

#include <cstring>

namespace sqltail::logreader::decode {
namespace {

constexpr uint32_t kMaxDigits = 38;
constexpr uint32_t kMaxGroups = 14;  // 42 digits: more than any decimal(38) needs, with room for padding

}  // namespace

bool ReadCompressedInteger(const uint8_t* bytes, uint32_t length, int64_t& value) {
  if (length > 8) return false;
  if (length == 0) {
    value = 0;
    return true;
  }
  uint64_t unsigned_value = 0;
  for (uint32_t i = 0; i < length; ++i) unsigned_value = (unsigned_value << 8) | bytes[i];
  const uint64_t bias = uint64_t{1} << (8 * length - 1);
  value = static_cast<int64_t>(unsigned_value - bias);
  return true;
}

const char* ExpandVarDecimal(const uint8_t* bytes, uint32_t length, int precision, int scale, uint8_t* out,
                             uint32_t width) {
  if (width < 2 || width > 17) return "decimal column width is not 5, 9, 13 or 17 bytes";
  std::memset(out, 0, width);
  out[0] = 1;                       // positive
  if (length == 0) return nullptr;  // zero is stored without bytes
  const bool positive = (bytes[0] & 0x80) != 0;
  const int exponent = static_cast<int>(bytes[0] & 0x7F) - 64;
  const uint32_t mantissa_bits = (length - 1) * 8;
  const uint32_t groups = (mantissa_bits + 9) / 10;
  if (groups > kMaxGroups) return "vardecimal value has more digit groups than decimal(38) allows";
  // Digits of all groups, most significant first (three per group, zero-padded).
  uint8_t digits[kMaxGroups * 3];
  uint32_t digit_count = 0;
  for (uint32_t group = 0; group < groups; ++group) {
    uint32_t value = 0;
    for (uint32_t bit = 0; bit < 10; ++bit) {
      const uint32_t index = group * 10 + bit;
      uint32_t set = 0;
      if (index < mantissa_bits) set = (bytes[1 + index / 8] >> (7 - index % 8)) & 1;
      value = (value << 1) | set;
    }
    if (value > 999) return "vardecimal digit group above 999";
    digits[digit_count++] = static_cast<uint8_t>(value / 100);
    digits[digit_count++] = static_cast<uint8_t>(value / 10 % 10);
    digits[digit_count++] = static_cast<uint8_t>(value % 10);
  }
  uint32_t first = 0;
  while (first < digit_count && digits[first] == 0) ++first;
  if (first == digit_count) {
    out[0] = positive ? 1 : 0;
    return nullptr;  // an explicit zero mantissa
  }
  uint32_t last = digit_count;  // one past the last digit kept
  // value = D * 10^(exponent - (k - 1)) with D the digits [first, last) and k = last - first;
  // the stored integer is value * 10^scale.
  int shift = exponent - static_cast<int>(last - first - 1) + scale;
  while (shift < 0 && last > first && digits[last - 1] == 0) {
    --last;
    ++shift;
  }
  if (shift < 0) return "vardecimal value has more fraction digits than the column's scale";
  const uint32_t total_digits = (last - first) + static_cast<uint32_t>(shift);
  const uint32_t limit =
      precision > 0 && precision <= static_cast<int>(kMaxDigits) ? static_cast<uint32_t>(precision) : kMaxDigits;
  if (total_digits > limit) return "vardecimal value has more digits than the column's precision";
  unsigned __int128 integer = 0;
  for (uint32_t i = first; i < last; ++i) integer = integer * 10 + digits[i];
  for (int i = 0; i < shift; ++i) integer *= 10;
  for (uint32_t i = 1; i < width; ++i) {
    out[i] = static_cast<uint8_t>(integer);
    integer >>= 8;
  }
  if (integer != 0) return "vardecimal value does not fit the column's storage width";
  // [UNCONFIRMED] negative values: only the sign bit is known to differ (no real negative vector).
  out[0] = positive ? 1 : 0;
  return nullptr;
}

}  // namespace sqltail::logreader::decode
