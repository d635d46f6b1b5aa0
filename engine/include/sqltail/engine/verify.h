// Compares a target database with the source contents a fixture records (source.jsonl): row count and
// an order-independent content checksum per table. With the fixture's catalog.json, each column is
// normalised by its SQL Server type on both sides (verify_canonical.h), so the Debezium conversions
// the capture made (dates as days, datetime2 as nanoseconds, decimals as numeric, ...) compare.
#pragma once

#include <string>
#include <vector>

#include "sqltail/engine/verify_canonical.h"

namespace sqltail::engine {

struct VerifyOptions {
  std::string table_name_format = "${table}";
  // The catalog giving the column types; empty: catalog.json next to the source rows when present,
  // else every column is compared by its value's own type (integers, reals, text).
  std::string catalog_path;
  StoredTypeModes modes;  // the capture's settings that decide the stored forms
};

struct TableComparison {
  std::string source_table;  // "dbo.test_table"
  std::string target_table;
  uint64_t source_rows = 0, target_rows = 0;
  uint64_t source_checksum = 0, target_checksum = 0;
  // "column x (type y) not compared: ..." and the like, for the report.
  std::vector<std::string> notes;
  bool Match() const { return source_rows == target_rows && source_checksum == target_checksum; }
};

bool CompareWithSqlite(const std::string& source_jsonl, const std::string& sqlite_path, const VerifyOptions& options,
                       std::vector<TableComparison>& out, std::string& error);
// `conninfo`: libpq connection strings merged in order (a later keyword wins); tables in `schema`.
bool CompareWithPostgres(const std::string& source_jsonl, const std::vector<std::string>& conninfo,
                         const std::string& schema, const VerifyOptions& options, std::vector<TableComparison>& out,
                         std::string& error);

}  // namespace sqltail::engine
