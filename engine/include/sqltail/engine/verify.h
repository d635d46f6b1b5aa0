// Compares a target database with the source contents a fixture records (source.jsonl): row count and
// an order-independent content checksum per table.
#pragma once

#include <string>
#include <vector>

namespace sqltail::engine {

struct TableComparison {
  std::string source_table;  // "dbo.test_table"
  std::string target_table;
  uint64_t source_rows = 0, target_rows = 0;
  uint64_t source_checksum = 0, target_checksum = 0;
  bool Match() const { return source_rows == target_rows && source_checksum == target_checksum; }
};

bool CompareWithSqlite(const std::string& source_jsonl, const std::string& sqlite_path,
                       const std::string& table_name_format, std::vector<TableComparison>& out, std::string& error);
// `conninfo`: libpq connection strings merged in order (a later keyword wins); tables in `schema`.
bool CompareWithPostgres(const std::string& source_jsonl, const std::vector<std::string>& conninfo,
                         const std::string& schema, const std::string& table_name_format,
                         std::vector<TableComparison>& out, std::string& error);

}  // namespace sqltail::engine
