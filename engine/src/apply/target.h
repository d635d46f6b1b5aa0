// The target database of the applier, as an interface: tables created from the event schema, rows
// upserted and deleted, and the Kafka progress written in the same transaction as the rows.
// Implementations: SqliteTarget (embedded default), PostgresTarget (libpq, batched), SqlServerTarget
// (FreeTDS db-lib, batched T-SQL).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sqltail/engine/verify_canonical.h"

namespace sqltail::engine {

// How a column's value is stored (the Connect type of the event schema, coarsely).
enum class ValueKind : uint8_t { kInteger, kReal, kText, kBoolean, kBytes, kDecimal };

struct TargetColumn {
  std::string name;
  ValueKind kind = ValueKind::kText;
  std::string connect_type;  // "int16", "int32", "float", "double", ...: picks the width where it matters
  int precision = 0;         // kDecimal: connect.decimal.precision (0: unknown)
  int scale = 0;             // kDecimal
  bool key = false;
  std::string field;  // the event field it is read from (differs from `name` after apply.fields.rename)
};

// One column value of an event row, as the JSON carried it. Text of kBytes columns is the decoded
// bytes, text of kDecimal columns the decimal rendering ("-12.50"). Views live until the next event.
struct FieldValue {
  enum class Type : uint8_t { kNull, kBool, kInteger, kReal, kText };
  Type type = Type::kNull;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string_view text;
};

// Where an event came from; `topic` views a string that outlives the applier's run.
struct RowOrigin {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

class TargetTable {
 public:
  virtual ~TargetTable() = default;
  std::string name;
  std::vector<TargetColumn> columns;
  bool has_key = false;
  // The "after" struct of the event schema it was defined from (the applier's): the number of its
  // fields and a hash of their types (Connect type, logical name, decimal precision and scale). An
  // event whose struct differs in either defines the table again (the source's structure changed).
  size_t event_fields = 0;
  uint64_t event_types = 0;
};

// What EvolveTable did.
struct EvolveResult {
  bool created = false;            // the target had no such table: created
  std::vector<std::string> added;  // the columns added to an existing table
  // Columns of an existing table whose stored type could not hold every value of the type the
  // events now have, widened to it ("name old -> new"; PostgreSQL only).
  std::vector<std::string> widened;
};

using ProgressMap = std::map<std::pair<std::string, int32_t>, int64_t>;  // (topic, partition) -> next offset

class Target {
 public:
  virtual ~Target() = default;
  virtual bool Begin(std::string& error) = 0;
  // Writes what is still pending, then commits.
  virtual bool Commit(std::string& error) = 0;
  // Also forgets the tables defined so far (a table created in the rolled-back transaction is gone):
  // the next event of a table defines it again.
  virtual void Rollback() = 0;

  virtual bool LoadProgress(ProgressMap& out, std::string& error) = 0;
  // Compare and set: the stored progress must still be `expected` (negative: no row yet), else the
  // save fails with TakeProgressMoved() true, now or at Commit (a target may defer the write). So
  // of two appliers that read the same progress (a zombie past its group membership, two
  // instances on one target by mistake) only the first to commit applies those events.
  virtual bool SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                            std::string& error) = 0;
  // True once after a save (or the commit holding it) failed because the progress had moved.
  bool TakeProgressMoved() { return std::exchange(progress_moved_, false); }
  bool progress_moved() const { return progress_moved_; }

  // Creates the table when missing and prepares its statements.
  virtual TargetTable* DefineTable(const std::string& name, std::vector<TargetColumn> columns, std::string& error) = 0;
  virtual TargetTable* FindTable(const std::string& name) = 0;
  // Writes what is pending for the table and forgets its definition: the next event defines it again.
  virtual bool ForgetTable(const std::string& name, std::string& error) = 0;
  // Schema evolution (apply.schema_evolution = basic): makes table `name` hold every column of
  // `columns`, after the earlier events (what is pending is written first). A table the target
  // lacks is created as DefineTable creates it; otherwise each column it lacks (by name, compared as
  // the database compares names) is added, nullable, of the type DefineTable would give it. Nothing
  // is ever dropped or changed: a column the target has keeps its type. Idempotent: a column that
  // exists is not added again. The table's definition is forgotten (ForgetTable). Errors name `origin`.
  virtual bool EvolveTable(const std::string& name, const std::vector<TargetColumn>& columns, const RowOrigin& origin,
                           EvolveResult& result, std::string& error) = 0;

  // `row` holds one value per column of `table`. A target may defer the write to Commit (or to its
  // next batch); the effect is as if the calls ran in order. Errors (now or later) name the origin
  // of the row that failed: "topic T, partition P, offset O: table X, key (k)=(v): ...".
  virtual bool Upsert(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                      std::string& error) = 0;
  virtual bool Delete(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                      std::string& error) = 0;
  // An update whose columns marked in `unavailable` (the log did not determine them) must keep
  // their current values: only the other columns are written, to the existing row with the key of
  // `row`. A row that is not there is an error (its missing values cannot be made up). The default
  // refuses, so a target that does not implement it stops rather than overwrite data.
  virtual bool UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row,
                                  const std::vector<bool>& unavailable, const RowOrigin& origin, std::string& error);

  // A truncate event: every row of the table goes, after the earlier events and before the later ones.
  // By name: the table need not be defined in this run (a truncate event has no key to define it
  // with); a table the target does not have is left alone.
  virtual bool Truncate(const std::string& table, const RowOrigin& origin, std::string& error) = 0;

  // Every row of `table` as stored, for verify (which normalises and hashes them): `on_row` gets the
  // column names and one row's values, views valid during the call. Integers as kInteger, floats as
  // kReal, PostgreSQL boolean as kBool, BLOB/bytea as kBytes, everything else (numeric too) as kText.
  using StoredRowVisitor =
      std::function<void(const std::vector<std::string>& columns, const std::vector<VerifyValue>& row)>;
  virtual bool ReadRows(const std::string& table, const StoredRowVisitor& on_row, std::string& error) = 0;

  // For logs: "SQLite file X", "PostgreSQL host:port/db schema s".
  virtual std::string Describe() const = 0;

 protected:
  // "topic T, partition P: the stored progress is no longer E ..." and progress_moved_ set.
  std::string ProgressMoved(const std::string& topic, int32_t partition, int64_t expected);
  bool progress_moved_ = false;
};

// In the text of every progress-moved error (the SQL Server target finds it in the server's message).
inline constexpr std::string_view kProgressMovedMarker = "sqltail: progress moved";
// The progress rows (topic, partition 0) saying which transactional instance applies a set of
// topics into the target: this prefix and a hash of the set. next_offset counts the target
// transactions that saved it. ':' is not allowed in a Kafka topic name, so no partition is named so.
inline constexpr std::string_view kOwnerTopicPrefix = "sqltail:owner:";

// FNV-1a over `bytes`, continuing from `hash` (start with kFnvOffset). Not for untrusted keys of
// hash tables an attacker could fill.
inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;
inline uint64_t Fnv1a(uint64_t hash, std::string_view bytes) {
  for (char c : bytes) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return hash;
}

// "topic T, partition P, offset O"
std::string DescribeOrigin(const RowOrigin& origin);
// "(a, b)=(1, x)": the key columns of a row (every column for a table without a key).
std::string DescribeKey(const TargetTable& table, const std::vector<FieldValue>& row);

}  // namespace sqltail::engine
