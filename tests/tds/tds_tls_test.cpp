// TLS between sqltail's db-lib client and the TDS server, as SQL Server does it in TDS 7.x: the
// PRELOGIN ENCRYPTION option, the handshake inside PRELOGIN packets, then login-only or full
// encryption. Every connection goes through a relay that records the bytes on the wire, so a test
// can tell encrypted traffic from plain (and would fail if TLS were silently skipped). The
// certificates are made at run time with openssl; no key is ever committed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "sqltail/replay/fixture_query_handler.h"
#include "sqltail/tds/connection.h"
#include "sqltail/tds/server.h"
#include "sqltail/tds/wire.h"
#include "tls.h"  // tds/src/server: the record-header check

using namespace sqltail;
namespace fs = std::filesystem;

namespace {

const std::string kMini = std::string(SQLTAIL_TDS_TEST_DATA) + "/mini";
const char* kLogQuery = "SELECT [Current LSN], [Operation], [Log Record] FROM sys.fn_dblog(NULL, NULL)";

// A self-signed certificate for localhost / 127.0.0.1, made once per run in a private directory.
struct Certificates {
  fs::path dir;
  std::string cert, key;              // what the server presents
  std::string other_cert, other_key;  // an unrelated certificate: a CA that does not match
  Certificates() {
    dir = fs::temp_directory_path() / ("sqltail-tls-test-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    cert = (dir / "server.pem").string();
    key = (dir / "server.key").string();
    other_cert = (dir / "other.pem").string();
    other_key = (dir / "other.key").string();
    Make(cert, key, "localhost");
    Make(other_cert, other_key, "someone-else");
  }
  ~Certificates() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  static void Make(const std::string& cert, const std::string& key, const std::string& cn) {
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=" +
        cn + " -addext subjectAltName=DNS:" + cn + ",IP:127.0.0.1 -keyout " + key + " -out " + cert +
        " >/dev/null 2>&1";
    REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "openssl could not make a certificate: " << command);
  }
};

Certificates& Certs() {
  static Certificates certs;
  return certs;
}

// Forwards one TCP connection to `upstream` and records each direction.
class Relay {
 public:
  explicit Relay(uint16_t upstream) : upstream_(upstream) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~Relay() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  std::vector<uint8_t> ToServer() {
    std::lock_guard lock(mutex_);
    return to_server_;
  }
  std::vector<uint8_t> ToClient() {
    std::lock_guard lock(mutex_);
    return to_client_;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(upstream_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      Pump(client, server);
      ::close(client);
      ::close(server);
    }
  }
  void Pump(int client, int server) {
    uint8_t buffer[16384];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 100) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(p[i].fd, buffer, sizeof buffer);
        if (n <= 0) return;
        {
          std::lock_guard lock(mutex_);
          auto& log = i == 0 ? to_server_ : to_client_;
          log.insert(log.end(), buffer, buffer + n);
        }
        const int to = i == 0 ? server : client;
        for (ssize_t at = 0; at < n;) {
          const ssize_t w = ::write(to, buffer + at, static_cast<size_t>(n - at));
          if (w <= 0) return;
          at += w;
        }
      }
    }
  }

  uint16_t upstream_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<uint8_t> to_server_, to_client_;
};

