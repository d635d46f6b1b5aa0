// A TDS 7.4 server (Boost.Asio, one thread per connection) that hands SQL batches to a BatchHandler
// and streams its results straight into packets of the negotiated size.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sqltail::tds {

// kVarChar/kChar: single-byte text in the SQL_Latin1_General_CP1_CI_AS collation (ASCII only here).
enum class SqlType : uint8_t { kNVarChar, kVarBinary, kTinyInt, kSmallInt, kInt, kBigInt, kBit, kVarChar, kChar };

struct ColumnSpec {
  std::string name;
  SqlType type = SqlType::kInt;
  uint16_t max_length = 0;  // nvarchar: characters (<= 4000); varbinary, varchar, char: bytes (<= 8000); else ignored
  bool nullable = true;
};

// An error the way SQL Server reports it (ERROR token).
struct ServerError {
  int32_t number = 50000;
  uint8_t state = 1;
  uint8_t severity = 16;  // "class"
  std::string message;
  std::string procedure;
  int32_t line = 1;
};

// Where encoded packets go. Write throws on I/O failure; PollAttention reports (without blocking
// for long) whether the client sent ATTENTION meanwhile.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  virtual void Write(std::span<const uint8_t> bytes) = 0;
  virtual bool PollAttention() = 0;
};

// Encodes one reply message: result sets (COLMETADATA, ROW/NBCROW, DONE) and errors. Rows are
// encoded into a reused scratch buffer and the packet buffer, which is flushed as packets fill, so
// memory stays bounded and nothing is allocated per row. Misuse (wrong value count or type) throws
// std::logic_error.
class ResultWriter {
 public:
  ResultWriter(PacketSink& sink, uint32_t packet_size, uint16_t spid, std::string server_name);
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  void BeginResult(std::span<const ColumnSpec> columns);
  void BeginRow();
  void AddNull();
  void AddInt(int64_t value);                     // tinyint/smallint/int/bigint/bit columns (range-checked)
  void AddText(std::string_view utf8);            // nvarchar, varchar and char (ASCII; char is padded) columns
  void AddBytes(std::span<const uint8_t> bytes);  // varbinary columns
  void EndRow();
  // DONE(COUNT) with the number of rows of this result set.
  void EndResult();
  // A statement without a result set that changed `rows` rows: DONE(COUNT) with `curcmd` (0xC3
  // INSERT, 0xC4 DELETE, 0xC5 UPDATE, 0x117 MERGE), as SQL Server reports "(n rows affected)".
  void RowsAffected(uint64_t rows, uint16_t curcmd);
  // ERROR token; the batch's final DONE then carries the error flag.
  void Error(const ServerError& error);

  // The client sent ATTENTION: stop producing rows; everything written from now on is dropped.
  bool Cancelled() const { return cancelled_; }
  uint64_t RowsInResult() const { return rows_in_result_; }
  // The session (connection) this writer answers, as @@SPID reports it.
  uint16_t spid() const { return spid_; }

  // Used by the server around each reply message.
  void BeginMessage();
  // Writes the final DONE (DONE_ATTN when cancelled) and flushes.
  void EndMessage();
  // The client's ATTENTION was seen while the message streamed (the server need not read it again).
  bool AttentionConsumed() const { return attention_seen_; }

 private:
  void Put(const void* data, size_t size);
  void PutByte(uint8_t b) { Put(&b, 1); }
  void OpenPacket();
  void ClosePacket(bool end_of_message);
  void FlushComplete();
  void WritePendingDone(bool more);
  void WriteDone(uint16_t status, uint16_t curcmd, uint64_t rowcount);
  void EnsureRowCapacity(size_t extra);
  void NextValue(const char* what);

  PacketSink& sink_;
  uint32_t packet_size_;
  uint16_t spid_;
  std::string server_name_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t buffer_capacity_ = 0;
  size_t buffer_used_ = 0;
  size_t packet_start_ = 0;
  bool packet_open_ = false;
  uint8_t packet_id_ = 1;

