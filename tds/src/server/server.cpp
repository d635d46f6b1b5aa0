#include "sqltail/tds/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "sqltail/tds/wire.h"
#include "tls.h"

namespace sqltail::tds {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// A client that breaks the protocol; the connection is closed with a log line naming why.
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct StatsCounters {
  std::atomic<uint64_t> plain{0};
  std::atomic<uint64_t> login_only_tls{0};
  std::atomic<uint64_t> full_tls{0};
  std::atomic<uint64_t> refused{0};
};

// A TLS handshake needs a few round trips and a few kilobytes (certificate chain included); a client
// that keeps going past these limits is not doing a handshake.
constexpr int kMaxHandshakeRounds = 8;
constexpr size_t kMaxHandshakeBytes = 256 * 1024;

void PutLe(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// B_VARCHAR: character count byte + UTF-16LE.
void PutBVarchar(std::vector<uint8_t>& out, std::string_view utf8) {
  std::vector<uint8_t> utf16(2 * utf8.size());
  size_t bytes = wire::Utf8ToUtf16(utf8, utf16.data());
  bytes = std::min<size_t>(bytes, 255 * 2);
  out.push_back(static_cast<uint8_t>(bytes / 2));
  out.insert(out.end(), utf16.begin(), utf16.begin() + static_cast<std::ptrdiff_t>(bytes));
}

void PutEnvChange(std::vector<uint8_t>& out, uint8_t type, std::string_view new_value, std::string_view old_value) {
  std::vector<uint8_t> body{type};
  PutBVarchar(body, new_value);
  PutBVarchar(body, old_value);
  out.push_back(0xE3);
  PutLe(out, body.size(), 2);
  out.insert(out.end(), body.begin(), body.end());
}

class Session final : public PacketSink {
 public:
  Session(tcp::socket socket, const ServerOptions& options, BatchHandler& handler, uint16_t spid,
          std::shared_ptr<tls::Context> tls_context, StatsCounters& stats)
      : socket_(std::move(socket)),
        options_(options),
        handler_(handler),
        spid_(spid),
        tls_context_(std::move(tls_context)),
        stats_(stats) {
    boost::system::error_code ec;
    auto endpoint = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    socket_.set_option(tcp::no_delay(true), ec);
  }

  void Run() {
    try {
      Serve();
    } catch (const ProtocolError& e) {
      spdlog::warn("tds-server: closing connection from {} (spid {}): {}", peer_, spid_, e.what());
    } catch (const tls::TlsError& e) {
      spdlog::warn("tds-server: closing connection from {} (spid {}): {}", peer_, spid_, e.what());
    } catch (const boost::system::system_error& e) {
      // The client went away mid-reply, or Stop() shut the socket.
      spdlog::debug("tds-server: connection from {} (spid {}) ended: {}", peer_, spid_, e.what());
    } catch (const std::exception& e) {
      spdlog::error("tds-server: connection from {} (spid {}) failed: {}", peer_, spid_, e.what());
    }
    try {
      handler_.SessionEnded(spid_);
    } catch (const std::exception& e) {
      spdlog::error("tds-server: ending session {}: {}", spid_, e.what());
    }
  }

  tcp::socket& socket() { return socket_; }

  void Write(std::span<const uint8_t> bytes) override {
    if (!tls_active_) {
      asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
      return;
    }
    cipher_out_.clear();
    tls_->Write(bytes, cipher_out_);
    asio::write(socket_, asio::buffer(cipher_out_));
  }

  bool PollAttention() override {
    boost::system::error_code ec;
    const bool decrypted_waiting = tls_active_ && (plain_at_ < plain_.size() || tls_->HasBufferedPlaintext());
    if (!decrypted_waiting && (socket_.available(ec) == 0 || ec)) return false;
    uint8_t type = 0;
    if (!ReadMessage(type, scratch_)) throw ProtocolError("connection closed while a reply was streaming");
    if (type != wire::kAttention) {
      throw ProtocolError("packet type 0x" + Hex(type) + " arrived while a reply was streaming (only ATTENTION may)");
    }
    return true;
  }

 private:
  static std::string Hex(uint8_t b) {
    static const char* digits = "0123456789ABCDEF";
    return {digits[b >> 4], digits[b & 15]};
  }

  // Reads exactly n bytes of the TDS stream: from the socket, or decrypted from TLS records once TLS
  // carries the session. False only when eof_ok and the client closed before the first byte.
  bool ReadBytes(uint8_t* p, size_t n, bool eof_ok) {
    boost::system::error_code ec;
    if (!tls_active_) {
      asio::read(socket_, asio::buffer(p, n), ec);
      if (ec == asio::error::eof && eof_ok) return false;
      if (ec) throw boost::system::system_error(ec);
      return true;
    }
    size_t got = 0;
    while (got < n) {
      if (plain_at_ < plain_.size()) {
        const size_t k = std::min(n - got, plain_.size() - plain_at_);
        std::memcpy(p + got, plain_.data() + plain_at_, k);
        plain_at_ += k;
        got += k;
        continue;
      }
      plain_.resize(16384);
      plain_at_ = 0;
      size_t k = tls_->Read({}, plain_.data(), plain_.size());
      if (k == 0) {
        // One TLS record at a time, its length checked before anything is allocated for it: never
        // reads past the record, which matters when login-only encryption switches back to plain.
        uint8_t header[tls::kRecordHeaderSize];
        asio::read(socket_, asio::buffer(header), ec);
        if (ec == asio::error::eof && eof_ok && got == 0) {
          plain_.clear();
          return false;
        }
        if (ec) throw boost::system::system_error(ec);
        const size_t body = tls::RecordBodyLength(header);
        record_.resize(tls::kRecordHeaderSize + body);
        std::memcpy(record_.data(), header, tls::kRecordHeaderSize);
        asio::read(socket_, asio::buffer(record_.data() + tls::kRecordHeaderSize, body));
        k = tls_->Read(record_, plain_.data(), plain_.size());
      }
      plain_.resize(k);
    }
    return true;
  }

  // Reassembles one client message; false on a clean close between messages.
  bool ReadMessage(uint8_t& type, std::vector<uint8_t>& payload) {
    payload.clear();
    bool first = true;
    while (true) {
      uint8_t header_bytes[wire::kHeaderSize];
      if (!ReadBytes(header_bytes, sizeof header_bytes, first)) return false;
      const wire::PacketHeader h = wire::DecodeHeader(header_bytes);
      if (h.length < wire::kHeaderSize || h.length > wire::kMaxPacketSize + 1) {
        throw ProtocolError("packet length " + std::to_string(h.length) + " outside 8.." +
                            std::to_string(wire::kMaxPacketSize + 1));
      }
      if (first) {
        type = h.type;
      } else if (h.type != type) {
        throw ProtocolError("packet type changed from 0x" + Hex(type) + " to 0x" + Hex(h.type) + " inside a message");
      }
      const size_t body = h.length - wire::kHeaderSize;
      if (payload.size() + body > options_.max_message_bytes) {
        throw ProtocolError("message larger than " + std::to_string(options_.max_message_bytes) + " bytes");
      }
      const size_t at = payload.size();
      payload.resize(at + body);
      if (body > 0) ReadBytes(payload.data() + at, body, false);
      first = false;
      if (tls_one_packet_) {
        // Login-only encryption: "the first TDS packet of the Login message MUST be encrypted ...
        // All other TDS packets sent or received MUST be in plaintext" ([MS-TDS] 3.2.5.2).
        if (plain_at_ < plain_.size() || tls_->HasBufferedPlaintext()) {
          throw ProtocolError("login-only encryption: the TLS record carried more than the first LOGIN7 packet");
        }
        tls_one_packet_ = false;
        tls_active_ = false;
      }
      if (h.status & wire::kStatusEndOfMessage) return true;
    }
  }

  // Sends a small reply built in memory as one or more packets (type 4 unless told otherwise).
  void SendMessage(const std::vector<uint8_t>& payload, uint8_t type = wire::kTabularResult) {
    const size_t chunk = packet_size_ - wire::kHeaderSize;
    std::vector<uint8_t> out;
    uint8_t id = 1;
    size_t at = 0;
    do {
      const size_t n = std::min(chunk, payload.size() - at);
      wire::PacketHeader h;
      h.type = type;
      h.status = at + n == payload.size() ? wire::kStatusEndOfMessage : 0;
      h.length = static_cast<uint16_t>(n + wire::kHeaderSize);
      h.spid = spid_;
      h.packet_id = id++;
      uint8_t hb[wire::kHeaderSize];
      wire::EncodeHeader(h, hb);
      out.insert(out.end(), hb, hb + wire::kHeaderSize);
      out.insert(out.end(), payload.begin() + static_cast<std::ptrdiff_t>(at),
                 payload.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
    } while (at < payload.size());
    Write(out);
  }

  void SendPreloginResponse(uint8_t encryption) {
    // Option table: VERSION, ENCRYPTION, MARS, terminator; then their data.
    std::vector<uint8_t> payload = {
        0x00, 0x00, 16,   0x00, 6,                 // VERSION at 16, 6 bytes
        0x01, 0x00, 22,   0x00, 1,                 // ENCRYPTION at 22
        0x04, 0x00, 23,   0x00, 1,                 // MARS at 23
        0xFF, 0x10, 0x00, 0x0F, 0xA0, 0x00, 0x00,  // 16.0.4000.0
        0x02,                                      // ENCRYPTION (set below)
        0x00,                                      // MARS off
    };
    payload[22] = encryption;
    SendMessage(payload);
  }

  void SendLoginAck(const std::string& database) {
    std::vector<uint8_t> m;
    PutEnvChange(m, 1, database, "master");
    // Collation: type 7, new value 5 bytes, old value empty.
    const uint8_t collation[] = {0xE3, 0x08, 0x00, 0x07, 0x05, 0x09, 0x04, 0xD0, 0x00, 0x34, 0x00};
    m.insert(m.end(), std::begin(collation), std::end(collation));
    PutEnvChange(m, 4, std::to_string(packet_size_), "4096");
    std::vector<uint8_t> ack{0x01, 0x74, 0x00, 0x00, 0x04};  // interface SQL_TSQL, TDS 7.4 (big-endian)
    PutBVarchar(ack, "Microsoft SQL Server");
    ack.insert(ack.end(), {0x10, 0x00, 0x0F, 0xA0});
    m.push_back(0xAD);
    PutLe(m, ack.size(), 2);
    m.insert(m.end(), ack.begin(), ack.end());
    m.insert(m.end(), {0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    SendMessage(m);
  }

  // The TLS handshake, carried in PRELOGIN (0x12) packets both ways: "A TLS/SSL negotiation packet
  // is a PRELOGIN (0x12) packet header encapsulated with TLS/SSL payload. The TDS server MUST
  // exchange a TLS/SSL negotiation packet with the client and reenter this state until the TLS/SSL
  // negotiation is successfully completed"; anything else closes the connection ([MS-TDS] 3.3.5.2).
  // The server's packets are type 0x12 as well ([MS-TDS] 3.2.5.2: "a structurally valid TLS/SSL
  // response message (TDS packet Type 0x12)"), their data "simply the raw bytes of the SSL handshake
  // payload" ([MS-TDS] 2.2.6.5).
  void TlsHandshake() {
    tls_ = std::make_unique<tls::Session>(*tls_context_);
    size_t total = 0;
    std::vector<uint8_t> payload;
    std::vector<uint8_t> out;
    for (int round = 1;; ++round) {
      uint8_t type = 0;
      if (!ReadMessage(type, payload)) throw ProtocolError("the client closed the connection during the TLS handshake");
      if (type != wire::kPrelogin) {
        throw ProtocolError("expected a TLS handshake in a PRELOGIN (0x12) packet, got packet type 0x" + Hex(type) +
                            " (the server answered PRELOGIN with encryption)");
      }
      total += payload.size();
      if (round > kMaxHandshakeRounds || total > kMaxHandshakeBytes) {
        throw ProtocolError("the TLS handshake did not finish within " + std::to_string(kMaxHandshakeRounds) +
                            " messages and " + std::to_string(kMaxHandshakeBytes) + " bytes");
      }
      out.clear();
      bool done = false;
      try {
        done = tls_->Handshake(payload, out);
      } catch (const tls::TlsError&) {
        if (!out.empty()) SendMessage(out, wire::kPrelogin);  // the alert tells the client why
        throw;
      }
      if (!out.empty()) SendMessage(out, wire::kPrelogin);
      if (done) return;
    }
  }

  // PRELOGIN and, when negotiated, TLS. Leaves `type`/`payload` holding the client's next message.
  bool Prelogin(uint8_t& type, std::vector<uint8_t>& payload) {
    const bool tls_configured = options_.encryption != Encryption::kNotSupported;
    if (type != wire::kPrelogin) {
      // A client that skips PRELOGIN (TDS 7.0 and older) cannot encrypt.
      if (options_.encryption == Encryption::kOn || options_.encryption == Encryption::kRequired) {
        stats_.refused++;
        throw ProtocolError("the client sent no PRELOGIN, so no TLS, and this server requires encryption");
      }
      stats_.plain++;
      return true;
    }
    std::string why;
    if (!wire::ValidatePrelogin(payload, &why)) throw ProtocolError(why);
    const std::optional<uint8_t> client = wire::PreloginOptionByte(payload, 0x01);
    const EncryptionDecision decision = DecideEncryption(options_.encryption, client);
    // Counted before the answer goes out: a client may act on it (and a test read the counters) at once.
    if (decision.mode == TlsMode::kNone) stats_.plain++;
    SendPreloginResponse(decision.answer);
    const std::string client_text = client ? "0x" + Hex(*client) : std::string("absent");
    switch (decision.mode) {
      case TlsMode::kTerminate:
        stats_.refused++;
        throw ProtocolError("the client's PRELOGIN ENCRYPTION is " + client_text +
                            " (ENCRYPT_NOT_SUP) and this server requires encryption: answered ENCRYPT_REQ and closed");
      case TlsMode::kNone:
        if (tls_configured) {
          spdlog::info("tds-server: spid {} from {}: no encryption (client ENCRYPTION {}, answered 0x{})", spid_, peer_,
                       client_text, Hex(decision.answer));
        }
        break;
      case TlsMode::kLoginOnly:
      case TlsMode::kFull:
        try {
          TlsHandshake();
        } catch (...) {
          stats_.refused++;
          throw;
        }
        tls_active_ = true;
        tls_one_packet_ = decision.mode == TlsMode::kLoginOnly;
        (decision.mode == TlsMode::kFull ? stats_.full_tls : stats_.login_only_tls)++;
        spdlog::info("tds-server: spid {} from {}: {} encryption, {} (client ENCRYPTION {}, answered 0x{})", spid_,
                     peer_, ToString(decision.mode), tls_->Description(), client_text, Hex(decision.answer));
        break;
    }
    return ReadMessage(type, payload);
  }

  bool Login() {
    uint8_t type = 0;
    std::vector<uint8_t> payload;
    if (!ReadMessage(type, payload)) return false;
    if (!Prelogin(type, payload)) return false;
    if (type != wire::kLogin7) throw ProtocolError("expected LOGIN7, got packet type 0x" + Hex(type));
    std::string why;
    auto login = wire::ParseLogin7(payload, &why);
    if (!login) throw ProtocolError(why);

    const uint32_t requested = login->packet_size == 0 ? wire::kDefaultPacketSize : login->packet_size;
    packet_size_ = std::clamp<uint32_t>(
        requested, wire::kMinPacketSize,
        std::clamp<uint32_t>(options_.max_packet_size, wire::kMinPacketSize, wire::kMaxPacketSize));
    const bool user_ok = !options_.user || *options_.user == login->user_name;
    const bool password_ok = !options_.password || *options_.password == login->password;
    if (!user_ok || !password_ok) {
      spdlog::info("tds-server: login failed for user '{}' from {}", login->user_name, peer_);
      ResultWriter writer(*this, wire::kDefaultPacketSize, spid_, options_.server_name);
      writer.BeginMessage();
      ServerError error;
      error.number = 18456;
      error.severity = 14;
      error.state = 1;
      error.message = "Login failed for user '" + login->user_name + "'.";
      writer.Error(error);
      writer.EndMessage();
      return false;
    }
    const std::string database = login->database.empty() ? options_.database : login->database;
    spdlog::debug("tds-server: {} logged in as '{}' from {} (spid {}, database {}, packet size {})", login->app_name,
                  login->user_name, peer_, spid_, database, packet_size_);
    SendLoginAck(database);
    return true;
  }

  static std::string BatchText(std::span<const uint8_t> payload) {
    // TDS 7.2+ batches start with ALL_HEADERS: ULONG total length (including itself), then headers.
    if (payload.size() >= 4) {
      const uint32_t total = static_cast<uint32_t>(payload[0]) | (static_cast<uint32_t>(payload[1]) << 8) |
                             (static_cast<uint32_t>(payload[2]) << 16) | (static_cast<uint32_t>(payload[3]) << 24);
      if (total >= 4 && total <= payload.size()) payload = payload.subspan(total);
    }
    return wire::Utf16ToUtf8(payload);
  }

  void Serve() {
    if (!Login()) return;
    ResultWriter writer(*this, packet_size_, spid_, options_.server_name);
    std::vector<uint8_t> payload;
    uint8_t type = 0;
    while (ReadMessage(type, payload)) {
      writer.BeginMessage();
      switch (type) {
        case wire::kSqlBatch: {
          const std::string sql = BatchText(payload);
          handler_.HandleBatch(sql, writer);
          break;
        }
        case wire::kAttention:
          // The reply it meant to stop has already ended (replies are synchronous): acknowledge it.
          SendMessage({0xFD, 0x20, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
          continue;
        case wire::kRpc: {
          ServerError error;
          error.number = 50000;
          error.message = "tds-replay answers SQL batches only, not RPC requests";
          writer.Error(error);
          break;
        }
        default:
          throw ProtocolError("unexpected packet type 0x" + Hex(type) + " after login");
      }
      writer.EndMessage();
    }
  }

  tcp::socket socket_;
  const ServerOptions& options_;
  BatchHandler& handler_;
  uint16_t spid_;
  uint32_t packet_size_ = wire::kDefaultPacketSize;
  std::string peer_;
  std::vector<uint8_t> scratch_;

  std::shared_ptr<tls::Context> tls_context_;  // null: no certificate, no TLS
  StatsCounters& stats_;
  std::unique_ptr<tls::Session> tls_;
  bool tls_active_ = false;      // the TDS stream travels inside TLS records (both directions)
  bool tls_one_packet_ = false;  // login-only encryption: TLS ends after the next packet read
  std::vector<uint8_t> plain_;   // decrypted bytes not yet consumed, from plain_at_
  size_t plain_at_ = 0;
  std::vector<uint8_t> record_;      // one ciphertext record from the client
  std::vector<uint8_t> cipher_out_;  // ciphertext for the client
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, BatchHandler& h) : options(std::move(o)), handler(h) {}

  struct Slot {
    std::thread thread;
    int fd = -1;  // for shutdown() from Stop(); -1 once the session closed its socket
    bool finished = false;
  };

  void Accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != asio::error::operation_aborted) spdlog::warn("tds-server: accept failed: {}", ec.message());
        if (!acceptor.is_open()) return;
      } else {
        StartSession(std::move(socket));
      }
      Accept();
    });
  }

  void StartSession(tcp::socket socket) {
    std::lock_guard lock(mutex);
    // Join the threads of connections that ended.
    for (auto it = slots.begin(); it != slots.end();) {
      if (it->finished) {
        it->thread.join();
        it = slots.erase(it);
      } else {
        ++it;
      }
    }
    if (stopping) return;
    auto& slot = slots.emplace_back();
    slot.fd = socket.native_handle();
    auto session = std::make_unique<Session>(std::move(socket), options, handler, next_spid++, tls_context, stats);
    slot.thread = std::thread([this, &slot, session = std::move(session)]() mutable {
      session->Run();
      std::lock_guard lock(mutex);
      boost::system::error_code ignored;
      session->socket().close(ignored);
      slot.fd = -1;
      slot.finished = true;
    });
  }

  ServerOptions options;
  BatchHandler& handler;
  std::shared_ptr<tls::Context> tls_context;
  StatsCounters stats;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread io_thread;
  std::mutex mutex;
  std::list<Slot> slots;  // list: slot addresses stay valid for their threads
  bool stopping = false;
  bool started = false;
  uint16_t next_spid = 51;
  uint16_t bound_port = 0;
};

Server::Server(ServerOptions options, BatchHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

Server::~Server() { Stop(); }

void Server::Start() {
  Impl& s = *impl_;
  const std::string where = s.options.listen_address + ":" + std::to_string(s.options.port);
  if (s.options.encryption != Encryption::kNotSupported) {
    if (s.options.tls_cert_file.empty() || s.options.tls_key_file.empty()) {
      throw std::runtime_error("tds-server: encryption " + std::string(ToString(s.options.encryption)) +
                               " needs a TLS certificate and key file");
    }
    try {
      s.tls_context = tls::Context::Load(s.options.tls_cert_file, s.options.tls_key_file);
    } catch (const tls::TlsError& e) {
      throw std::runtime_error(std::string("tds-server: ") + e.what());
    }
  }
  try {
    tcp::endpoint endpoint(asio::ip::make_address(s.options.listen_address), s.options.port);
    s.acceptor.open(endpoint.protocol());
    s.acceptor.set_option(tcp::acceptor::reuse_address(true));
    s.acceptor.bind(endpoint);
    s.acceptor.listen();
    s.bound_port = s.acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("tds-server: cannot listen on " + where + ": " + e.code().message());
  }
  s.Accept();
  s.started = true;
  s.io_thread = std::thread([&s] { s.io.run(); });
}

uint16_t Server::port() const { return impl_->bound_port; }

ServerStats Server::stats() const {
  ServerStats out;
  out.plain = impl_->stats.plain.load();
  out.login_only_tls = impl_->stats.login_only_tls.load();
  out.full_tls = impl_->stats.full_tls.load();
  out.refused = impl_->stats.refused.load();
  return out;
}

EncryptionDecision DecideEncryption(Encryption server, std::optional<uint8_t> client_byte) {
  // [MS-TDS] 2.2.6.5, the ENCRYPTION option: the server answers with its own setting as the table of
  // client setting x server setting prescribes:
  //   client ENCRYPT_OFF     + server ENCRYPT_OFF     -> only the login packet encrypted
  //   client ENCRYPT_OFF     + server ENCRYPT_REQ     -> everything encrypted
  //   client ENCRYPT_NOT_SUP + server ENCRYPT_REQ     -> connection terminated
  //   client ENCRYPT_ON      + server ENCRYPT_NOT_SUP -> connection terminated (the client's call)
  //   either side ENCRYPT_NOT_SUP otherwise           -> no encryption
  //   client ENCRYPT_ON, or server ENCRYPT_ON         -> everything encrypted
  // [recalled from the spec's table; the stored excerpts confirm the option values and the wrapping,
  // not each row.] Which byte SQL Server answers a client that said NOT_SUP to, when the server is
  // not forcing encryption, is not stated there: tds-replay answers ENCRYPT_NOT_SUP so that no client
  // starts a handshake it did not offer. A missing option, and values other than 0..3 (0x80 client
  // certificate bit of newer revisions included), count as ENCRYPT_NOT_SUP.
  using namespace wire_encryption;
  uint8_t client = client_byte.value_or(kNotSup);
  if (client > kReq) client = kNotSup;
  const bool client_can = client != kNotSup;
  const bool client_wants = client == kOn || client == kReq;
  switch (server) {
    case Encryption::kNotSupported:
      return {kNotSup, TlsMode::kNone};
    case Encryption::kOff:
      if (!client_can) return {kNotSup, TlsMode::kNone};
      return client_wants ? EncryptionDecision{kOn, TlsMode::kFull} : EncryptionDecision{kOff, TlsMode::kLoginOnly};
    case Encryption::kOn:
      if (!client_can) return {kNotSup, TlsMode::kNone};
      return {kOn, TlsMode::kFull};
    case Encryption::kRequired:
      if (!client_can) return {kReq, TlsMode::kTerminate};
      return {kReq, TlsMode::kFull};
  }
  return {kNotSup, TlsMode::kNone};
}

const char* ToString(Encryption encryption) {
  switch (encryption) {
    case Encryption::kNotSupported:
      return "not-supported";
    case Encryption::kOff:
      return "off";
    case Encryption::kOn:
      return "on";
    case Encryption::kRequired:
      return "required";
  }
  return "?";
}

std::optional<Encryption> ParseEncryption(std::string_view text) {
  for (Encryption e : {Encryption::kNotSupported, Encryption::kOff, Encryption::kOn, Encryption::kRequired}) {
    if (text == ToString(e)) return e;
  }
  return std::nullopt;
}

const char* ToString(TlsMode mode) {
  switch (mode) {
    case TlsMode::kNone:
      return "no";
    case TlsMode::kLoginOnly:
      return "login-only";
    case TlsMode::kFull:
      return "full";
    case TlsMode::kTerminate:
      return "refused";
  }
  return "?";
}

void Server::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping) return;
    s.stopping = true;
  }
  if (s.started) {
    asio::post(s.io, [&s] {
      boost::system::error_code ignored;
      s.acceptor.close(ignored);
    });
    s.io_thread.join();
  }
  std::list<Impl::Slot> slots;
  {
    std::lock_guard lock(s.mutex);
    // shutdown() wakes a session blocked in read or write; the session closes the socket itself.
    for (auto& slot : s.slots) {
      if (slot.fd >= 0) ::shutdown(slot.fd, SHUT_RDWR);
    }
    slots.splice(slots.begin(), s.slots);
  }
  for (auto& slot : slots) slot.thread.join();
}

}  // namespace sqltail::tds
