// The PostgreSQL target (libpq). Rows are batched per table and written with one statement per batch
// (`INSERT ... SELECT FROM unnest($1::type[], ...) ON CONFLICT (key) DO UPDATE`, and `DELETE ... USING
// unnest(...)` for deletes); a batch keeps only the last event of each key, so the result is the
// result of applying the events in order. Rows and progress commit in one PostgreSQL transaction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "target.h"

struct pg_conn;

namespace sqltail::engine {

// Logs in with `conninfos` (libpq connection strings or URIs) merged in order, a later keyword
// winning. Null with a one-line `error` on failure; the caller PQfinish()es the connection.
pg_conn* ConnectPostgres(const std::vector<std::string>& conninfos, std::string& error);

class PostgresTarget final : public Target {
 public:
  PostgresTarget();
  ~PostgresTarget() override;
  PostgresTarget(const PostgresTarget&) = delete;
  PostgresTarget& operator=(const PostgresTarget&) = delete;

  // `conninfos`: libpq connection strings or URIs, merged in order (a later keyword wins), so the
  // secret part can come from elsewhere than the configuration file. Tables go into `schema`.
  bool Open(const std::vector<std::string>& conninfos, const std::string& schema, std::string& error);

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
  // A column-subset UPDATE by key (after writing the table's pending batch).
  bool UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row, const std::vector<bool>& unavailable,
                          const RowOrigin& origin, std::string& error) override;
  bool Truncate(const std::string& table, const RowOrigin& origin, std::string& error) override;

  bool ReadRows(const std::string& table, const StoredRowVisitor& on_row, std::string& error) override;
  std::string Describe() const override;

  struct Table;

 private:
  bool Exec(const char* sql, std::string& error);
  bool Add(Table& table, const std::vector<FieldValue>& row, const RowOrigin& origin, bool is_delete,
           std::string& error);
  bool Flush(Table& table, std::string& error);
  // After a failed batch: finds the row that fails on its own, for the error message.
  std::string DiagnoseBatch(Table& table, bool deletes, size_t first, size_t last);
  bool DeleteWithoutKey(Table& table, const std::vector<FieldValue>& row, const RowOrigin& origin, std::string& error);
  // Before an event of `table`: when it takes part in a foreign key, writes the pending batch of the
  // last such table first (and, for a self-referencing key, of a delete/upsert switch), so that those
  // tables see their events in log order.
  bool KeepForeignKeyOrder(Table& table, bool is_delete, std::string& error);

  pg_conn* conn_ = nullptr;
  std::string schema_;
  std::vector<std::unique_ptr<Table>> tables_;
  Table* ordered_pending_ = nullptr;  // the one table with a foreign key that may hold a batch
  bool ordered_pending_delete_ = false;
  uint64_t next_statement_number_ = 0;      // names prepared statements: never reused
  std::vector<std::string> column_arrays_;  // one array literal per column, reused by every flush
  std::vector<const char*> param_values_;
  std::vector<std::string> param_buffers_;
};

// Quotes an identifier for PostgreSQL ("a""b").
std::string PgQuoteIdentifier(std::string_view name);
// PostgreSQL spellings, exposed for the golden tests: the type a created column gets, the table
// DefineTable creates when missing ("schema"."table" as `qualified`), and the column schema
// evolution adds.
std::string PgColumnType(const TargetColumn& column);
std::string PgCreateTableSql(std::string_view qualified, const std::vector<TargetColumn>& columns);
std::string PgAddColumnSql(std::string_view qualified, const TargetColumn& column);
// Whether a column stored as `stored` (format_type's spelling) must become `wanted` (PgColumnType's)
// to hold every value of the new type, keeping every value it holds: smallint < integer < bigint,
// integers into a numeric with room for their digits, real < double precision (and smallint or
// integer into it), numeric(p,s) into a numeric with at least as many digits on each side of the
// point. Any other difference (text types, narrowing, a type the user chose) is left alone.
bool PgTypeWidens(std::string_view stored, std::string_view wanted);
std::string PgWidenColumnSql(std::string_view qualified, const TargetColumn& column);

}  // namespace sqltail::engine
