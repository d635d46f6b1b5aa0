#include "sqltail/engine/verify.h"

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "apply/postgres_target.h"
#include "apply/sqlite_target.h"
#include "sqltail/engine/row_checksum.h"
#include "sqltail/logreader/catalog.h"

namespace sqltail::engine {

namespace {

// The columns of one table by name, with how each is normalised. Columns the catalog does not name
// (or all, without a catalog) are compared untyped.
class TableColumns {
 public:
  TableColumns(const logreader::CapturedTable* table, const StoredTypeModes& modes) {
    if (table == nullptr) return;
    for (const auto& column : table->layout.columns) {
      if (!column.IsRendered()) continue;
      auto canonicaliser = ColumnCanonicaliser::ForColumn(column, modes);
      if (!canonicaliser.note().empty())
        notes_.push_back("column " + *column.name + " (type " + column.type_name + ") " + canonicaliser.note());
      by_name_.emplace(*column.name, std::move(canonicaliser));
    }
  }
  const ColumnCanonicaliser& Find(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? untyped_ : it->second;
  }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::map<std::string, ColumnCanonicaliser> by_name_;
  ColumnCanonicaliser untyped_ = ColumnCanonicaliser::Untyped();
  std::vector<std::string> notes_;
};

std::optional<logreader::Catalog> LoadCatalog(const std::string& source_jsonl, const std::string& catalog_path,
                                              std::string& error) {
  std::filesystem::path path = catalog_path;
  if (path.empty()) {
    path = std::filesystem::path(source_jsonl).parent_path() / "catalog.json";
    if (!std::filesystem::exists(path)) return logreader::Catalog{};  // no types: compared as before
  }
  std::ifstream in(path);
  if (!in) {
    error = "verify: cannot open " + path.string();
    return std::nullopt;
  }
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto catalog = logreader::Catalog::FromFixtureJson(json, error);
  if (!catalog) error = "verify: " + path.string() + ": " + error;
  return catalog;
}

bool CompareWithTarget(const std::string& source_jsonl, Target& target, const VerifyOptions& options,
                       std::vector<TableComparison>& out, std::string& error) {
  const auto catalog = LoadCatalog(source_jsonl, options.catalog_path, error);
  if (!catalog) return false;
  std::ifstream in(source_jsonl);
  if (!in) {
    error = "verify: cannot open " + source_jsonl;
    return false;
  }
  std::map<std::string, TableColumns> columns_of;
  auto columns_for = [&](const std::string& table) -> const TableColumns& {
    auto it = columns_of.find(table);
    if (it != columns_of.end()) return it->second;
    const auto dot = table.find('.');
    const logreader::CapturedTable* captured =
        dot == std::string::npos ? nullptr : catalog->FindByName(table.substr(0, dot), table.substr(dot + 1));
    return columns_of.emplace(table, TableColumns(captured, options.modes)).first->second;
  };
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
    const TableColumns& columns = columns_for(std::string(table));
    RowChecksum& sum = sums[std::string(table)];
    sum.BeginRow();
    for (auto [name, value] : row) {
      const ColumnCanonicaliser& column = columns.Find(name);
      if (!column.compared()) continue;
      VerifyValue v;
      switch (value.type()) {
        case simdjson::dom::element_type::NULL_VALUE:
          break;
        case simdjson::dom::element_type::BOOL:
          v.type = VerifyValue::Type::kBool;
          v.boolean = value.get_bool().value();
          break;
        case simdjson::dom::element_type::INT64:
          v.type = VerifyValue::Type::kInteger;
          v.integer = value.get_int64().value();
          break;
        case simdjson::dom::element_type::UINT64:
          v.type = VerifyValue::Type::kInteger;
          v.integer = static_cast<int64_t>(value.get_uint64().value());
          break;
        case simdjson::dom::element_type::DOUBLE:
          v.type = VerifyValue::Type::kReal;
          v.real = value.get_double().value();
          break;
        case simdjson::dom::element_type::STRING:
          v.type = VerifyValue::Type::kText;
          v.text = value.get_string().value();
          break;
        default:
          error = "verify: " + source_jsonl + ":" + std::to_string(line_number) + ": column " + std::string(name) +
                  " is not a scalar";
          return false;
      }
      sum.Name(name);
      column.MixSource(v, sum);
    }
    sum.EndRow();
  }
  for (auto& [table, sum] : sums) {
    TableComparison c;
    c.source_table = table;
    auto dot = table.find('.');
    std::string schema = dot == std::string::npos ? "" : table.substr(0, dot);
    std::string name = dot == std::string::npos ? table : table.substr(dot + 1);
    c.target_table = options.table_name_format;
    for (auto [token, value] : {std::pair<std::string, std::string>{"${schema}", schema}, {"${table}", name}}) {
      for (size_t at = c.target_table.find(token); at != std::string::npos;
           at = c.target_table.find(token, at + value.size()))
        c.target_table.replace(at, token.size(), value);
    }
    c.source_rows = sum.rows();
    c.source_checksum = sum.value();
    const TableColumns& columns = columns_for(table);
    c.notes = columns.notes();
    RowChecksum target_sum;
    std::vector<const ColumnCanonicaliser*> by_position;  // the target's columns, resolved once
    auto on_row = [&](const std::vector<std::string>& names, const std::vector<VerifyValue>& row) {
      if (by_position.empty())
        for (const auto& n : names) by_position.push_back(&columns.Find(n));
      target_sum.BeginRow();
      for (size_t i = 0; i < row.size(); ++i) {
        if (!by_position[i]->compared()) continue;
        target_sum.Name(names[i]);
        by_position[i]->MixTarget(row[i], target_sum);
      }
      target_sum.EndRow();
    };
    if (!target.ReadRows(c.target_table, on_row, error)) return false;
    c.target_rows = target_sum.rows();
    c.target_checksum = target_sum.value();
    out.push_back(c);
  }
  return true;
}

}  // namespace

bool CompareWithSqlite(const std::string& source_jsonl, const std::string& sqlite_path, const VerifyOptions& options,
                       std::vector<TableComparison>& out, std::string& error) {
  SqliteTarget target;
  return target.Open(sqlite_path, error) && CompareWithTarget(source_jsonl, target, options, out, error);
}

bool CompareWithPostgres(const std::string& source_jsonl, const std::vector<std::string>& conninfo,
                         const std::string& schema, const VerifyOptions& options, std::vector<TableComparison>& out,
                         std::string& error) {
  PostgresTarget target;
  return target.Open(conninfo, schema, error) && CompareWithTarget(source_jsonl, target, options, out, error);
}

}  // namespace sqltail::engine
