// The captured tables: allocation unit -> table layout, primary key and names.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

  std::string QualifiedName() const { return layout.schema + "." + layout.table; }  // "dbo.test_table"
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

class Catalog {
 public:
  std::string server_name;
  std::string database;

  void Add(CapturedTable table);
  const CapturedTable* FindByAllocationUnit(uint64_t allocation_unit_id) const;
  const CapturedTable* FindByName(std::string_view schema, std::string_view table) const;
  const std::vector<std::unique_ptr<CapturedTable>>& tables() const { return tables_; }

  // Keeps only the tables whose "schema.table" matches one of the include patterns (all when empty)
  // and none of the exclude patterns. Patterns use * and ? wildcards, case-insensitive, as Debezium's
  // table.include.list does with regular expressions.
  void Filter(const std::vector<std::string>& include, const std::vector<std::string>& exclude);

  // catalog.json of a fixture: the newest version. (Versions by LSN come with schema changes.)
  static std::optional<Catalog> FromFixtureJson(std::string_view json, std::string& error);
  // Rows of the catalog query, grouped by allocation unit and ordered by partition_column_id.
  static std::optional<Catalog> FromQueryRows(std::vector<CatalogQueryRow> rows, std::string& error);

 private:
  std::vector<std::unique_ptr<CapturedTable>> tables_;  // stable addresses: events point at them
  std::unordered_map<uint64_t, const CapturedTable*> by_allocation_unit_;
};

bool WildcardMatch(std::string_view pattern, std::string_view text);  // case-insensitive, * and ?

}  // namespace sqltail::logreader
