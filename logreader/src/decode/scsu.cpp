// SCSU decoder written from Unicode Technical Standard #6 ("A Standard Compression Scheme for
// Unicode"): §5.1 single-byte mode tags, §5.2 Unicode mode tags, Table 2 (static windows), Table 3
// (initial dynamic windows), Table 4 (window offsets).
#include "decode/scsu.h"

namespace sqltail::logreader::decode {
namespace {

// UTS #6 Table 2: static windows, selected only by SQn for bytes 0x00..0x7F.
constexpr uint32_t kStaticWindows[8] = {0x0000, 0x0080, 0x0100, 0x0300, 0x2000, 0x2080, 0x2100, 0x3000};
// UTS #6 Table 3: dynamic windows at the start of every string.
constexpr uint32_t kInitialDynamicWindows[8] = {0x0080, 0x00C0, 0x0400, 0x0600, 0x0900, 0x3040, 0x30A0, 0xFF00};

// Single-byte mode tags (UTS #6 Table 5).
constexpr uint8_t kSQ0 = 0x01;  // SQ0..SQ7 = 0x01..0x08: quote one character from window n
constexpr uint8_t kSQ7 = 0x08;
constexpr uint8_t kSDX = 0x0B;  // define extended window (2 argument bytes)
constexpr uint8_t kSRS = 0x0C;  // reserved
constexpr uint8_t kSQU = 0x0E;  // quote one UTF-16 code unit (2 argument bytes)
constexpr uint8_t kSCU = 0x0F;  // change to Unicode mode
constexpr uint8_t kSC0 = 0x10;  // SC0..SC7 = 0x10..0x17: select dynamic window n
constexpr uint8_t kSD0 = 0x18;  // SD0..SD7 = 0x18..0x1F: define and select dynamic window n
// Unicode mode tags (UTS #6 Table 6): high byte of a pair in 0xE0..0xF2.
constexpr uint8_t kUC0 = 0xE0;  // UC0..UC7: select window n, back to single-byte mode
constexpr uint8_t kUD0 = 0xE8;  // UD0..UD7: define window n, back to single-byte mode
constexpr uint8_t kUQU = 0xF0;  // quote one code unit
constexpr uint8_t kUDX = 0xF1;  // define extended window, back to single-byte mode
constexpr uint8_t kURS = 0xF2;  // reserved

// UTS #6 Table 4: the offset a one-byte window definition selects; 0 means "reserved".
uint32_t WindowOffset(uint8_t x) {
  if (x >= 0x01 && x <= 0x67) return uint32_t{x} * 0x80;
  if (x >= 0x68 && x <= 0xA7) return uint32_t{x} * 0x80 + 0xAC00;
  switch (x) {
    case 0xF9:
      return 0x00C0;
    case 0xFA:
      return 0x0250;
    case 0xFB:
      return 0x0370;
    case 0xFC:
      return 0x0530;
    case 0xFD:
      return 0x3040;
    case 0xFE:
      return 0x30A0;
    case 0xFF:
      return 0xFF60;
    default:
      return 0;  // 0x00 and 0xA8..0xF8 are reserved
  }
}

class Writer {
 public:
  Writer(uint8_t* out, uint32_t capacity) : out_(out), capacity_(capacity) {}
  bool Unit(uint32_t unit) {
    if (size_ + 2 > capacity_) return false;
    out_[size_] = static_cast<uint8_t>(unit);
    out_[size_ + 1] = static_cast<uint8_t>(unit >> 8);
    size_ += 2;
    return true;
  }
  bool CodePoint(uint32_t code_point) {
    if (code_point < 0x10000) return Unit(code_point);
    if (code_point > 0x10FFFF) return false;
    const uint32_t v = code_point - 0x10000;
    return Unit(0xD800 + (v >> 10)) && Unit(0xDC00 + (v & 0x3FF));
  }
  uint32_t size() const { return size_; }

