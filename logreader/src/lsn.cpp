#include "sqltail/logreader/lsn.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace sqltail::logreader {
namespace {

bool ParseHex(std::string_view text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 16) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

bool ParseDec(std::string_view text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 10);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

bool IsAllHexDigits(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// Hex digit values, 0xFF for every other byte.
constexpr auto kHexValue = [] {
  std::array<uint8_t, 256> table{};
  table.fill(0xFF);
  for (int c = 0; c < 10; ++c) table['0' + c] = static_cast<uint8_t>(c);
  for (int c = 0; c < 6; ++c) table['a' + c] = table['A' + c] = static_cast<uint8_t>(10 + c);
  return table;
}();

// `n` hex digits at `p` into `out`; false on any other character.
bool FixedHex(const char* p, int n, uint32_t& out) {
  uint32_t value = 0;
  for (int i = 0; i < n; ++i) {
    const uint8_t digit = kHexValue[static_cast<unsigned char>(p[i])];
    if (digit == 0xFF) return false;
    value = (value << 4) | digit;
  }
  out = value;
  return true;
}

}  // namespace

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  // Fast path for fn_dblog's [Current LSN] (8:8:4 hex digits, one per log row); anything else, or
  // a non-hex digit, takes the general path below, which accepts the same texts the same way.
  if (text.size() == 22 && text[8] == ':' && text[17] == ':') {
    uint32_t vlf = 0, block = 0, slot = 0;
    if (FixedHex(text.data(), 8, vlf) && FixedHex(text.data() + 9, 8, block) && FixedHex(text.data() + 18, 4, slot))
      return Lsn(vlf, block, static_cast<uint16_t>(slot));
  }
  bool hex_prefix = text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (hex_prefix) text.remove_prefix(2);
  auto first = text.find(':');
  if (first != std::string_view::npos) {
    auto second = text.find(':', first + 1);
    if (second == std::string_view::npos || text.find(':', second + 1) != std::string_view::npos) return std::nullopt;
    std::string_view a = text.substr(0, first), b = text.substr(first + 1, second - first - 1),
                     c = text.substr(second + 1);
    uint64_t vlf = 0, block = 0, slot = 0;
    // The unprefixed colon form is hex only when it has fn_dblog's fixed widths (8:8:4);
    // otherwise it is the decimal form "26:59:1".
    bool hex = hex_prefix || (a.size() == 8 && b.size() == 8 && c.size() == 4 &&
                              IsAllHexDigits(text.substr(0, first)) && IsAllHexDigits(b) && IsAllHexDigits(c));
    bool ok = hex ? ParseHex(a, UINT32_MAX, vlf) && ParseHex(b, UINT32_MAX, block) && ParseHex(c, UINT16_MAX, slot)
                  : ParseDec(a, UINT32_MAX, vlf) && ParseDec(b, UINT32_MAX, block) && ParseDec(c, UINT16_MAX, slot);
    if (!ok) return std::nullopt;
    return Lsn(static_cast<uint32_t>(vlf), static_cast<uint32_t>(block), static_cast<uint16_t>(slot));
  }
  if (hex_prefix) {
    // binary(10): 4-byte VLF, 4-byte block, 2-byte slot, big-endian as SQL Server shows binary.
    if (text.size() != 20) return std::nullopt;
    uint64_t vlf = 0, block = 0, slot = 0;
    if (!ParseHex(text.substr(0, 8), UINT32_MAX, vlf) || !ParseHex(text.substr(8, 8), UINT32_MAX, block) ||
        !ParseHex(text.substr(16, 4), UINT16_MAX, slot))
      return std::nullopt;
    return Lsn(static_cast<uint32_t>(vlf), static_cast<uint32_t>(block), static_cast<uint16_t>(slot));
  }
  // numeric(25,0): vlf * 10^15 + block * 10^5 + slot. Up to 25 digits, so split the text instead of
  // parsing into one integer.
  if (text.empty() || text.size() > 25) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  std::string padded(25 - text.size(), '0');
  padded.append(text);
  uint64_t vlf = 0, block = 0, slot = 0;
  if (!ParseDec(std::string_view(padded).substr(0, 10), UINT32_MAX, vlf) ||
      !ParseDec(std::string_view(padded).substr(10, 10), UINT32_MAX, block) ||
      !ParseDec(std::string_view(padded).substr(20, 5), UINT16_MAX, slot))
    return std::nullopt;
  return Lsn(static_cast<uint32_t>(vlf), static_cast<uint32_t>(block), static_cast<uint16_t>(slot));
}

void Lsn::Format(char out[22]) const {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) out[i] = kDigits[(vlf_ >> (28 - 4 * i)) & 0xF];
  out[8] = ':';
  for (int i = 0; i < 8; ++i) out[9 + i] = kDigits[(block_ >> (28 - 4 * i)) & 0xF];
  out[17] = ':';
  for (int i = 0; i < 4; ++i) out[18 + i] = kDigits[(slot_ >> (12 - 4 * i)) & 0xF];
}

std::string Lsn::ToString() const {
  char buf[22];
  Format(buf);
  return std::string(buf, sizeof buf);
}

std::string Lsn::ToHexArgument() const { return "0x" + ToString(); }

std::string Lsn::ToDecimalColon() const {
  return std::to_string(vlf_) + ":" + std::to_string(block_) + ":" + std::to_string(slot_);
}

std::string Lsn::ToNumeric() const {
  char buf[32];
  int n;
  if (vlf_ == 0) {
    n = block_ == 0 ? std::snprintf(buf, sizeof buf, "%u", static_cast<unsigned>(slot_))
                    : std::snprintf(buf, sizeof buf, "%u%05u", block_, static_cast<unsigned>(slot_));
  } else {
    n = std::snprintf(buf, sizeof buf, "%u%010u%05u", vlf_, block_, static_cast<unsigned>(slot_));
  }
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace sqltail::logreader
