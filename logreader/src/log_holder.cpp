// capture.log_safeguard = open_transaction: transactions held open on dedicated connections.
//
// Facts this relies on (Microsoft's documentation):
//   * "Managing Long-Running Transactions" (SQL Server 2008 R2 docs, ms366331): while a transaction
//     is open, the virtual log file holding its first record stays active and truncation cannot
//     proceed past it.
//   * sys.dm_tran_session_transactions (session_id, transaction_id) and
//     sys.dm_tran_database_transactions.database_transaction_begin_lsn, numeric(25,0): "LSN of the
//     begin record for the transaction in the database log"; both need VIEW SERVER STATE.
//   * Accelerated database recovery truncates the log aggressively even with long-running
//     transactions open, so on such a database an open transaction holds nothing: refused here.
// Assumed and unconfirmed: that the numeric(25,0) begin LSN is the [Current LSN] of the transaction's
// LOP_BEGIN_XACT as fn_dblog shows it (vlf * 10^15 + block * 10^5 + slot, as msdb's LSNs are). The
// capture checks it against the log it reads (engine/src/open_transaction_safeguard.cpp): a mismatch
// is reported as a safeguard failure and the safeguard then never releases a transaction, so a wrong
// assumption retains more log, never less.
#include <optional>

#include "sqltail/logreader/live_source.h"

namespace sqltail::logreader {

namespace {

std::string Quoted(std::string_view name) {
  std::string out = "[";
  for (char c : name) {
    out += c;
    if (c == ']') out += ']';
  }
  return out + "]";
}

std::string NString(std::string_view text) {
  std::string out = "N'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string QualifiedName(const LogHoldOptions& options) {
  return Quoted(options.schema) + "." + Quoted(options.table);
}

}  // namespace

std::string SafeguardCreateBatch(const LogHoldOptions& options) {
  const std::string name = QualifiedName(options);
  return "IF OBJECT_ID(" + NString(name) + ", N'U') IS NULL\n" + "CREATE TABLE " + name +
         " (owner nvarchar(128) NOT NULL, slot tinyint NOT NULL, generation bigint NOT NULL, "
         "held_since datetime2(3) NOT NULL, PRIMARY KEY CLUSTERED (owner, slot))";
}

const char* const kSafeguardAdrQuery =
    "IF COL_LENGTH(N'sys.databases', N'is_accelerated_database_recovery_on') IS NULL\n"
    "  SELECT CAST(0 AS int) AS adr_on\n"
    "ELSE\n"
    "  EXEC(N'SELECT CAST(is_accelerated_database_recovery_on AS int) AS adr_on FROM sys.databases "
    "WHERE database_id = DB_ID()')";

std::string SafeguardHoldBatch(const LogHoldOptions& options, int slot) {
  const std::string name = QualifiedName(options);
  const std::string key = "owner = " + NString(options.owner) + " AND slot = " + std::to_string(slot);
  // The UPDATE always changes the row (generation + 1), so the transaction writes a log record and
  // has a begin LSN. The row is found by its clustered key: the two slots never block each other.
  return "SET XACT_ABORT OFF; SET LOCK_TIMEOUT 10000;\n"
         "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;\n"
         "BEGIN TRANSACTION;\n"
         "UPDATE " +
         name + " SET generation = generation + 1, held_since = SYSUTCDATETIME() WHERE " + key +
         ";\n"
         "IF @@ROWCOUNT = 0 INSERT INTO " +
         name + " (owner, slot, generation, held_since) VALUES (" + NString(options.owner) + ", " +
         std::to_string(slot) +
         ", 1, SYSUTCDATETIME());\n"
         "SELECT CAST(dt.database_transaction_begin_lsn AS nvarchar(30)) AS begin_lsn, @@TRANCOUNT AS trancount\n"
         "FROM sys.dm_tran_session_transactions AS st\n"
         "JOIN sys.dm_tran_database_transactions AS dt ON dt.transaction_id = st.transaction_id\n"
         "WHERE st.session_id = @@SPID AND dt.database_id = DB_ID()";
}

const char* const kSafeguardCheckQuery = "SELECT @@TRANCOUNT AS trancount";
const char* const kSafeguardReleaseBatch = "IF @@TRANCOUNT > 0 COMMIT TRANSACTION";

namespace {

class LiveHolder final : public LogHolder {
 public:
  LiveHolder(tds::ConnectOptions connect, LogHoldOptions options, std::function<void(const std::string&)> log)
      : connect_(std::move(connect)), options_(std::move(options)), log_(std::move(log)) {
    connect_.app_name = "sqltail-safeguard";
  }

  ~LiveHolder() override {
    for (int slot = 0; slot < kSlots; ++slot) {
      std::string ignored;
      if (slots_[slot].holding) (void)Release(slot, ignored);
    }
  }

  bool Prepare(std::string& error, bool& fatal) override {
    fatal = false;
    if (!Connected(0, error)) return false;
    tds::Connection& c = *slots_[0].connection;
    std::optional<int64_t> adr;
    bool answered = false;
    if (auto e = c.Execute(kSafeguardAdrQuery, [&](const tds::Row& row) {
          const int col = row.ColumnIndex("adr_on");
          answered = true;
          if (col >= 0) adr = row.Int(col);
          return false;
        })) {
      error = "log safeguard: checking accelerated database recovery: " + e->ToString();
      return false;
    }
    if (!answered || !adr) {
      error = "log safeguard: the accelerated database recovery check answered no adr_on value";
      return false;
    }
    if (*adr != 0) {
      fatal = true;
      error = "log safeguard: accelerated database recovery is on in " + c.Where() +
              ": SQL Server then truncates the log past open transactions, so capture.log_safeguard = open_transaction "
              "cannot hold it (use repldone or none; see the operator guide)";
      return false;
    }
    if (auto e = c.Execute(SafeguardCreateBatch(options_))) {
      error = "log safeguard: creating " + options_.schema + "." + options_.table +
              " (needs CREATE TABLE and ALTER on the schema, or create it beforehand): " + e->ToString();
      return false;
    }
    return true;
  }

