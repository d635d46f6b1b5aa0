#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>
#include <cstdio>

namespace sqltail::tds::tls {

namespace {

// OpenSSL's error queue (per thread) as one line; "unknown" when it is empty.
std::string OpenSslReason() {
  std::string reason;
  while (unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!reason.empty()) reason += "; ";
    reason += text;
  }
  return reason.empty() ? "unknown reason" : reason;
}

void Drain(BIO* bio, std::vector<uint8_t>& out) {
  uint8_t chunk[4096];
  int n;
  while ((n = BIO_read(bio, chunk, sizeof chunk)) > 0) out.insert(out.end(), chunk, chunk + n);
}

void Feed(BIO* bio, std::span<const uint8_t> in) {
  while (!in.empty()) {
    const int n = BIO_write(bio, in.data(), static_cast<int>(std::min<size_t>(in.size(), INT_MAX)));
    if (n <= 0) throw TlsError("TLS: buffering ciphertext failed: " + OpenSslReason());
    in = in.subspan(static_cast<size_t>(n));
  }
}

}  // namespace

struct Context::Impl {
  SSL_CTX* ctx = nullptr;
  ~Impl() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
};

Context::Context() : impl_(std::make_unique<Impl>()) {}
Context::~Context() = default;

std::shared_ptr<Context> Context::Load(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  std::shared_ptr<Context> context(new Context());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw TlsError("TLS: cannot create a server context: " + OpenSslReason());
  context->impl_->ctx = ctx;
  // TLS 1.2 only. TDS 7.x carries the handshake inside PRELOGIN packets and switches to bare records
  // when it completes ([MS-TDS] 2.2.6.5, 3.2.5.2); a TLS 1.3 server sends NewSessionTicket messages
  // after its last handshake flight, which would land on the wrong side of that switch. SQL Server
  // offers TLS 1.3 only with TDS 8.0 ("strict", TLS before PRELOGIN) [assumed from Microsoft's TDS 8.0
  // pages; not checked against a server]. FreeTDS 1.3.17 (GnuTLS "NORMAL:-VERS-TLS1.0") accepts 1.2.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    throw TlsError("TLS: cannot load the certificate " + cert_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw TlsError("TLS: cannot load the private key " + key_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw TlsError("TLS: the key " + key_file + " does not match the certificate " + cert_file + ": " +
                   OpenSslReason());
  }
  return context;
}

struct Session::Impl {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // ciphertext from the client (owned by ssl)
  BIO* out = nullptr;  // ciphertext to the client (owned by ssl)
  ~Impl() {
    if (ssl != nullptr) SSL_free(ssl);
  }
};

Session::Session(Context& context) : impl_(std::make_unique<Impl>()) {
  ERR_clear_error();
  impl_->ssl = SSL_new(context.impl_->ctx);
  if (impl_->ssl == nullptr) throw TlsError("TLS: cannot create a session: " + OpenSslReason());
  impl_->in = BIO_new(BIO_s_mem());
  impl_->out = BIO_new(BIO_s_mem());
  if (impl_->in == nullptr || impl_->out == nullptr) {
    if (impl_->in != nullptr) BIO_free(impl_->in);
    if (impl_->out != nullptr) BIO_free(impl_->out);
    throw TlsError("TLS: cannot create memory buffers: " + OpenSslReason());
  }
  SSL_set_bio(impl_->ssl, impl_->in, impl_->out);
  SSL_set_accept_state(impl_->ssl);
}

Session::~Session() = default;

bool Session::Handshake(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  ERR_clear_error();
  Feed(impl_->in, in);
  const int rc = SSL_do_handshake(impl_->ssl);
  Drain(impl_->out, out);
  if (rc == 1) return true;
  const int error = SSL_get_error(impl_->ssl, rc);
  if (error == SSL_ERROR_WANT_READ) return false;
  throw TlsError("TLS handshake failed: " + OpenSslReason());
}

size_t Session::Read(std::span<const uint8_t> in, uint8_t* buffer, size_t capacity) {
  ERR_clear_error();
  Feed(impl_->in, in);
  const int rc = SSL_read(impl_->ssl, buffer, static_cast<int>(std::min<size_t>(capacity, INT_MAX)));
  // Whatever OpenSSL wants to say back here (an alert refusing renegotiation) is dropped: the
  // session ends with the error below or the client's next record.
  std::vector<uint8_t> ignored;
  Drain(impl_->out, ignored);
  if (rc > 0) return static_cast<size_t>(rc);
  const int error = SSL_get_error(impl_->ssl, rc);
  if (error == SSL_ERROR_WANT_READ) return 0;
  if (error == SSL_ERROR_ZERO_RETURN) throw TlsError("TLS: the client closed the TLS session (close_notify)");
  throw TlsError("TLS: cannot decrypt the client's data: " + OpenSslReason());
}

bool Session::HasBufferedPlaintext() const { return SSL_pending(impl_->ssl) > 0; }

void Session::Write(std::span<const uint8_t> plain, std::vector<uint8_t>& out) {
  ERR_clear_error();
  while (!plain.empty()) {
    const int n = SSL_write(impl_->ssl, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), 16384)));
    if (n <= 0) throw TlsError("TLS: cannot encrypt: " + OpenSslReason());
    plain = plain.subspan(static_cast<size_t>(n));
    Drain(impl_->out, out);
  }
}

std::string Session::Description() const {
  const char* version = SSL_get_version(impl_->ssl);
  const char* cipher = SSL_get_cipher_name(impl_->ssl);
  return std::string(version != nullptr ? version : "?") + " " + (cipher != nullptr ? cipher : "?");
}

size_t RecordBodyLength(const uint8_t h[kRecordHeaderSize]) {
  // Content types 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data; version 3.x.
  if (h[0] < 20 || h[0] > 23 || h[1] != 3) {
    char text[64];
    std::snprintf(text, sizeof text, "%02X %02X %02X", h[0], h[1], h[2]);
    throw TlsError(std::string("TLS: not a TLS record (header bytes ") + text + ")");
  }
  const size_t length = (static_cast<size_t>(h[3]) << 8) | h[4];
  if (length == 0 || length > kMaxRecordBody) {
    throw TlsError("TLS: record length " + std::to_string(length) + " outside 1.." + std::to_string(kMaxRecordBody));
  }
  return length;
}

}  // namespace sqltail::tds::tls