bool Contains(const std::vector<uint8_t>& haystack, const std::vector<uint8_t>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

std::vector<uint8_t> Utf16(std::string_view s) {
  std::vector<uint8_t> out(2 * s.size());
  out.resize(tds::wire::Utf8ToUtf16(s, out.data()));
  return out;
}

struct TlsReplay {
  explicit TlsReplay(tds::Encryption encryption) : handler(kMini), server(Configure(encryption), handler) {
    server.Start();
  }
  tds::ServerOptions Configure(tds::Encryption encryption) {
    tds::ServerOptions o;
    o.port = 0;
    o.database = handler.database();
    o.encryption = encryption;
    if (encryption != tds::Encryption::kNotSupported) {
      o.tls_cert_file = Certs().cert;
      o.tls_key_file = Certs().key;
    }
    return o;
  }
  replay::FixtureQueryHandler handler;
  tds::Server server;
};

tds::ConnectOptions Options(uint16_t port, const std::string& encryption) {
  tds::ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.user = "sqltail_tls_user";
  o.password = "secret";
  o.database = "source_db";
  o.login_timeout_s = 5;
  o.query_timeout_s = 20;
  o.encryption = encryption;
  return o;
}

// The fn_dblog rows as "LSN|Operation|<record bytes>" lines.
std::vector<std::string> ReadLog(tds::Connection& c) {
  std::vector<std::string> rows;
  auto err = c.Execute(kLogQuery, [&](const tds::Row& row) {
    auto bytes = row.Bytes(2);
    rows.push_back(std::string(row.Text(0)) + "|" + std::string(row.Text(1)) + "|" + std::to_string(bytes.size()));
    return true;
  });
  REQUIRE_MESSAGE(!err, err->ToString());
  return rows;
}

std::vector<std::string> PlainReference() {
  TlsReplay replay(tds::Encryption::kNotSupported);
  auto c = tds::Connection::Connect(Options(replay.server.port(), "off"));
  return ReadLog(c);
}

// Connects through a relay, reads the log, and returns what crossed the wire.
struct Session {
  std::vector<std::string> rows;
  std::vector<uint8_t> to_server, to_client;
};
Session ReadThroughRelay(uint16_t server_port, const std::string& encryption) {
  Relay relay(server_port);
  Session s;
  {
    auto c = tds::Connection::Connect(Options(relay.port(), encryption));
    s.rows = ReadLog(c);
  }
  // The relay's thread may still be copying the last bytes; they are not needed for the checks.
  s.to_server = relay.ToServer();
  s.to_client = relay.ToClient();
  return s;
}

struct LoginFailure {
  std::string what;  // empty: the login worked
  int dblib_code = 0;
};
LoginFailure ConnectError(const tds::ConnectOptions& o) {
  try {
    tds::Connection::Connect(o);
  } catch (const tds::TdsException& e) {
    return {e.what(), e.error().dblib_code};
  }
  return {};
}
LoginFailure ConnectError(uint16_t port, const std::string& encryption) {
  return ConnectError(Options(port, encryption));
}

// What must appear in plain traffic: the query text (client to server), the login name (inside
// LOGIN7) and an Operation value of the result (server to client), all UTF-16LE.
const std::vector<uint8_t> kQueryMarker = Utf16("sys.fn_dblog");
const std::vector<uint8_t> kLoginMarker = Utf16("sqltail_tls_user");
const std::vector<uint8_t> kRowMarker = Utf16("LOP_INSERT_ROWS");

}  // namespace

TEST_CASE("PRELOGIN ENCRYPTION: the server's answer for each client and server setting ([MS-TDS] 2.2.6.5)") {
  using tds::Encryption;
  using tds::TlsMode;
  namespace e = tds::wire_encryption;
  struct Row {
    Encryption server;
    std::optional<uint8_t> client;
    uint8_t answer;
    TlsMode mode;
  };
  const Row rows[] = {
      {Encryption::kNotSupported, e::kOff, e::kNotSup, TlsMode::kNone},
      {Encryption::kNotSupported, e::kOn, e::kNotSup, TlsMode::kNone},  // the client terminates
      {Encryption::kOff, e::kOff, e::kOff, TlsMode::kLoginOnly},
      {Encryption::kOff, e::kOn, e::kOn, TlsMode::kFull},
      {Encryption::kOff, e::kNotSup, e::kNotSup, TlsMode::kNone},
      {Encryption::kOff, std::nullopt, e::kNotSup, TlsMode::kNone},
      {Encryption::kOn, e::kOff, e::kOn, TlsMode::kFull},
      {Encryption::kOn, e::kOn, e::kOn, TlsMode::kFull},
      {Encryption::kRequired, e::kOff, e::kReq, TlsMode::kFull},
      {Encryption::kRequired, e::kOn, e::kReq, TlsMode::kFull},
      {Encryption::kRequired, e::kReq, e::kReq, TlsMode::kFull},
      {Encryption::kRequired, e::kNotSup, e::kReq, TlsMode::kTerminate},
      {Encryption::kRequired, uint8_t{0x7F}, e::kReq, TlsMode::kTerminate},  // unknown value: as NOT_SUP
  };
  for (const Row& r : rows) {
    const auto d = tds::DecideEncryption(r.server, r.client);
    INFO("server ", tds::ToString(r.server), " client ", r.client ? int(*r.client) : -1);
    CHECK(int(d.answer) == int(r.answer));
    CHECK(d.mode == r.mode);
  }
}