 private:
  uint8_t* out_;
  uint32_t capacity_;
  uint32_t size_ = 0;
};

ScsuResult Failed(uint32_t offset, const char* message) {
  ScsuResult result;
  result.error_offset = offset;
  result.error = message;
  return result;
}

}  // namespace

ScsuResult ScsuToUtf16Le(const uint8_t* in, uint32_t size, uint8_t* out, uint32_t capacity) {
  uint32_t windows[8];
  for (int i = 0; i < 8; ++i) windows[i] = kInitialDynamicWindows[i];
  uint32_t active = 0;
  bool unicode_mode = false;
  bool filler = false;
  Writer writer(out, capacity);
  constexpr const char* kOverflow = "SCSU value expands past the column's length";
  uint32_t i = 0;
  while (i < size) {
    const uint32_t at = i;
    const uint8_t byte = in[i++];
    if (!unicode_mode) {
      if (byte >= 0x80) {
        if (!writer.CodePoint(windows[active] + (byte - 0x80))) return Failed(at, kOverflow);
      } else if (byte >= 0x20 || byte == 0x00 || byte == 0x09 || byte == 0x0A || byte == 0x0D) {
        if (!writer.Unit(byte)) return Failed(at, kOverflow);
      } else if (byte >= kSQ0 && byte <= kSQ7) {
        if (i >= size) return Failed(at, "SCSU quote tag SQn without its argument byte");
        const uint8_t quoted = in[i++];
        const uint32_t window = byte - kSQ0;
        const uint32_t code_point = quoted < 0x80 ? kStaticWindows[window] + quoted : windows[window] + (quoted - 0x80);
        if (!writer.CodePoint(code_point)) return Failed(at, kOverflow);
      } else if (byte == kSDX) {
        if (i + 2 > size) return Failed(at, "SCSU tag SDX without its two argument bytes");
        const uint32_t argument = (uint32_t{in[i]} << 8) | in[i + 1];
        i += 2;
        active = argument >> 13;
        windows[active] = 0x10000 + ((argument & 0x1FFF) << 7);
      } else if (byte == kSQU) {
        if (i + 2 > size) return Failed(at, "SCSU tag SQU without its two argument bytes");
        if (!writer.Unit((uint32_t{in[i]} << 8) | in[i + 1])) return Failed(at, kOverflow);
        i += 2;
      } else if (byte == kSCU) {
        unicode_mode = true;
      } else if (byte >= kSC0 && byte < kSD0) {
        active = byte - kSC0;
      } else if (byte >= kSD0) {  // SD0..SD7 (byte < 0x20 here)
        if (i >= size) return Failed(at, "SCSU tag SDn without its argument byte");
        const uint32_t offset = WindowOffset(in[i++]);
        if (offset == 0) return Failed(at + 1, "SCSU window definition uses a reserved offset");
        active = byte - kSD0;
        windows[active] = offset;
      } else {  // 0x0C SRS
        (void)kSRS;
        return Failed(at, "SCSU reserved tag 0x0C");
      }
      continue;
    }
    // Unicode mode: big-endian UTF-16 pairs unless the high byte is a tag.
    if (byte >= kUC0 && byte <= kURS) {
      if (byte < kUD0) {
        active = byte - kUC0;
        unicode_mode = false;
      } else if (byte < kUQU) {
        if (i >= size) return Failed(at, "SCSU tag UDn without its argument byte");
        const uint32_t offset = WindowOffset(in[i++]);
        if (offset == 0) return Failed(at + 1, "SCSU window definition uses a reserved offset");
        active = byte - kUD0;
        windows[active] = offset;
        unicode_mode = false;
      } else if (byte == kUQU) {
        if (i + 2 > size) return Failed(at, "SCSU tag UQU without its two argument bytes");
        if (!writer.Unit((uint32_t{in[i]} << 8) | in[i + 1])) return Failed(at, kOverflow);
        i += 2;
      } else if (byte == kUDX) {
        if (i + 2 > size) return Failed(at, "SCSU tag UDX without its two argument bytes");
        const uint32_t argument = (uint32_t{in[i]} << 8) | in[i + 1];
        i += 2;
        active = argument >> 13;
        windows[active] = 0x10000 + ((argument & 0x1FFF) << 7);
        unicode_mode = false;
      } else {
        return Failed(at, "SCSU reserved tag UR (0xF2)");
      }
      continue;
    }
    if (i >= size) {
      // One lone final byte in Unicode mode. SQL Server keeps compressed values at an odd length
      // (so they differ from plain UTF-16, always even): the byte is taken as that filler.
      // [UNCONFIRMED] docs/architecture.md "Row compression".
      filler = true;
      break;
    }
    if (!writer.Unit((uint32_t{byte} << 8) | in[i++])) return Failed(at, kOverflow);
  }
  ScsuResult result;
  result.ok = true;
  result.size = writer.size();
  result.trailing_filler = filler;
  return result;
}

}  // namespace sqltail::logreader::decode
