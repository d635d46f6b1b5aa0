#include "sqltail/engine/value_text.h"

#include <charconv>

namespace sqltail::engine {

namespace {

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool ParseInt(std::string_view text, int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool ParseIsoTimeOfDay(std::string_view text, int64_t& nanos) {
  int64_t h, m, s;
  if (text.size() < 8 || text[2] != ':' || text[5] != ':' || !ParseInt(text.substr(0, 2), h) ||
      !ParseInt(text.substr(3, 2), m) || !ParseInt(text.substr(6, 2), s))
    return false;
  int64_t fraction = 0;
  if (text.size() > 8) {
    if (text[8] != '.' || text.size() > 18) return false;
    std::string_view digits = text.substr(9);
    if (digits.empty() || !ParseInt(digits, fraction)) return false;
    for (size_t i = digits.size(); i < 9; ++i) fraction *= 10;
  }
  nanos = ((h * 60 + m) * 60 + s) * 1000000000LL + fraction;
  return true;
}

bool ParseIsoDate(std::string_view text, int64_t& days) {
  int64_t y, m, d;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !ParseInt(text.substr(0, 4), y) ||
      !ParseInt(text.substr(5, 2), m) || !ParseInt(text.substr(8, 2), d))
    return false;
  days = DaysFromCivil(y, m, d);
  return true;
}

bool DecodeBase64(std::string_view text, std::string& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = Base64Value(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace sqltail::engine
