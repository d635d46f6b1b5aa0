#include "sqltail/engine/row_checksum.h"

#include <charconv>

namespace sqltail::engine {

void RowChecksum::Mix(std::string_view tag, std::string_view bytes) {
  constexpr uint64_t kPrime = 1099511628211ull;
  for (char c : tag) hash_ = (hash_ ^ static_cast<uint8_t>(c)) * kPrime;
  // Length first, so ("ab","c") and ("a","bc") differ.
  uint64_t length = bytes.size();
  for (int i = 0; i < 8; ++i) hash_ = (hash_ ^ ((length >> (8 * i)) & 0xFF)) * kPrime;
  for (char c : bytes) hash_ = (hash_ ^ static_cast<uint8_t>(c)) * kPrime;
}

void RowChecksum::Integer(int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  Mix("i", std::string_view(buf, static_cast<size_t>(end - buf)));
}

void RowChecksum::Real(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  Mix("r", std::string_view(buf, static_cast<size_t>(end - buf)));
}

}  // namespace sqltail::engine
