// The captured tables: allocation unit -> table layout, primary key and names.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/table_layout.h"

namespace sqltail::logreader {

struct CapturedTable {
  int64_t object_id = 0;
  int index_id = 0;  // 0 heap, 1 clustered
  uint64_t partition_id = 0;
  uint64_t hobt_id = 0;
  uint64_t allocation_unit_id = 0;  // the IN_ROW_DATA allocation unit the row records name
  TableLayout layout;
  std::vector<size_t> key_columns;  // indices into layout.columns, in key_ordinal order; empty: no key
  // The first LSN this version of the table's layout applies to (zero: the first version known).
  Lsn valid_from;

  std::string QualifiedName() const { return layout.schema + "." + layout.table; }  // "dbo.test_table"
  // Same physical layout, names, key and allocation unit (valid_from aside).
  bool SameStructure(const CapturedTable& other) const {
    return object_id == other.object_id && index_id == other.index_id && partition_id == other.partition_id &&
           hobt_id == other.hobt_id && allocation_unit_id == other.allocation_unit_id && layout == other.layout &&
           key_columns == other.key_columns;
  }
};

// A change of a captured table between two catalog versions (docs/operator-guide.md "Schema changes").
enum class TableChangeKind : uint8_t { kCreate, kAlter, kDrop };
std::string_view TableChangeKindName(TableChangeKind kind);  // "CREATE", "ALTER", "DROP"

struct TableChange {
  Lsn lsn;  // the version's valid_from
  TableChangeKind kind = TableChangeKind::kCreate;
  const CapturedTable* table = nullptr;     // the new version; for kDrop the last one
  const CapturedTable* previous = nullptr;  // the version before (null for kCreate)
};

// A system base table whose rows describe tables and columns (log-internals.md section 6): a
// committed transaction that writes one of them may have changed a captured table.
struct SystemAllocationUnit {
  std::string name;  // "sys.syscolpars"
  uint64_t allocation_unit_id = 0;
};

// One row of the catalog query (docs/fixture-format.md "The catalog query").
struct CatalogQueryRow {
  std::string schema_name, table_name;
  int64_t object_id = 0;
  int index_id = 0;
  uint64_t partition_id = 0, hobt_id = 0, allocation_unit_id = 0;
  std::string data_compression_desc;
  int partition_column_id = 0;
  ColumnLayout column;
};

// The captured tables, versioned by LSN: the first version is what was read first; each schema
// change adds a version from the LSN it applies to. Versions are never freed (buffered changes and
// encoders point at them; schema changes are rare).
class Catalog {
 public:
  std::string server_name;
  std::string database;

  // Adds a table to the first version (before any Update).
  void Add(CapturedTable table);
  // The current version of the table whose rows live in the allocation unit (null: not captured).
  const CapturedTable* FindByAllocationUnit(uint64_t allocation_unit_id) const;
  // The version in force at `lsn` (null: not captured then).
  const CapturedTable* FindByAllocationUnit(uint64_t allocation_unit_id, Lsn lsn) const;
  const CapturedTable* FindByName(std::string_view schema, std::string_view table) const;  // current
  const std::vector<const CapturedTable*>& tables() const { return current_; }             // current

  // Keeps only the tables whose "schema.table" matches one of the include patterns (all when empty)
  // and none of the exclude patterns, in every version (later Updates too). Patterns use * and ?
  // wildcards, case-insensitive, as Debezium's table.include.list does with regular expressions.
  void Filter(const std::vector<std::string>& include, const std::vector<std::string>& exclude);

  // Adds `fresh`'s current tables as the version from `from` (which must be after every version's):
  // tables are matched by object id; a table whose structure is unchanged keeps its version. Returns
  // the changes (also kept in changes()). A table renamed out of the filter is a drop, into it a create.
  std::vector<TableChange> Update(Catalog fresh, Lsn from);
  // Every change so far, in LSN order; those with lsn in [from, through].
  const std::vector<TableChange>& changes() const { return changes_; }
  std::vector<TableChange> ChangesIn(Lsn from, Lsn through) const;
  // Whether a version begins in [from, through] (known in advance, as a fixture's versions are).
  bool HasVersionIn(Lsn from, Lsn through) const;
  Lsn NewestVersionLsn() const { return versions_.empty() ? Lsn() : versions_.back().from; }

  // System base tables whose changes mark a schema change (empty: not known; only transaction names
  // then tell, see docs/operator-guide.md "Schema changes").
  void SetSystemAllocationUnits(std::vector<SystemAllocationUnit> units);
  const std::vector<SystemAllocationUnit>& system_allocation_units() const { return system_units_; }
  const SystemAllocationUnit* FindSystemAllocationUnit(uint64_t allocation_unit_id) const;
  // Why the system allocation units are not known, when the query for them failed.
  std::string system_allocation_units_error;

  // catalog.json of a fixture: every version, each from its from_lsn (the first from the start).
  static std::optional<Catalog> FromFixtureJson(std::string_view json, std::string& error);
  // Rows of the catalog query, grouped by allocation unit and ordered by partition_column_id.
  static std::optional<Catalog> FromQueryRows(std::vector<CatalogQueryRow> rows, std::string& error);

  // The schema history (docs/events.md "The schema history"): one record per table and version,
  // {"from_lsn": L, "object_id": N, "tables": [its partitions as catalog.json table entries]} with
  // "tables" empty when the table is no longer captured from L. The first version's records have
  // LSN zero and "first": `generation`; a later first version (a new snapshot) replaces all before.
  std::vector<std::string> FirstHistoryRecords(std::string_view generation) const;
  std::vector<std::string> HistoryRecords(std::span<const TableChange> changes) const;
  // Rebuilds the versions from the records, in order; tables of `current` that the history does not
  // hold (captured since the filter was widened) join the first version. Server name, database
  // and system allocation units come from `current`.
  static std::optional<Catalog> FromHistory(std::span<const std::string> records, const Catalog& current,
                                            std::string& error);

 private:
  struct Version {
    Lsn from;
    std::vector<std::unique_ptr<CapturedTable>> tables;  // as read (stable addresses), unfiltered
  };
  // Rebuilds current_, changes_ and by_allocation_unit_ from versions_ under the filter.
  void Derive();
  // One version on top of current_: appends to changes_ and by_allocation_unit_.
  void DeriveVersion(const Version& version, bool first, std::vector<TableChange>* out);
  bool Selected(const CapturedTable& table) const;

  std::vector<Version> versions_;
  std::vector<std::string> include_, exclude_;
  std::vector<const CapturedTable*> current_;
  std::vector<TableChange> changes_;
  // Per allocation unit, its versions in LSN order (a null table: not captured from then on).
  struct UnitVersion {
    Lsn from;
    const CapturedTable* table;
  };
  std::unordered_map<uint64_t, std::vector<UnitVersion>> by_allocation_unit_;
  std::vector<SystemAllocationUnit> system_units_;  // sorted by allocation_unit_id
};

bool WildcardMatch(std::string_view pattern, std::string_view text);  // case-insensitive, * and ?

// A table as a catalog.json table entry (every layout key, so that parsing it gives the same table).
void AppendCapturedTableJson(const CapturedTable& table, std::string& out);

}  // namespace sqltail::logreader
