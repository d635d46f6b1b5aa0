// TDS 7.4 wire pieces shared by the server and its tests: packet header, PRELOGIN, LOGIN7, UCS-2.
// Everything here takes untrusted bytes and bounds-checks every length.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sqltail::tds::wire {

enum PacketType : uint8_t {
  kSqlBatch = 0x01,
  kRpc = 0x03,
  kTabularResult = 0x04,
  kAttention = 0x06,
  kBulkLoad = 0x07,
  kTransactionManager = 0x0E,
  kLogin7 = 0x10,
  kSspi = 0x11,
  kPrelogin = 0x12,
};

constexpr size_t kHeaderSize = 8;
constexpr uint8_t kStatusEndOfMessage = 0x01;
constexpr uint32_t kMinPacketSize = 512;
constexpr uint32_t kMaxPacketSize = 32767;
constexpr uint32_t kDefaultPacketSize = 4096;

struct PacketHeader {
  uint8_t type = 0;
  uint8_t status = 0;
  uint16_t length = 0;  // including the header, big-endian on the wire
  uint16_t spid = 0;
  uint8_t packet_id = 0;
  uint8_t window = 0;
};

PacketHeader DecodeHeader(const uint8_t bytes[kHeaderSize]);
void EncodeHeader(const PacketHeader& header, uint8_t out[kHeaderSize]);

struct Login7 {
  uint32_t tds_version = 0;  // as sent, little-endian read: 0x74000004 for TDS 7.4
  uint32_t packet_size = 0;  // the client's request; 0 = server default
  std::string host_name;
  std::string user_name;
  std::string password;  // de-obfuscated
  std::string app_name;
  std::string server_name;
  std::string database;
};

// Parses a LOGIN7 payload (the bytes after the packet headers). nullopt with *why set on any
// inconsistency (length fields, offsets past the end, odd sizes).
std::optional<Login7> ParseLogin7(std::span<const uint8_t> payload, std::string* why);

// LOGIN7 obfuscates the password: each byte has its nibbles swapped and is then XORed with 0xA5.
void ObfuscatePassword(std::span<uint8_t> bytes);
void DeobfuscatePassword(std::span<uint8_t> bytes);

// Checks a PRELOGIN payload's option table (token, BE16 offset, BE16 length ... 0xFF) lies inside it.
bool ValidatePrelogin(std::span<const uint8_t> payload, std::string* why);
// The first data byte of PRELOGIN option `token` (0x01 ENCRYPTION, 0x04 MARS, ...) in a payload that
// ValidatePrelogin accepted; nullopt when the option is absent or has no data.
std::optional<uint8_t> PreloginOptionByte(std::span<const uint8_t> payload, uint8_t token);

// UCS-2/UTF-16LE -> UTF-8; unpaired surrogates become U+FFFD. An odd trailing byte is dropped.
std::string Utf16ToUtf8(std::span<const uint8_t> utf16le);
// UTF-8 -> UTF-16LE appended at out (which must have room for 2 * utf8.size() bytes); returns the
// number of bytes written. Invalid sequences become U+FFFD.
size_t Utf8ToUtf16(std::string_view utf8, uint8_t* out);

}  // namespace sqltail::tds::wire
