// The SQLite target: tables created from the event schema, upsert/delete statements, and the
// progress table written in the same transaction as the rows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace sqltail::engine {

// How a column's JSON value is stored.
enum class ValueKind : uint8_t { kInteger, kReal, kText, kBoolean, kBytes, kDecimal };

struct TargetColumn {
  std::string name;
  ValueKind kind = ValueKind::kText;
  int scale = 0;  // kDecimal
  bool key = false;
};

class SqliteTarget {
 public:
  struct Table {
    std::string name;
    std::vector<TargetColumn> columns;
    sqlite3_stmt* upsert = nullptr;  // all columns, by position
    sqlite3_stmt* remove = nullptr;  // key columns (or all columns without a key), by position
    std::vector<int> delete_params;  // column index -> parameter of `remove` (0: not used)
  };

  SqliteTarget() = default;
  ~SqliteTarget();
  SqliteTarget(const SqliteTarget&) = delete;
  SqliteTarget& operator=(const SqliteTarget&) = delete;

  bool Open(const std::string& path, std::string& error);
  bool Begin(std::string& error);
  bool Commit(std::string& error);
  void Rollback();

  // The stored progress: (topic, partition) -> next offset to read.
  bool LoadProgress(std::map<std::pair<std::string, int32_t>, int64_t>& out, std::string& error);
  bool SaveProgress(const std::string& topic, int32_t partition, int64_t next_offset, std::string& error);

  // Creates the table when missing and prepares its statements.
  Table* DefineTable(const std::string& name, std::vector<TargetColumn> columns, std::string& error);
  Table* FindTable(const std::string& name);

  // Row hashes for verification: count and an order-independent checksum of every row.
  bool Checksum(const std::string& table, uint64_t& rows, uint64_t& checksum, std::string& error);

  sqlite3* handle() const { return db_; }

 private:
  bool Exec(const char* sql, std::string& error);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* save_progress_ = nullptr;
  std::map<std::string, std::unique_ptr<Table>> tables_;
};

// Quotes an identifier for SQLite ("a""b").
std::string QuoteIdentifier(std::string_view name);

}  // namespace sqltail::engine
