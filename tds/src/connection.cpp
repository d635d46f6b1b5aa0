#include "sqltail/tds/connection.h"

#include <sybdb.h>
#include <sybfront.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sqltail::tds {

struct Connection::State {
  DBPROCESS* dbproc = nullptr;
  ConnectOptions options;
  // The first error of the current operation; handlers fill it, operations read and clear it.
  TdsError error;
  bool has_error = false;
  std::vector<ColumnInfo> columns;  // of the current result set; reused across result sets

  void ClearError() {
    error = TdsError{};
    has_error = false;
  }
};

namespace {

// Errors raised while dbopen() runs come before dbsetuserdata can be called; they go to the state of
// the login in progress on this thread.
thread_local Connection::State* connecting_state = nullptr;

Connection::State* StateOf(DBPROCESS* dbproc) {
  if (dbproc != nullptr) {
    if (auto* state = reinterpret_cast<Connection::State*>(dbgetuserdata(dbproc))) return state;
  }
  return connecting_state;
}

int HandleDblibError(DBPROCESS* dbproc, int /*severity*/, int dberr, int /*oserr*/, char* dberrstr, char* oserrstr) {
  if (Connection::State* state = StateOf(dbproc); state != nullptr && state->error.dblib_code == 0) {
    state->has_error = true;
    state->error.dblib_code = dberr;
    state->error.dblib_text = dberrstr != nullptr ? dberrstr : "";
    state->error.os_text = oserrstr != nullptr ? oserrstr : "";
    // strerror(0): db-lib passes it along when no system call failed; it says nothing.
    if (state->error.os_text == "Success") state->error.os_text.clear();
  }
  // Never INT_EXIT: Debian's db-lib (Sybase semantics) would call exit(). A timeout cancels the
  // operation and leaves the connection usable; anything else makes the call fail.
  return dberr == SYBETIME ? INT_TIMEOUT : INT_CANCEL;
}
static_assert(kDblibTimeout == SYBETIME, "tds/error.h names db-lib's timeout code");

int HandleServerMessage(DBPROCESS* dbproc, DBINT msgno, int msgstate, int severity, char* msgtext, char* /*srvname*/,
                        char* /*procname*/, int /*line*/) {
  // Severity <= 10 is informational (e.g. 5701 "Changed database context").
  if (severity <= 10) return 0;
  if (Connection::State* state = StateOf(dbproc); state != nullptr && state->error.server_number == 0) {
    state->has_error = true;
    state->error.server_number = msgno;
    state->error.server_severity = severity;
    state->error.server_state = msgstate;
    state->error.server_text = msgtext != nullptr ? msgtext : "";
  }
  return 0;
}

std::once_flag dblib_init_once;
std::mutex login_time_mutex;  // dbsetlogintime is process-wide

void InitDblibOnce() {
  std::call_once(dblib_init_once, [] {
    dbinit();
    dberrhandle(HandleDblibError);
    dbmsghandle(HandleServerMessage);
  });
}

std::string HostPort(const ConnectOptions& o) { return o.host + ":" + std::to_string(o.port); }

// db-lib cannot set encryption on a login record: FreeTDS's dbsetlbool() leaves DBSETENCRYPT
// "UNIMPLEMENTED" and returns FAIL (observed with 1.3.17: PRELOGIN says ENCRYPT_OFF whatever
// DBSETLENCRYPT is given), and it has no setting at all for a CA file. FreeTDS takes those from
// freetds.conf only. So a connection that needs them gets a section of its own in a private file
// that dbsetifile() names: FreeTDS tries that file first ("set programmatically") and falls back to
// the usual freetds.conf chain ($FREETDSCONF, ~/.freetds.conf, /etc/freetds/freetds.conf) for every
// name the file does not hold. The file has no [global] section, since FreeTDS would apply it to
// every connection. One file per process, sections only added, rewritten whole and renamed into place.
class PrivateFreetdsConf {
 public:
  ~PrivateFreetdsConf() {
    if (path_.empty()) return;
    std::remove(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // The section name to pass to dbopen() for these options; empty when host:port will do.
  std::string SectionFor(const ConnectOptions& o) {
    if (o.encryption == "request" && o.tls_ca_file.empty()) return {};
    for (char c : o.host + o.tls_ca_file) {
      // One line per value in freetds.conf: no line breaks; '#' and ';' start comments there.
      if (c == '\n' || c == '\r' || c == '#' || c == ';') {
        throw std::invalid_argument("host and CA file names must not contain line breaks, '#' or ';'");
      }
    }
    std::string body = "\thost = " + o.host + "\n\tport = " + std::to_string(o.port) +
                       "\n\ttds version = 7.4\n\tencryption = " + o.encryption + "\n";
    if (!o.tls_ca_file.empty()) {
      body += "\tca file = " + o.tls_ca_file +
              "\n\tcheck certificate hostname = " + std::string(o.tls_check_hostname ? "yes" : "no") + "\n";
    }
    std::lock_guard lock(mutex_);
    for (const auto& [name, existing] : sections_) {
      if (existing == body) return name;
    }
    const std::string name = "sqltail_conn_" + std::to_string(sections_.size() + 1);
    sections_.emplace_back(name, body);
    Rewrite();
    return name;
  }

 private:
  void Rewrite() {
    if (path_.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/sqltail-freetds-XXXXXX";
      if (mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("cannot create a private directory for FreeTDS settings: " +
                                 std::string(std::strerror(errno)));
      }
      dir_ = pattern;
      path_ = dir_ + "/freetds.conf";
      dbsetifile(path_.data());
    }
    std::string text = "# Written by sqltail for its own connections (see tds/src/connection.cpp).\n";
    for (const auto& [name, body] : sections_) text += "[" + name + "]\n" + body;
    const std::string temp = path_ + ".new";
    FILE* f = std::fopen(temp.c_str(), "w");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0 ||
        std::rename(temp.c_str(), path_.c_str()) != 0) {
      throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
    }
  }

  std::mutex mutex_;
  std::string dir_, path_;
  std::vector<std::pair<std::string, std::string>> sections_;
};

PrivateFreetdsConf& PrivateConf() {
  static PrivateFreetdsConf conf;
  return conf;
}

}  // namespace

int Row::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns_->size(); ++i) {
    if ((*columns_)[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool Row::IsNull(int col) const {
  auto* proc = static_cast<DBPROCESS*>(dbproc_);
  // dbdata is NULL for SQL NULL; a zero-length non-NULL value has a non-null pointer in FreeTDS.
  return dbdata(proc, col + 1) == nullptr;
}

std::span<const uint8_t> Row::Bytes(int col) const {
  auto* proc = static_cast<DBPROCESS*>(dbproc_);
  const BYTE* data = dbdata(proc, col + 1);
  if (data == nullptr) return {};
  DBINT len = dbdatlen(proc, col + 1);
  return {data, static_cast<size_t>(len < 0 ? 0 : len)};
}

std::string_view Row::Text(int col) const {
  auto bytes = Bytes(col);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::optional<int64_t> Row::Int(int col) const {
  auto bytes = Bytes(col);
  if (bytes.data() == nullptr) return std::nullopt;
  switch ((*columns_)[col].dblib_type) {
    case SYBINT1:
    case SYBINT2:
    case SYBINT4:
    case SYBINT8:
    case SYBINTN:
    case SYBBIT:
    case SYBBITN:
      break;
    default:
      return std::nullopt;
  }
  // db-lib hands integers over in host order at their wire width; tinyint and bit are unsigned.
  switch (bytes.size()) {
    case 1:
      return static_cast<int64_t>(bytes[0]);
    case 2: {
      int16_t v;
      std::memcpy(&v, bytes.data(), 2);
      return v;
    }
    case 4: {
      int32_t v;
      std::memcpy(&v, bytes.data(), 4);
      return v;
    }
    case 8: {
      int64_t v;
      std::memcpy(&v, bytes.data(), 8);
      return v;
    }
    default:
      return std::nullopt;
  }
}

Connection::Connection(std::unique_ptr<State> state) : state_(std::move(state)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (state_ && state_->dbproc != nullptr) dbclose(state_->dbproc);
    state_ = std::move(other.state_);
  }
  return *this;
}
Connection::~Connection() {
  if (state_ && state_->dbproc != nullptr) dbclose(state_->dbproc);
}

Connection Connection::Connect(const ConnectOptions& options) {
  InitDblibOnce();
  auto state = std::make_unique<State>();
  state->options = options;
  // The TLS settings are named when they are not FreeTDS's defaults: a failed login may be theirs.
  std::vector<std::string> details;
  if (!options.database.empty()) details.push_back("database " + options.database);
  const bool tls_settings = options.encryption == "require" || !options.tls_ca_file.empty();
  if (tls_settings) details.push_back("encryption " + options.encryption);
  if (!options.tls_ca_file.empty()) details.push_back("CA file " + options.tls_ca_file);
  std::string context = "login to " + HostPort(options) + " as '" + options.user + "'";
  for (size_t i = 0; i < details.size(); ++i) context += (i == 0 ? " (" : ", ") + details[i];
  if (!details.empty()) context += ")";
  std::string server;  // what dbopen() is given: host:port, or a private freetds.conf section
  auto fail = [&](std::string why) -> TdsException {
    TdsError error = state->has_error ? state->error : TdsError{};
    error.context = context;
    if (!state->has_error) error.dblib_text = std::move(why);
    // db-lib names the server it was given; a private section name would mean nothing to a reader.
    if (const size_t at = server.empty() ? std::string::npos : error.dblib_text.find(server);
        at != std::string::npos && server != HostPort(options)) {
      error.dblib_text.replace(at, server.size(), HostPort(options));
    }
    // FreeTDS reports a refused or failed TLS negotiation as the generic SYBEFCON (20002, "Adaptive Server connection
    // failed").
    if (error.dblib_code == SYBEFCON && error.server_number == 0 && (tls_settings || options.encryption == "off")) {
      error.dblib_text +=
          options.encryption == "require"
              ? "; with encryption require this also means the server offers no TLS, or the TLS handshake failed"
          : options.encryption == "off" ? "; with encryption off this also means the server requires encryption"
                                        : "; the TLS handshake may have failed";
      if (!options.tls_ca_file.empty()) {
        error.dblib_text +=
            options.tls_check_hostname
                ? " (is the server's certificate signed by the CA file, and does it name " + options.host + "?)"
                : " (is the server's certificate signed by the CA file?)";
      }
    }
    return TdsException(std::move(error));
  };
  if (options.encryption != "off" && options.encryption != "request" && options.encryption != "require") {
    throw fail("encryption must be off, request or require, not '" + options.encryption + "'");
  }

  LOGINREC* login = dblogin();
  if (login == nullptr) throw fail("dblogin() could not allocate a login record");
  DBSETLUSER(login, options.user.c_str());
  DBSETLPWD(login, options.password.c_str());
  DBSETLAPP(login, options.app_name.c_str());
  DBSETLCHARSET(login, "UTF-8");
  if (!options.database.empty()) DBSETLDBNAME(login, options.database.c_str());
  DBSETLVERSION(login, DBVERSION_74);
  if (options.packet_size > 0) DBSETLPACKET(login, options.packet_size);
  if (!options.tls_ca_file.empty() && options.encryption == "off") {
    dbloginfree(login);
    throw fail("a CA file (certificate verification) needs encryption request or require, not off");
  }
  try {
    server = PrivateConf().SectionFor(options);
  } catch (const std::exception& e) {
    dbloginfree(login);
    throw fail(e.what());
  }
  if (server.empty()) server = HostPort(options);
  DBPROCESS* dbproc = nullptr;
  {
    std::lock_guard lock(login_time_mutex);
    dbsetlogintime(options.login_timeout_s > 0 ? options.login_timeout_s : 0);
    connecting_state = state.get();
    dbproc = dbopen(login, server.c_str());
    connecting_state = nullptr;
  }
  dbloginfree(login);
  if (dbproc == nullptr) throw fail("dbopen failed without an error message");
  dbsetuserdata(dbproc, reinterpret_cast<BYTE*>(state.get()));
  state->dbproc = dbproc;
  if (options.query_timeout_s > 0) {
    const std::string seconds = std::to_string(options.query_timeout_s);
    dbsetopt(dbproc, DBSETTIME, seconds.c_str(), 0);
  }
  state->ClearError();
  return Connection(std::move(state));
}

std::optional<TdsError> Connection::Execute(std::string_view sql, const RowCallback& on_row) {
  State& s = *state_;
  s.ClearError();
  auto failed = [&](const char* why) -> std::optional<TdsError> {
    TdsError error = s.has_error ? s.error : TdsError{};
    error.context = "query on " + Where();
    if (!s.has_error) error.dblib_text = why;
    // Leave the connection ready for the next batch.
    if (!DBDEAD(s.dbproc)) dbcancel(s.dbproc);
    s.ClearError();
    return error;
  };
  if (s.dbproc == nullptr || DBDEAD(s.dbproc)) return failed("the connection is closed");

  // dbcmd needs a NUL-terminated string; one copy per batch.
  const std::string command(sql);
  if (dbcmd(s.dbproc, command.c_str()) == FAIL) return failed("dbcmd failed");
  if (dbsqlexec(s.dbproc) == FAIL) return failed("dbsqlexec failed");

  int result_index = -1;
  RETCODE rc;
  while ((rc = dbresults(s.dbproc)) != NO_MORE_RESULTS) {
    if (rc == FAIL) return failed("dbresults failed");
    ++result_index;
    const int ncols = dbnumcols(s.dbproc);
    s.columns.resize(static_cast<size_t>(ncols < 0 ? 0 : ncols));
    for (int i = 0; i < ncols; ++i) {
      const char* name = dbcolname(s.dbproc, i + 1);
      s.columns[i].name = name != nullptr ? name : "";
      s.columns[i].dblib_type = dbcoltype(s.dbproc, i + 1);
    }
    const Row row(s.dbproc, &s.columns, result_index);
    STATUS row_status;
    while ((row_status = dbnextrow(s.dbproc)) != NO_MORE_ROWS) {
      if (row_status == FAIL) return failed("dbnextrow failed");
      if (row_status == BUF_FULL) return failed("dbnextrow: row buffer full");
      if (on_row && !on_row(row)) {
        dbcancel(s.dbproc);
        if (s.has_error) return failed("cancel failed");
        return std::nullopt;
      }
    }
  }
  // An error in a later statement of the batch arrives as a message with no failing call.
  if (s.has_error) return failed("the server reported an error");
  return std::nullopt;
}

std::optional<TdsError> Connection::Execute(std::string_view sql) { return Execute(sql, RowCallback{}); }

bool Connection::IsDead() const { return state_ == nullptr || state_->dbproc == nullptr || DBDEAD(state_->dbproc); }

const ConnectOptions& Connection::options() const { return state_->options; }

std::string Connection::Where() const {
  std::string where = HostPort(state_->options);
  if (!state_->options.database.empty()) where += "/" + state_->options.database;
  return where;
}

Connection ConnectWithRetry(const ConnectOptions& options, const RetryPolicy& policy,
                            const std::function<bool()>& should_stop,
                            const std::function<void(const TdsError&, std::chrono::milliseconds)>& on_retry) {
  std::chrono::milliseconds backoff = policy.initial_backoff;
  const auto first_attempt = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    try {
      return Connection::Connect(options);
    } catch (const TdsException& e) {
      const bool out_of_attempts = policy.max_attempts > 0 && attempt >= policy.max_attempts;
      const bool out_of_time = policy.give_up_after.count() > 0 &&
                               std::chrono::steady_clock::now() + backoff - first_attempt > policy.give_up_after;
      if (out_of_attempts || out_of_time || (should_stop && should_stop())) throw;
      if (on_retry) on_retry(e.error(), backoff);
      // Sleep in short slices so should_stop is honoured promptly.
      auto deadline = std::chrono::steady_clock::now() + backoff;
      while (std::chrono::steady_clock::now() < deadline) {
        if (should_stop && should_stop()) throw;
        std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(backoff, std::chrono::milliseconds(50)));
      }
      backoff = std::min(backoff * 2, policy.max_backoff);
    }
  }
}

}  // namespace sqltail::tds