TEST_CASE("PRELOGIN option bytes and TLS record headers from untrusted clients are bounds-checked") {
  using tds::wire::PreloginOptionByte;
  const std::vector<uint8_t> good = {0x00, 0x00, 0x0B, 0x00, 0x06, 0x01, 0x00, 0x11, 0x00,
                                     0x01, 0xFF, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03};
  CHECK(PreloginOptionByte(good, 0x01) == uint8_t{0x03});
  CHECK_FALSE(PreloginOptionByte(good, 0x04));  // absent
  std::vector<uint8_t> past_end = good;
  past_end[7] = 0x40;  // ENCRYPTION data offset 64 in an 18-byte message
  CHECK_FALSE(PreloginOptionByte(past_end, 0x01));
  std::vector<uint8_t> empty = good;
  empty[9] = 0;  // ENCRYPTION with no data
  CHECK_FALSE(PreloginOptionByte(empty, 0x01));
  const std::vector<uint8_t> truncated = {0x01, 0x00, 0x05};  // entry cut short, no terminator
  CHECK_FALSE(PreloginOptionByte(truncated, 0x01));
  CHECK_FALSE(PreloginOptionByte({}, 0x01));

  using tds::tls::RecordBodyLength;
  const uint8_t ok[] = {0x17, 0x03, 0x03, 0x00, 0x20};
  CHECK(RecordBodyLength(ok) == 0x20);
  const uint8_t largest[] = {0x17, 0x03, 0x03, 0x48, 0x00};  // 18432 = 2^14 + 2048
  CHECK(RecordBodyLength(largest) == 18432);
  const uint8_t too_long[] = {0x17, 0x03, 0x03, 0x48, 0x01};
  CHECK_THROWS_WITH_AS(RecordBodyLength(too_long), "TLS: record length 18433 outside 1..18432", tds::tls::TlsError);
  const uint8_t zero[] = {0x16, 0x03, 0x03, 0x00, 0x00};
  CHECK_THROWS_AS(RecordBodyLength(zero), tds::tls::TlsError);
  const uint8_t tds_packet[] = {0x01, 0x01, 0x00, 0x40, 0x00};  // a plain SQL batch where TLS was due
  CHECK_THROWS_WITH_AS(RecordBodyLength(tds_packet), "TLS: not a TLS record (header bytes 01 01 00)",
                       tds::tls::TlsError);
  const uint8_t sslv2[] = {0x16, 0x02, 0x00, 0x00, 0x10};
  CHECK_THROWS_AS(RecordBodyLength(sslv2), tds::tls::TlsError);
}

TEST_CASE("client require + server on or required: full TLS, the same rows, nothing readable on the wire") {
  const auto reference = PlainReference();
  REQUIRE(reference.size() == 5);
  for (auto setting : {tds::Encryption::kOn, tds::Encryption::kRequired, tds::Encryption::kOff}) {
    INFO("server encryption ", tds::ToString(setting));
    TlsReplay replay(setting);
    const Session s = ReadThroughRelay(replay.server.port(), "require");
    CHECK(s.rows == reference);
    const auto stats = replay.server.stats();
    CHECK(stats.full_tls == 1);
    CHECK(stats.plain == 0);
    CHECK(stats.login_only_tls == 0);
    // Neither the login, nor the query, nor a result value crosses the wire in clear.
    CHECK_FALSE(Contains(s.to_server, kLoginMarker));
    CHECK_FALSE(Contains(s.to_server, kQueryMarker));
    CHECK_FALSE(Contains(s.to_client, kRowMarker));
    // The server's first answer is the plain PRELOGIN response (type 4); the handshake follows in
    // PRELOGIN (0x12) packets.
    REQUIRE(s.to_client.size() > 16);
    CHECK(s.to_client[0] == tds::wire::kTabularResult);
  }
}