  bool Hold(int slot, Lsn& begin, std::string& error) override {
    if (!Connected(slot, error)) return false;
    Slot& s = slots_[slot];
    std::string begin_text;
    bool begin_null = true;
    std::optional<int64_t> trancount;
    int rows = 0;
    auto e = s.connection->Execute(SafeguardHoldBatch(options_, slot), [&](const tds::Row& row) {
      ++rows;
      const int lsn_col = row.ColumnIndex("begin_lsn");
      const int count_col = row.ColumnIndex("trancount");
      if (lsn_col >= 0 && !row.IsNull(lsn_col)) {
        begin_null = false;
        begin_text = std::string(row.Text(lsn_col));
      }
      if (count_col >= 0) trancount = row.Int(count_col);
      return true;
    });
    const std::string where = "log safeguard: holding a transaction on connection " + std::to_string(slot);
    auto give_up = [&](const std::string& why) {
      error = where + ": " + why;
      if (!s.connection->IsDead()) (void)s.connection->Execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION");
      return false;
    };
    if (e) return give_up(e->ToString());
    if (rows != 1)
      return give_up("the begin LSN query returned " + std::to_string(rows) +
                     " rows, not one (sys.dm_tran_session_transactions needs VIEW SERVER STATE)");
    if (begin_null) return give_up("database_transaction_begin_lsn is NULL: the transaction wrote no log record");
    auto parsed = Lsn::Parse(begin_text);
    if (!parsed || parsed->IsZero())
      return give_up("database_transaction_begin_lsn '" + begin_text + "' is not an LSN");
    if (!trancount || *trancount != 1)
      return give_up("@@TRANCOUNT is " + (trancount ? std::to_string(*trancount) : std::string("unknown")) + ", not 1");
    s.holding = true;
    begin = *parsed;
    return true;
  }

  bool Check(int slot, bool& open, std::string& error) override {
    Slot& s = slots_[slot];
    open = false;
    if (!s.holding) return true;
    if (!s.connection || s.connection->IsDead()) {
      s.holding = false;
      return true;
    }
    std::optional<int64_t> trancount;
    auto e = s.connection->Execute(kSafeguardCheckQuery, [&](const tds::Row& row) {
      const int col = row.ColumnIndex("trancount");
      if (col >= 0) trancount = row.Int(col);
      return false;
    });
    if (e) {
      if (s.connection->IsDead()) {
        s.holding = false;
        return true;
      }
      error = "log safeguard: checking the transaction on connection " + std::to_string(slot) + ": " + e->ToString();
      return false;
    }
    if (!trancount) {
      error = "log safeguard: SELECT @@TRANCOUNT on connection " + std::to_string(slot) + " answered no value";
      return false;
    }
    open = *trancount >= 1;
    if (!open) s.holding = false;
    return true;
  }

  bool Release(int slot, std::string& error) override {
    Slot& s = slots_[slot];
    if (!s.holding) return true;
    s.holding = false;  // committed, or rolled back by the server with the lost connection
    if (!s.connection || s.connection->IsDead()) {
      error = "log safeguard: releasing connection " + std::to_string(slot) +
              ": the connection is gone (the server rolled the transaction back)";
      return false;
    }
    if (auto e = s.connection->Execute(kSafeguardReleaseBatch)) {
      error = "log safeguard: committing the transaction on connection " + std::to_string(slot) + ": " + e->ToString();
      return false;
    }
    return true;
  }

  uint64_t Reconnects() const override { return reconnects_; }

 private:
  struct Slot {
    std::optional<tds::Connection> connection;
    bool holding = false;
  };

  bool Connected(int slot, std::string& error) {
    if (slot < 0 || slot >= kSlots) {
      error = "log safeguard: no connection " + std::to_string(slot);
      return false;
    }
    Slot& s = slots_[slot];
    if (s.connection && !s.connection->IsDead()) return true;
    const bool lost = s.connection.has_value();
    s.connection.reset();
    s.holding = false;
    try {
      s.connection = tds::Connection::Connect(connect_);
    } catch (const tds::TdsException& e) {
      error = std::string("log safeguard: connecting connection ") + std::to_string(slot) + ": " + e.what();
      return false;
    }
    if (lost) {
      ++reconnects_;
      if (log_)
        log_("log safeguard: connection " + std::to_string(slot) + " to " + s.connection->Where() + " reconnected");
    }
    return true;
  }

  tds::ConnectOptions connect_;
  LogHoldOptions options_;
  std::function<void(const std::string&)> log_;
  Slot slots_[kSlots];
  uint64_t reconnects_ = 0;
};

}  // namespace

std::unique_ptr<LogHolder> OpenLiveHolder(const tds::ConnectOptions& connect, const LogHoldOptions& options,
                                          std::function<void(const std::string&)> log) {
  return std::make_unique<LiveHolder>(connect, options, std::move(log));
}

}  // namespace sqltail::logreader
