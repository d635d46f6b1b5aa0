#include "sqltail/tds/wire.h"

#include <cstring>

namespace sqltail::tds::wire {

namespace {

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t PutUtf16(uint8_t* out, uint32_t unit) {
  out[0] = static_cast<uint8_t>(unit);
  out[1] = static_cast<uint8_t>(unit >> 8);
  return 2;
}

}  // namespace

PacketHeader DecodeHeader(const uint8_t b[kHeaderSize]) {
  PacketHeader h;
  h.type = b[0];
  h.status = b[1];
  h.length = static_cast<uint16_t>((b[2] << 8) | b[3]);
  h.spid = static_cast<uint16_t>((b[4] << 8) | b[5]);
  h.packet_id = b[6];
  h.window = b[7];
  return h;
}

void EncodeHeader(const PacketHeader& h, uint8_t out[kHeaderSize]) {
  out[0] = h.type;
  out[1] = h.status;
  out[2] = static_cast<uint8_t>(h.length >> 8);
  out[3] = static_cast<uint8_t>(h.length);
  out[4] = static_cast<uint8_t>(h.spid >> 8);
  out[5] = static_cast<uint8_t>(h.spid);
  out[6] = h.packet_id;
  out[7] = h.window;
}

void ObfuscatePassword(std::span<uint8_t> bytes) {
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(((b << 4) | (b >> 4)) ^ 0xA5);
}

void DeobfuscatePassword(std::span<uint8_t> bytes) {
  for (uint8_t& b : bytes) {
    const uint8_t x = b ^ 0xA5;
    b = static_cast<uint8_t>((x << 4) | (x >> 4));
  }
}

std::optional<Login7> ParseLogin7(std::span<const uint8_t> payload, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<Login7> {
    if (why != nullptr) *why = "LOGIN7: " + std::move(reason);
    return std::nullopt;
  };
  // Fixed part up to and including ibAtchDBFile/cchAtchDBFile (TDS 7.0); 7.2+ adds 8 more bytes.
  constexpr size_t kFixedMin = 86;
  if (payload.size() < kFixedMin) return fail("payload of " + std::to_string(payload.size()) + " bytes is too short");
  const uint8_t* p = payload.data();
  const uint32_t declared = Le32(p);
  if (declared < kFixedMin || declared > payload.size()) {
    return fail("length field " + std::to_string(declared) + " does not fit the payload of " +
                std::to_string(payload.size()) + " bytes");
  }
  Login7 login;
  login.tds_version = Le32(p + 4);
  login.packet_size = Le32(p + 8);

  // Reads the (offset, character count) pair at `at` as UCS-2 text inside the declared length.
  bool ok = true;
  std::string error;
  auto text_at = [&](size_t at, const char* field, bool password) -> std::string {
    const size_t offset = Le16(p + at);
    const size_t chars = Le16(p + at + 2);
    if (chars == 0) return {};
    if (offset < kFixedMin || offset + chars * 2 > declared) {
      ok = false;
      error = std::string(field) + " (offset " + std::to_string(offset) + ", " + std::to_string(chars) +
              " characters) lies outside the " + std::to_string(declared) + "-byte message";
      return {};
    }
    if (!password) return Utf16ToUtf8(payload.subspan(offset, chars * 2));
    std::string clear(reinterpret_cast<const char*>(p + offset), chars * 2);
    DeobfuscatePassword({reinterpret_cast<uint8_t*>(clear.data()), clear.size()});
    return Utf16ToUtf8({reinterpret_cast<const uint8_t*>(clear.data()), clear.size()});
  };
  login.host_name = text_at(36, "HostName", false);
  login.user_name = text_at(40, "UserName", false);
  login.password = text_at(44, "Password", true);
  login.app_name = text_at(48, "AppName", false);
  login.server_name = text_at(52, "ServerName", false);
  login.database = text_at(68, "Database", false);
  if (!ok) return fail(error);
  return login;
}

bool ValidatePrelogin(std::span<const uint8_t> payload, std::string* why) {
  size_t at = 0;
  while (true) {
    if (at >= payload.size()) {
      if (why != nullptr) *why = "PRELOGIN: option table has no terminator";
      return false;
    }
    if (payload[at] == 0xFF) return true;
    if (at + 5 > payload.size()) {
      if (why != nullptr) *why = "PRELOGIN: option entry at byte " + std::to_string(at) + " is truncated";
      return false;
    }
    const size_t offset = static_cast<size_t>((payload[at + 1] << 8) | payload[at + 2]);
    const size_t length = static_cast<size_t>((payload[at + 3] << 8) | payload[at + 4]);
    if (offset + length > payload.size()) {
      if (why != nullptr) {
        *why = "PRELOGIN: option 0x" + std::to_string(payload[at]) + " data (offset " + std::to_string(offset) +
               ", length " + std::to_string(length) + ") lies outside the " + std::to_string(payload.size()) +
               "-byte message";
      }
      return false;
    }
    at += 5;
  }
}

std::optional<uint8_t> PreloginOptionByte(std::span<const uint8_t> payload, uint8_t token) {
  // Bounds are checked again here so that an unvalidated payload cannot read out of range either.
  for (size_t at = 0; at < payload.size() && payload[at] != 0xFF; at += 5) {
    if (at + 5 > payload.size()) return std::nullopt;
    const size_t offset = static_cast<size_t>((payload[at + 1] << 8) | payload[at + 2]);
    const size_t length = static_cast<size_t>((payload[at + 3] << 8) | payload[at + 4]);
    if (payload[at] != token) continue;
    if (length == 0 || offset + length > payload.size()) return std::nullopt;
    return payload[offset];
  }
  return std::nullopt;
}

std::string Utf16ToUtf8(std::span<const uint8_t> utf16le) {
  std::string out;
  out.reserve(utf16le.size() / 2);
  const size_t units = utf16le.size() / 2;
  for (size_t i = 0; i < units; ++i) {
    uint32_t u = Le16(utf16le.data() + 2 * i);
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (i + 1 < units) {
        const uint32_t low = Le16(utf16le.data() + 2 * (i + 1));
        if (low >= 0xDC00 && low <= 0xDFFF) {
          AppendUtf8(out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
          ++i;
          continue;
        }
      }
      u = 0xFFFD;
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      u = 0xFFFD;
    }
    AppendUtf8(out, u);
  }
  return out;
}

size_t Utf8ToUtf16(std::string_view utf8, uint8_t* out) {
  const auto* s = reinterpret_cast<const uint8_t*>(utf8.data());
  const size_t n = utf8.size();
  size_t i = 0;
  size_t w = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      out[w] = c;
      out[w + 1] = 0;
      w += 2;
      ++i;
      continue;
    }
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if ((c & 0xE0) == 0xC0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
      len = 2;
      if (cp < 0x80) cp = 0xFFFD;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
      cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
      len = 3;
      if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    } else if ((c & 0xF8) == 0xF0 && i + 3 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
               (s[i + 3] & 0xC0) == 0x80) {
      cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
      len = 4;
      if (cp < 0x10000 || cp > 0x10FFFF) cp = 0xFFFD;
    }
    i += len;
    if (cp >= 0x10000) {
      // 4 UTF-8 bytes -> 2 UTF-16 units (4 bytes), within the 2-bytes-per-input-byte budget.
      cp -= 0x10000;
      w += PutUtf16(out + w, 0xD800 + (cp >> 10));
      w += PutUtf16(out + w, 0xDC00 + (cp & 0x3FF));
    } else {
      w += PutUtf16(out + w, cp);
    }
  }
  return w;
}

}  // namespace sqltail::tds::wire