TEST_CASE("the relay sees plain traffic when there is no TLS (the check above can fail)") {
  TlsReplay replay(tds::Encryption::kNotSupported);
  const Session s = ReadThroughRelay(replay.server.port(), "request");
  CHECK(s.rows.size() == 5);
  CHECK(Contains(s.to_server, kLoginMarker));
  CHECK(Contains(s.to_server, kQueryMarker));
  CHECK(Contains(s.to_client, kRowMarker));
  CHECK(replay.server.stats().plain == 1);
}

TEST_CASE("client request + server off: only the LOGIN7 packet is encrypted, then plain ([MS-TDS] 3.2.5.2)") {
  TlsReplay replay(tds::Encryption::kOff);
  const Session s = ReadThroughRelay(replay.server.port(), "request");
  CHECK(s.rows == PlainReference());
  CHECK(replay.server.stats().login_only_tls == 1);
  CHECK_FALSE(Contains(s.to_server, kLoginMarker));  // inside TLS
  CHECK(Contains(s.to_server, kQueryMarker));        // after the login: plain
  CHECK(Contains(s.to_client, kRowMarker));
}

TEST_CASE("client request + server without TLS: plain, works") {
  TlsReplay replay(tds::Encryption::kNotSupported);
  auto c = tds::Connection::Connect(Options(replay.server.port(), "request"));
  CHECK(ReadLog(c) == PlainReference());
  CHECK(replay.server.stats().plain == 1);
}

TEST_CASE("client off + server on: no TLS at all (off sends ENCRYPT_NOT_SUP)") {
  TlsReplay replay(tds::Encryption::kOn);
  const Session s = ReadThroughRelay(replay.server.port(), "off");
  CHECK(s.rows.size() == 5);
  CHECK(replay.server.stats().plain == 1);
  CHECK(Contains(s.to_server, kLoginMarker));
}

TEST_CASE("client off + server required: the login fails with db-lib error 20002 and says why it may be") {
  TlsReplay replay(tds::Encryption::kRequired);
  const auto failure = ConnectError(replay.server.port(), "off");
  MESSAGE(failure.what);
  CHECK(failure.dblib_code == 20002);
  CHECK(failure.what ==
        "tds: login to 127.0.0.1:" + std::to_string(replay.server.port()) +
            " as 'sqltail_tls_user' (database source_db) failed: Adaptive Server connection failed (127.0.0.1:" +
            std::to_string(replay.server.port()) +
            "); with encryption off this also means the server requires encryption");
  CHECK(replay.server.stats().refused == 1);
  CHECK(replay.server.stats().plain == 0);
}

TEST_CASE("client require + server without TLS: the login fails with db-lib error 20002 and sends no LOGIN7") {
  TlsReplay replay(tds::Encryption::kNotSupported);
  Relay relay(replay.server.port());
  const auto failure = ConnectError(relay.port(), "require");
  MESSAGE(failure.what);
  CHECK(failure.dblib_code == 20002);
  CHECK(failure.what.find("(database source_db, encryption require) failed: Adaptive Server connection failed") !=
        std::string::npos);
  CHECK(failure.what.find("the server offers no TLS") != std::string::npos);
  CHECK_FALSE(Contains(relay.ToServer(), kLoginMarker));  // the password never left the client
  // The server answered ENCRYPT_NOT_SUP (a plain session from its side); the client then gave up.
  CHECK(replay.server.stats().plain == 1);
}

TEST_CASE("certificate verification: none without a CA file; with one, the chain and the host name") {
  TlsReplay replay(tds::Encryption::kOn);
  auto with_ca = [&](const std::string& ca, bool check_hostname = true, const std::string& host = "127.0.0.1") {
    auto o = Options(replay.server.port(), "require");
    o.host = host;
    o.tls_ca_file = ca;
    o.tls_check_hostname = check_hostname;
    return ConnectError(o);
  };
  // No CA file: FreeTDS accepts any certificate (this one is self-signed).
  CHECK(with_ca("").what == "");
  // The right CA; the host name 127.0.0.1 is in the certificate's subjectAltName.
  CHECK(with_ca(Certs().cert).what == "");
  // A CA that did not sign the server's certificate: the handshake fails.
  const auto wrong = with_ca(Certs().other_cert);
  MESSAGE(wrong.what);
  CHECK(wrong.dblib_code == 20002);
  CHECK(wrong.what.find("CA file " + Certs().other_cert) != std::string::npos);
  CHECK(wrong.what.find("is the server's certificate signed by the CA file, and does it name 127.0.0.1?") !=
        std::string::npos);
  CHECK(replay.server.stats().full_tls == 2);
}

