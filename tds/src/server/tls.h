// The server side of TLS for the TDS server, on OpenSSL with memory BIOs: the session never touches
// the socket, so the caller decides how ciphertext travels (inside TDS PRELOGIN packets during the
// handshake, bare TLS records afterwards; [MS-TDS] 2.2.6.5, 3.3.5.2).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace sqltail::tds::tls {

// Any TLS failure: a bad certificate file, a failed handshake, a corrupt record.
struct TlsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The certificate and key a server presents. Load throws TlsError naming the file and OpenSSL's reason.
class Context {
 public:
  static std::shared_ptr<Context> Load(const std::string& cert_file, const std::string& key_file);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  struct Impl;

 private:
  Context();
  std::unique_ptr<Impl> impl_;
  friend class Session;
};

class Session {
 public:
  explicit Session(Context& context);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds handshake bytes from the client; appends what must go back to it to `out`. True once the
  // handshake is complete. On failure throws TlsError (after appending any alert to `out`, which the
  // caller should still send).
  bool Handshake(std::span<const uint8_t> in, std::vector<uint8_t>& out);

  // Decrypts: `in` is ciphertext from the socket (possibly none); returns up to `capacity` plaintext
  // bytes written to `buffer`, 0 when more ciphertext is needed. Throws TlsError on a corrupt record
  // and on the client's close_notify (as "closed").
  size_t Read(std::span<const uint8_t> in, uint8_t* buffer, size_t capacity);
  // True when decrypted bytes are buffered inside the session (no socket read needed for them).
  bool HasBufferedPlaintext() const;
  // Encrypts `plain` and appends the TLS records to `out`.
  void Write(std::span<const uint8_t> plain, std::vector<uint8_t>& out);

  // "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384" once the handshake is done.
  std::string Description() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// TLS record framing (RFC 5246 §6.2.1, RFC 8446 §5.1): content type, legacy version, 16-bit length.
constexpr size_t kRecordHeaderSize = 5;
// The largest ciphertext record: 2^14 plus 2048 bytes of expansion (RFC 5246 §6.2.3).
constexpr size_t kMaxRecordBody = 16384 + 2048;
// Checks a record header from an untrusted client; returns the body length, or throws TlsError.
size_t RecordBodyLength(const uint8_t header[kRecordHeaderSize]);

}  // namespace sqltail::tds::tls
