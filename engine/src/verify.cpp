#include "sqltail/engine/verify.h"

#include <simdjson.h>

#include <fstream>
#include <map>

#include "apply/postgres_target.h"
#include "apply/sqlite_target.h"
#include "sqltail/engine/row_checksum.h"

namespace sqltail::engine {

namespace {

bool CompareWithTarget(const std::string& source_jsonl, Target& target, const std::string& table_name_format,
                       std::vector<TableComparison>& out, std::string& error) {
  std::ifstream in(source_jsonl);
  if (!in) {
    error = "verify: cannot open " + source_jsonl;
    return false;
  }
  std::map<std::string, RowChecksum> sums;
  simdjson::dom::parser parser;
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    simdjson::dom::element root;
    std::string_view table;
    simdjson::dom::object row;
    if (parser.parse(line).get(root) || root["table"].get(table) || root["row"].get(row)) {
      error = "verify: " + source_jsonl + ":" + std::to_string(line_number) + ": not {\"table\":..., \"row\":{...}}";
      return false;
    }
    RowChecksum& sum = sums[std::string(table)];
    sum.BeginRow();
    for (auto [name, value] : row) {
      sum.Name(name);
      switch (value.type()) {
        case simdjson::dom::element_type::NULL_VALUE:
          sum.Null();
          break;
        case simdjson::dom::element_type::BOOL:
          sum.Integer(value.get_bool().value() ? 1 : 0);
          break;
        case simdjson::dom::element_type::INT64:
          sum.Integer(value.get_int64().value());
          break;
        case simdjson::dom::element_type::UINT64:
          sum.Integer(static_cast<int64_t>(value.get_uint64().value()));
          break;
        case simdjson::dom::element_type::DOUBLE:
          sum.Real(value.get_double().value());
          break;
        case simdjson::dom::element_type::STRING:
          sum.Text(value.get_string().value());
          break;
        default:
          error = "verify: " + source_jsonl + ":" + std::to_string(line_number) + ": column " + std::string(name) +
                  " is not a scalar";
          return false;
      }
    }
    sum.EndRow();
  }
  for (auto& [table, sum] : sums) {
    TableComparison c;
    c.source_table = table;
    auto dot = table.find('.');
    std::string schema = dot == std::string::npos ? "" : table.substr(0, dot);
    std::string name = dot == std::string::npos ? table : table.substr(dot + 1);
    c.target_table = table_name_format;
    for (auto [token, value] : {std::pair<std::string, std::string>{"${schema}", schema}, {"${table}", name}}) {
      for (size_t at = c.target_table.find(token); at != std::string::npos;
           at = c.target_table.find(token, at + value.size()))
        c.target_table.replace(at, token.size(), value);
    }
    c.source_rows = sum.rows();
    c.source_checksum = sum.value();
    if (!target.Checksum(c.target_table, c.target_rows, c.target_checksum, error)) return false;
    out.push_back(c);
  }
  return true;
}

}  // namespace

bool CompareWithSqlite(const std::string& source_jsonl, const std::string& sqlite_path,
                       const std::string& table_name_format, std::vector<TableComparison>& out, std::string& error) {
  SqliteTarget target;
  return target.Open(sqlite_path, error) && CompareWithTarget(source_jsonl, target, table_name_format, out, error);
}

bool CompareWithPostgres(const std::string& source_jsonl, const std::vector<std::string>& conninfo,
                         const std::string& schema, const std::string& table_name_format,
                         std::vector<TableComparison>& out, std::string& error) {
  PostgresTarget target;
  return target.Open(conninfo, schema, error) && CompareWithTarget(source_jsonl, target, table_name_format, out, error);
}

}  // namespace sqltail::engine