TEST_CASE("certificate verification: a certificate for another host name fails unless the check is off") {
  // The server presents a certificate naming only "someone-else" (and 127.0.0.1): connect as localhost.
  replay::FixtureQueryHandler handler(kMini);
  tds::ServerOptions o;
  o.port = 0;
  o.database = handler.database();
  o.encryption = tds::Encryption::kOn;
  o.tls_cert_file = Certs().other_cert;
  o.tls_key_file = Certs().other_key;
  tds::Server server(o, handler);
  server.Start();
  auto c = Options(server.port(), "require");
  c.host = "localhost";
  c.tls_ca_file = Certs().other_cert;
  const auto mismatch = ConnectError(c);
  MESSAGE(mismatch.what);
  CHECK(mismatch.dblib_code == 20002);
  c.tls_check_hostname = false;
  CHECK(ConnectError(c).what == "");
  c.host = "127.0.0.1";  // in the subjectAltName
  c.tls_check_hostname = true;
  CHECK(ConnectError(c).what == "");
}

TEST_CASE("hostile input: bad handshake bytes and wrong packet types close the connection, never the server") {
  TlsReplay replay(tds::Encryption::kOn);
  auto raw_session = [&](const std::vector<std::vector<uint8_t>>& packets) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(replay.server.port());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    for (const auto& p : packets) {
      if (::write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size())) break;
    }
    // The server answers what it can and closes: read until EOF (with a timeout).
    size_t received = 0;
    uint8_t buffer[4096];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) {
        FAIL("the server neither answered nor closed");
        break;
      }
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      received += static_cast<size_t>(n);
    }
    ::close(fd);
    return received;
  };
  auto packet = [](uint8_t type, std::vector<uint8_t> body) {
    std::vector<uint8_t> p(8);
    tds::wire::PacketHeader h;
    h.type = type;
    h.status = tds::wire::kStatusEndOfMessage;
    h.length = static_cast<uint16_t>(8 + body.size());
    tds::wire::EncodeHeader(h, p.data());
    p.insert(p.end(), body.begin(), body.end());
    return p;
  };
  // PRELOGIN asking for encryption: VERSION and ENCRYPTION=ON.
  const auto prelogin = packet(tds::wire::kPrelogin, {0x00, 0x00, 0x0B, 0x00, 0x06, 0x01, 0x00, 0x11, 0x00, 0x01, 0xFF,
                                                      0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01});
  // 1. The handshake packet is not TLS at all.
  CHECK(raw_session({prelogin, packet(tds::wire::kPrelogin, {0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01, 0x02})}) > 0);
  // 2. A LOGIN7 where the handshake must be.
  CHECK(raw_session({prelogin, packet(tds::wire::kLogin7, std::vector<uint8_t>(100, 0))}) > 0);
  // 3. A TLS record header that claims 65535 bytes, cut short.
  CHECK(raw_session({prelogin, packet(tds::wire::kPrelogin, {0x16, 0x03, 0x01, 0xFF, 0xFF, 0x01})}) > 0);
  // 4. The ENCRYPTION option's offset points past the message.
  CHECK(raw_session({packet(tds::wire::kPrelogin, {0x01, 0x00, 0x40, 0x00, 0x01, 0xFF})}) == 0);
  // 5. A packet length shorter than its header.
  CHECK(raw_session({{0x12, 0x01, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00}}) == 0);
  CHECK(replay.server.stats().refused == 3);
  // The server still serves a well-behaved client.
  auto c = tds::Connection::Connect(Options(replay.server.port(), "require"));
  CHECK(ReadLog(c).size() == 5);
}
