#include "sqltail/logreader/catalog.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace sqltail::logreader {

void Catalog::Add(CapturedTable table) {
  auto owned = std::make_unique<CapturedTable>(std::move(table));
  by_allocation_unit_[owned->allocation_unit_id] = owned.get();
  tables_.push_back(std::move(owned));
}

const CapturedTable* Catalog::FindByAllocationUnit(uint64_t allocation_unit_id) const {
  auto it = by_allocation_unit_.find(allocation_unit_id);
  return it == by_allocation_unit_.end() ? nullptr : it->second;
}

const CapturedTable* Catalog::FindByName(std::string_view schema, std::string_view table) const {
  for (const auto& t : tables_)
    if (t->layout.schema == schema && t->layout.table == table) return t.get();
  return nullptr;
}

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  auto eq = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || eq(pattern[p], text[t]))) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void Catalog::Filter(const std::vector<std::string>& include, const std::vector<std::string>& exclude) {
  auto matches_any = [](const std::vector<std::string>& patterns, const std::string& name) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return WildcardMatch(p, name); });
  };
  std::vector<std::unique_ptr<CapturedTable>> kept;
  by_allocation_unit_.clear();
  for (auto& t : tables_) {
    std::string name = t->QualifiedName();
    if ((include.empty() || matches_any(include, name)) && !matches_any(exclude, name)) {
      by_allocation_unit_[t->allocation_unit_id] = t.get();
      kept.push_back(std::move(t));
    }
  }
  tables_ = std::move(kept);
}

namespace {

void FillKeyColumns(CapturedTable& table) {
  std::vector<std::pair<int, size_t>> keyed;
  for (size_t i = 0; i < table.layout.columns.size(); ++i) {
    const auto& c = table.layout.columns[i];
    if (c.key_ordinal > 0 && c.IsRendered()) keyed.emplace_back(c.key_ordinal, i);
  }
  std::sort(keyed.begin(), keyed.end());
  table.key_columns.clear();
  for (auto& [ordinal, index] : keyed) table.key_columns.push_back(index);
}

}  // namespace

std::optional<Catalog> Catalog::FromFixtureJson(std::string_view json, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    error = std::string("catalog.json: ") + simdjson::error_message(err);
    return std::nullopt;
  }
  Catalog catalog;
  std::string_view text;
  if (!root["server_name"].get(text)) catalog.server_name = text;
  if (!root["database"].get(text)) catalog.database = text;
  simdjson::dom::array versions;
  if (root["versions"].get(versions) || versions.size() == 0) {
    error = "catalog.json: no \"versions\" array";
    return std::nullopt;
  }
  simdjson::dom::element newest = versions.at(versions.size() - 1);
  simdjson::dom::array tables;
  if (newest["tables"].get(tables)) {
    error = "catalog.json: the newest version has no \"tables\" array";
    return std::nullopt;
  }
  for (simdjson::dom::element t : tables) {
    CapturedTable table;
    std::string layout_error;
    auto layout = ParseTableLayout(simdjson::minify(t), layout_error);
    if (!layout) {
      error = "catalog.json: " + layout_error;
      return std::nullopt;
    }
    table.layout = std::move(*layout);
    int64_t i64 = 0;
    uint64_t u64 = 0;
    if (!t["object_id"].get(i64)) table.object_id = i64;
    if (!t["index_id"].get(i64)) table.index_id = static_cast<int>(i64);
    if (!t["partition_id"].get(u64)) table.partition_id = u64;
    if (!t["hobt_id"].get(u64)) table.hobt_id = u64;
    if (t["allocation_unit_id"].get(u64)) {
      error = "catalog.json: table " + table.QualifiedName() + " has no allocation_unit_id";
      return std::nullopt;
    }
    table.allocation_unit_id = u64;
    FillKeyColumns(table);
    catalog.Add(std::move(table));
  }
  return catalog;
}

std::optional<Catalog> Catalog::FromQueryRows(std::vector<CatalogQueryRow> rows, std::string& error) {
  std::map<uint64_t, std::vector<CatalogQueryRow*>> by_unit;
  for (auto& row : rows) by_unit[row.allocation_unit_id].push_back(&row);
  Catalog catalog;
  for (auto& [unit, unit_rows] : by_unit) {
    std::sort(unit_rows.begin(), unit_rows.end(), [](const CatalogQueryRow* a, const CatalogQueryRow* b) {
      return a->partition_column_id < b->partition_column_id;
    });
    const CatalogQueryRow& first = *unit_rows.front();
    CapturedTable table;
    table.object_id = first.object_id;
    table.index_id = first.index_id;
    table.partition_id = first.partition_id;
    table.hobt_id = first.hobt_id;
    table.allocation_unit_id = unit;
    table.layout.schema = first.schema_name;
    table.layout.table = first.table_name;
    std::string compression = first.data_compression_desc;
    std::transform(compression.begin(), compression.end(), compression.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (compression == "NONE" || compression.empty()) {
      table.layout.compression = Compression::kNone;
    } else if (compression == "ROW") {
      table.layout.compression = Compression::kRow;
    } else if (compression == "PAGE") {
      table.layout.compression = Compression::kPage;
    } else {
      error = "catalog: table " + table.QualifiedName() + " has compression '" + first.data_compression_desc +
              "', which sqltail cannot read (columnstore?)";
      return std::nullopt;
    }
    for (const CatalogQueryRow* row : unit_rows) {
      ColumnLayout column = row->column;
      column.type = SqlTypeFromName(column.type_name);
      table.layout.columns.push_back(std::move(column));
    }
    FillKeyColumns(table);
    catalog.Add(std::move(table));
  }
  return catalog;
}

}  // namespace sqltail::logreader