  std::vector<SqlType> column_types_;
  std::vector<uint16_t> column_max_bytes_;
  std::vector<uint8_t> row_;  // encoded values of the current row
  size_t row_used_ = 0;
  std::vector<uint8_t> null_bitmap_;
  bool row_has_null_ = false;
  size_t next_column_ = 0;
  bool in_result_ = false;
  bool in_row_ = false;
  uint64_t rows_in_result_ = 0;

  bool done_pending_ = false;
  uint16_t pending_status_ = 0;
  uint16_t pending_curcmd_ = 0xC1;  // SELECT
  uint64_t pending_rows_ = 0;
  bool error_written_ = false;
  bool attention_seen_ = false;
  bool cancelled_ = false;
};

class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  // Called from connection threads concurrently; sql is the batch text as UTF-8.
  virtual void HandleBatch(std::string_view sql_utf8, ResultWriter& out) = 0;
  // The session `spid` ended (closed by the client, lost, or stopped), after its last batch.
  virtual void SessionEnded(uint16_t /*spid*/) {}
};

// What the server says in the PRELOGIN ENCRYPTION option ([MS-TDS] 2.2.6.5: ENCRYPT_OFF 0x00,
// ENCRYPT_ON 0x01, ENCRYPT_NOT_SUP 0x02, ENCRYPT_REQ 0x03), as SQL Server's settings would make it:
// kNotSupported: no certificate; kOff: a certificate, encryption not forced (a client that asks
// gets full encryption, one that merely can gets only its LOGIN7 encrypted); kOn: everything is
// encrypted for every client able to; kRequired: everything is encrypted and a client without TLS
// is turned away.
enum class Encryption : uint8_t { kNotSupported, kOff, kOn, kRequired };

namespace wire_encryption {
constexpr uint8_t kOff = 0x00;
constexpr uint8_t kOn = 0x01;
constexpr uint8_t kNotSup = 0x02;
constexpr uint8_t kReq = 0x03;
}  // namespace wire_encryption

// How a session goes on after PRELOGIN.
enum class TlsMode : uint8_t {
  kNone,       // plain throughout
  kLoginOnly,  // TLS handshake, the first LOGIN7 packet inside TLS, then plain
  kFull,       // TLS handshake, then every byte inside TLS records
  kTerminate,  // the server answers and closes: the client cannot meet its requirement
};
struct EncryptionDecision {
  uint8_t answer = wire_encryption::kNotSup;  // the ENCRYPTION byte of the PRELOGIN response
  TlsMode mode = TlsMode::kNone;
};
// The server's half of [MS-TDS] 2.2.6.5's encryption table. client: the client's ENCRYPTION byte,
// nullopt when its PRELOGIN has no such option.
EncryptionDecision DecideEncryption(Encryption server, std::optional<uint8_t> client);
const char* ToString(TlsMode mode);
const char* ToString(Encryption encryption);  // "not-supported", "off", "on", "required"
std::optional<Encryption> ParseEncryption(std::string_view text);

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see Server::port())
  // Both unset: any login is accepted.
  std::optional<std::string> user;
  std::optional<std::string> password;
  std::string database = "master";         // reported when the login names none
  std::string server_name = "SQLTAIL";     // in ERROR tokens
  uint32_t max_packet_size = 32767;        // the largest packet size granted to a client
  uint32_t max_message_bytes = 16u << 20;  // a client message (batch) larger than this closes the connection
  // TLS: anything but kNotSupported needs a PEM certificate (chain) and key; Start() loads them.
  Encryption encryption = Encryption::kNotSupported;
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Sessions by how they were protected (counted once the login outcome is known).
struct ServerStats {
  uint64_t plain = 0;
  uint64_t login_only_tls = 0;
  uint64_t full_tls = 0;
  uint64_t refused = 0;  // turned away at PRELOGIN or failed the TLS handshake
};

class Server {
 public:
  Server(ServerOptions options, BatchHandler& handler);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Throws std::runtime_error naming the address when it cannot listen.
  void Start();
  uint16_t port() const;
  ServerStats stats() const;
  // Stops accepting, closes every connection and joins their threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqltail::tds
