// The SQLite target: tables created from the event schema, upsert/delete statements run as the
// events arrive, and the progress table written in the same transaction as the rows.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "target.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sqltail::engine {

class SqliteTarget final : public Target {
 public:
  struct Table : TargetTable {
    sqlite3_stmt* upsert = nullptr;  // all columns, by position
    sqlite3_stmt* remove = nullptr;  // key columns (or all columns without a key), by position
    std::vector<int> delete_params;  // column index -> parameter of `remove` (0: not used)
  };

  SqliteTarget() = default;
  ~SqliteTarget() override;
  SqliteTarget(const SqliteTarget&) = delete;
  SqliteTarget& operator=(const SqliteTarget&) = delete;

  bool Open(const std::string& path, std::string& error);
  bool Begin(std::string& error) override;
  bool Commit(std::string& error) override;
  void Rollback() override;

  bool LoadProgress(ProgressMap& out, std::string& error) override;
  bool SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                    std::string& error) override;

  TargetTable* DefineTable(const std::string& name, std::vector<TargetColumn> columns, std::string& error) override;
  TargetTable* FindTable(const std::string& name) override;
  bool ForgetTable(const std::string& name, std::string& error) override;
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
  std::string Describe() const override { return "SQLite file " + path_; }

  sqlite3* handle() const { return db_; }

 private:
  bool Exec(const char* sql, std::string& error);
  // Binds the row (all columns, or the delete parameters) and runs the statement once.
  bool Run(sqlite3_stmt* stmt, const Table& table, const std::vector<FieldValue>& row, bool delete_params,
           const RowOrigin& origin, std::string& error);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* save_progress_ = nullptr;
  std::string path_;
  std::map<std::string, std::unique_ptr<Table>> tables_;
};

// Quotes an identifier for SQLite ("a""b").
std::string QuoteIdentifier(std::string_view name);
// SQLite spellings, exposed for the golden tests: the type a created column gets (INTEGER, REAL,
// BLOB, TEXT), the table DefineTable creates when missing, and the column schema evolution adds.
std::string SqliteType(const TargetColumn& column);
std::string SqliteCreateTableSql(std::string_view table, const std::vector<TargetColumn>& columns);
std::string SqliteAddColumnSql(std::string_view table, const TargetColumn& column);

}  // namespace sqltail::engine
