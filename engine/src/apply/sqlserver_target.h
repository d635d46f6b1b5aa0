// The SQL Server target (FreeTDS db-lib through tds::Connection). Events become T-SQL text with
// literal values, appended in event order to one pending batch per target transaction:
//   BEGIN TRANSACTION;  MERGE ... (several rows) ...;  DELETE ... (several keys) ...;  progress;  COMMIT TRANSACTION;
// Consecutive events of one table and kind share one statement (up to kRowsPerStatement rows); the
// batch is sent when it passes kBatchBytes and at commit. Event order is kept across tables, so
// foreign keys hold. See docs/operator-guide.md ("SQL Server target") for the choices.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "target.h"

namespace sqltail::tds {
struct ConnectOptions;
}

namespace sqltail::engine {

// Where the target's T-SQL goes: a live connection, or a recorder in tests.
class SqlServerSession {
 public:
  // One row of a result set: each cell as text (integers in decimal), nullopt for NULL.
  using RowHandler = std::function<void(std::span<const std::optional<std::string_view>> cells)>;
  virtual ~SqlServerSession() = default;
  // Runs a batch; false with a one-line `error` on any error of the batch.
  virtual bool Execute(std::string_view sql, const RowHandler& on_row, std::string& error) = 0;
  virtual std::string Describe() const = 0;
};

// A session over tds::Connection; null with `error` when the login fails.
std::unique_ptr<SqlServerSession> ConnectSqlServer(const tds::ConnectOptions& options, std::string& error);

class SqlServerTarget final : public Target {
 public:
  static constexpr size_t kRowsPerStatement = 1000;  // rows of one MERGE / DELETE / INSERT
  static constexpr size_t kBatchBytes = 1 << 20;     // a pending batch is sent past this size

  struct Table;

  SqlServerTarget(std::unique_ptr<SqlServerSession> session, std::string schema);
  ~SqlServerTarget() override;
  SqlServerTarget(const SqlServerTarget&) = delete;
  SqlServerTarget& operator=(const SqlServerTarget&) = delete;

  // Creates the progress table when missing.
  bool Open(std::string& error);

  bool Begin(std::string& error) override;
  bool Commit(std::string& error) override;
  void Rollback() override;

  bool LoadProgress(ProgressMap& out, std::string& error) override;
  bool SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                    std::string& error) override;

  TargetTable* DefineTable(const std::string& name, std::vector<TargetColumn> columns, std::string& error) override;
  TargetTable* FindTable(const std::string& name) override;
  bool ForgetTable(const std::string& name, std::string& error) override;
  // The columns it lacks come as IF COL_LENGTH(...) IS NULL ALTER TABLE ... ADD, sent at once.
  bool EvolveTable(const std::string& name, const std::vector<TargetColumn>& columns, const RowOrigin& origin,
                   EvolveResult& result, std::string& error) override;

  bool Upsert(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
              std::string& error) override;
  bool Delete(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
              std::string& error) override;
  bool UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row, const std::vector<bool>& unavailable,
                          const RowOrigin& origin, std::string& error) override;
  bool Truncate(const std::string& table, const RowOrigin& origin, std::string& error) override;

  bool ReadRows(const std::string& table, const StoredRowVisitor& on_row, std::string& error) override;
  std::string Describe() const override;

 private:
  enum class Run : uint8_t { kNone, kMerge, kInsert, kDelete };
  // Appends one row to the open statement of `kind` for `table` (opening a new one when needed).
  bool AddRow(Table& table, Run kind, const std::vector<FieldValue>& row, const RowOrigin& origin, std::string& error);
  void CloseRun();
  // Notes one event in the pending batch (for error messages).
  void NoteEvent(const Table& table, const std::vector<FieldValue>* row, const RowOrigin& origin);
  bool SendPending(std::string& error);
  // The target's columns of [schema].[table] (name, is_identity): read from sys.columns once, then
  // kept with what this target created or added (forgotten at Rollback). Null with `error`.
  using StoredColumn = std::pair<std::string, bool>;
  const std::vector<StoredColumn>* StoredColumns(const std::string& qualified, std::string& error);
  void Remember(const std::string& qualified, const std::vector<TargetColumn>& columns);
  std::map<std::string, std::vector<StoredColumn>> catalog_;
  bool MaybeSend(std::string& error);

  std::unique_ptr<SqlServerSession> session_;
  std::string schema_;
  std::string progress_table_;  // [schema].[sqltail_progress]
  std::vector<std::unique_ptr<Table>> tables_;

  std::string pending_;  // T-SQL not sent yet
  bool sent_in_transaction_ = false;
  // The open statement.
  Run run_ = Run::kNone;
  Table* run_table_ = nullptr;
  size_t run_rows_ = 0;
  std::vector<uint64_t> run_keys_;  // open addressing on key hashes of the run's rows (0 = empty)
  std::string key_scratch_;         // the key literals of the row being added
  std::vector<size_t> run_slots_;   // the slots of run_keys_ in use
  // Events in `pending_`, for error messages.
  size_t pending_events_ = 0;
  RowOrigin first_origin_, last_origin_;
  std::string first_event_;  // "table T, key (k)=(v)" of the first event
};

// T-SQL spellings, exposed for the golden tests.
std::string SqlServerQuoteIdentifier(std::string_view name);          // [a]]b]
void AppendSqlServerString(std::string& out, std::string_view utf8);  // N'it''s'
std::string SqlServerType(const TargetColumn& column);                // the type a created column gets
// CREATE TABLE [s].[t] (...); of a table DefineTable or EvolveTable creates (`qualified`: [s].[t]).
std::string SqlServerCreateTableSql(std::string_view qualified, const std::vector<TargetColumn>& columns);
// IF COL_LENGTH(N'[s].[t]', N'c') IS NULL ALTER TABLE [s].[t] ADD [c] type NULL; (schema evolution)
std::string SqlServerAddColumnSql(std::string_view qualified, const TargetColumn& column);

}  // namespace sqltail::engine
