// A SQL Server connection over FreeTDS db-lib (TDS 7.4) with zero-copy streaming of result rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/tds/error.h"

namespace sqltail::tds {

struct ConnectOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1433;
  std::string user;
  std::string password;
  std::string database;  // empty: the login's default database
  std::string app_name = "sqltail";
  int login_timeout_s = 15;
  int query_timeout_s = 0;  // 0: wait forever
  int packet_size = 0;      // 0: FreeTDS default; SQL Server accepts 512..32767
  // TLS, as FreeTDS's freetds.conf `encryption`: "off" (PRELOGIN says ENCRYPT_NOT_SUP), "request"
  // (ENCRYPT_OFF: at least the login is encrypted when the server has a certificate), "require"
  // (ENCRYPT_ON: everything, or no login). "request" with no CA file leaves it all to freetds.conf.
  std::string encryption = "request";
  // Verify the server's certificate against this PEM file ("system": the system's CAs); empty: no
  // verification (any certificate is accepted). tls_check_hostname: the certificate must also name
  // `host` (freetds.conf `check certificate hostname`). Only with encryption request or require.
  std::string tls_ca_file;
  bool tls_check_hostname = true;
};

struct ColumnInfo {
  std::string name;
  int dblib_type = 0;  // SYBCHAR (nvarchar arrives converted), SYBBINARY, SYBINT4, SYBBIT, ...
};

// One row of a result set, valid only inside the row callback: the pointers come from db-lib's row
// buffer and die at the next row. Columns are 0-based.
class Row {
 public:
  int ColumnCount() const { return static_cast<int>(columns_->size()); }
  std::string_view ColumnName(int col) const { return (*columns_)[col].name; }
  int ColumnType(int col) const { return (*columns_)[col].dblib_type; }
  // -1 when the result set has no such column (exact, case-sensitive match).
  int ColumnIndex(std::string_view name) const;
  // Which result set of the batch this row belongs to (0-based).
  int ResultIndex() const { return result_index_; }

  bool IsNull(int col) const;
  std::span<const uint8_t> Bytes(int col) const;  // empty for NULL
  std::string_view Text(int col) const;           // UTF-8 for character columns; empty for NULL
  // tinyint, smallint, int, bigint and bit; nullopt for NULL or any other type.
  std::optional<int64_t> Int(int col) const;

 private:
  friend class Connection;
  Row(void* dbproc, const std::vector<ColumnInfo>* columns, int result_index)
      : dbproc_(dbproc), columns_(columns), result_index_(result_index) {}
  void* dbproc_;  // DBPROCESS*, kept opaque so sybdb.h stays out of this header
  const std::vector<ColumnInfo>* columns_;
  int result_index_;
};

class Connection {
 public:
  // Return false to stop reading: the rest of the batch is cancelled and Execute returns success.
  using RowCallback = std::function<bool(const Row&)>;

  // Logs in (TDS 7.4). Throws TdsException with a one-line message naming host:port and user.
  static Connection Connect(const ConnectOptions& options);

  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs a batch and streams every row of every result set to on_row. nullopt on success.
  [[nodiscard]] std::optional<TdsError> Execute(std::string_view sql, const RowCallback& on_row);
  // Runs a batch whose results (if any) are discarded.
  [[nodiscard]] std::optional<TdsError> Execute(std::string_view sql);

  // True once the socket is gone (server closed, network error); reconnect then.
  bool IsDead() const;
  const ConnectOptions& options() const;
  // "127.0.0.1:14330/source_db", for messages.
  std::string Where() const;

  struct State;

 private:
  explicit Connection(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;  // stable address: db-lib's handlers find it through dbsetuserdata
};

struct RetryPolicy {
  int max_attempts = 0;  // 0: until should_stop says so
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds give_up_after{0};  // > 0: no new attempt once this long has passed since the first
};

// Connects, retrying with doubling backoff capped at max_backoff. should_stop (optional) is polled
// between attempts. Throws the last TdsException when attempts or time (give_up_after) run out or
// should_stop returns true.
Connection ConnectWithRetry(const ConnectOptions& options, const RetryPolicy& policy,
                            const std::function<bool()>& should_stop = {},
                            const std::function<void(const TdsError&, std::chrono::milliseconds)>& on_retry = {});

}  // namespace sqltail::tds
