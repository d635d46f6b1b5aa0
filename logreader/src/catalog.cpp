#include "sqltail/logreader/catalog.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "sqltail/logreader/change_event.h"

namespace sqltail::logreader {

std::string_view TableChangeKindName(TableChangeKind kind) {
  switch (kind) {
    case TableChangeKind::kCreate:
      return "CREATE";
    case TableChangeKind::kAlter:
      return "ALTER";
    case TableChangeKind::kDrop:
      return "DROP";
  }
  return "ALTER";
}

void Catalog::Add(CapturedTable table) {
  if (versions_.empty()) versions_.emplace_back();
  auto owned = std::make_unique<CapturedTable>(std::move(table));
  const CapturedTable* added = owned.get();
  versions_.front().tables.push_back(std::move(owned));
  if (versions_.size() > 1) {
    Derive();
  } else if (Selected(*added)) {
    current_.push_back(added);
    by_allocation_unit_[added->allocation_unit_id] = {{Lsn(), added}};
  }
}

const CapturedTable* Catalog::FindByAllocationUnit(uint64_t allocation_unit_id) const {
  auto it = by_allocation_unit_.find(allocation_unit_id);
  return it == by_allocation_unit_.end() ? nullptr : it->second.back().table;
}

const CapturedTable* Catalog::FindByAllocationUnit(uint64_t allocation_unit_id, Lsn lsn) const {
  auto it = by_allocation_unit_.find(allocation_unit_id);
  if (it == by_allocation_unit_.end()) return nullptr;
  const std::vector<UnitVersion>& list = it->second;
  if (list.size() == 1) return list.front().from <= lsn ? list.front().table : nullptr;  // the usual case
  const CapturedTable* found = nullptr;
  for (const UnitVersion& v : list) {
    if (lsn < v.from) break;
    found = v.table;
  }
  return found;
}

const CapturedTable* Catalog::FindByName(std::string_view schema, std::string_view table) const {
  for (const CapturedTable* t : current_)
    if (t->layout.schema == schema && t->layout.table == table) return t;
  return nullptr;
}

std::vector<TableChange> Catalog::Update(Catalog fresh, Lsn from) {
  std::vector<TableChange> out;
  if (!fresh.system_units_.empty()) system_units_ = std::move(fresh.system_units_);
  if (!fresh.system_allocation_units_error.empty())
    system_allocation_units_error = std::move(fresh.system_allocation_units_error);
  Version version;
  version.from = from;
  if (!fresh.versions_.empty()) version.tables = std::move(fresh.versions_.back().tables);
  versions_.push_back(std::move(version));
  DeriveVersion(versions_.back(), versions_.size() == 1, &out);
  return out;
}

std::vector<TableChange> Catalog::ChangesIn(Lsn from, Lsn through) const {
  std::vector<TableChange> out;
  for (const TableChange& c : changes_)
    if (from <= c.lsn && c.lsn <= through) out.push_back(c);
  return out;
}

bool Catalog::HasVersionIn(Lsn from, Lsn through) const {
  for (size_t i = 1; i < versions_.size(); ++i)
    if (from <= versions_[i].from && versions_[i].from <= through) return true;
  return false;
}

void Catalog::SetSystemAllocationUnits(std::vector<SystemAllocationUnit> units) {
  std::sort(units.begin(), units.end(), [](const SystemAllocationUnit& a, const SystemAllocationUnit& b) {
    return a.allocation_unit_id < b.allocation_unit_id;
  });
  system_units_ = std::move(units);
}

const SystemAllocationUnit* Catalog::FindSystemAllocationUnit(uint64_t allocation_unit_id) const {
  auto it = std::lower_bound(system_units_.begin(), system_units_.end(), allocation_unit_id,
                             [](const SystemAllocationUnit& u, uint64_t id) { return u.allocation_unit_id < id; });
  return it != system_units_.end() && it->allocation_unit_id == allocation_unit_id ? &*it : nullptr;
}

namespace {

// One table across versions: the object id (kept by ALTER, rebuilds and renames), or the name when
// a catalog does not give object ids (a hand-written fixture).
bool SameTable(const CapturedTable& a, const CapturedTable& b) {
  if (a.object_id != 0 && b.object_id != 0) return a.object_id == b.object_id;
  return a.layout.schema == b.layout.schema && a.layout.table == b.layout.table;
}

}  // namespace

void Catalog::Derive() {
  current_.clear();
  changes_.clear();
  by_allocation_unit_.clear();
  for (size_t i = 0; i < versions_.size(); ++i) DeriveVersion(versions_[i], i == 0, nullptr);
}

void Catalog::DeriveVersion(const Version& version, bool first, std::vector<TableChange>* out) {
  // A unit's versions stay in LSN order even when schema changes of different tables commit out of
  // the order of their first records (each holds its own tables' schema lock, so a unit's do not).
  auto add_unit_version = [this](uint64_t unit, Lsn from, const CapturedTable* table) {
    std::vector<UnitVersion>& list = by_allocation_unit_[unit];
    auto at =
        std::upper_bound(list.begin(), list.end(), from, [](Lsn lsn, const UnitVersion& v) { return lsn < v.from; });
    list.insert(at, {from, table});
  };
  auto record = [&](TableChange change) {
    changes_.push_back(change);
    if (out) out->push_back(change);
  };
  if (first) {
    for (const auto& t : version.tables) {
      if (!Selected(*t)) continue;
      t->valid_from = Lsn();
      current_.push_back(t.get());
      add_unit_version(t->allocation_unit_id, Lsn(), t.get());
    }
    return;
  }
  std::vector<bool> matched(current_.size(), false);
  std::vector<const CapturedTable*> created;
  for (const auto& t : version.tables) {
    if (!Selected(*t)) continue;
    // The same allocation unit first (a table's partitions share its object id), then any
    // partition of the table not matched yet (a rebuild gives new allocation units).
    size_t i = 0;
    while (i < current_.size() &&
           (matched[i] || !SameTable(*current_[i], *t) || current_[i]->allocation_unit_id != t->allocation_unit_id))
      ++i;
    if (i == current_.size()) {
      i = 0;
      while (i < current_.size() && (matched[i] || !SameTable(*current_[i], *t))) ++i;
    }
    if (i == current_.size()) {
      t->valid_from = version.from;
      created.push_back(t.get());
      add_unit_version(t->allocation_unit_id, version.from, t.get());
      record({version.from, TableChangeKind::kCreate, t.get(), nullptr});
      continue;
    }
    matched[i] = true;
    if (current_[i]->SameStructure(*t)) continue;  // the version in force stays (pointers held elsewhere)
    const CapturedTable* previous = current_[i];
    t->valid_from = version.from;
    if (previous->allocation_unit_id != t->allocation_unit_id)
      add_unit_version(previous->allocation_unit_id, version.from, nullptr);
    add_unit_version(t->allocation_unit_id, version.from, t.get());
    current_[i] = t.get();
    record({version.from, TableChangeKind::kAlter, t.get(), previous});
  }
  std::vector<const CapturedTable*> kept;
  for (size_t i = 0; i < current_.size(); ++i) {
    if (matched[i]) {
      kept.push_back(current_[i]);
      continue;
    }
    add_unit_version(current_[i]->allocation_unit_id, version.from, nullptr);
    record({version.from, TableChangeKind::kDrop, current_[i], current_[i]});
  }
  kept.insert(kept.end(), created.begin(), created.end());
  current_ = std::move(kept);
}

bool Catalog::Selected(const CapturedTable& table) const {
  auto matches_any = [](const std::vector<std::string>& patterns, const std::string& name) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return WildcardMatch(p, name); });
  };
  const std::string name = table.QualifiedName();
  return (include_.empty() || matches_any(include_, name)) && !matches_any(exclude_, name);
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
  include_ = include;
  exclude_ = exclude;
  Derive();
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

namespace {

std::optional<CapturedTable> ParseCapturedTable(simdjson::dom::element t, const std::string& where,
                                                std::string& error) {
  CapturedTable table;
  std::string layout_error;
  auto layout = ParseTableLayout(simdjson::minify(t), layout_error);
  if (!layout) {
    error = where + ": " + layout_error;
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
    error = where + ": table " + table.QualifiedName() + " has no allocation_unit_id";
    return std::nullopt;
  }
  table.allocation_unit_id = u64;
  FillKeyColumns(table);
  return table;
}

void AppendOptionalString(const std::optional<std::string>& value, std::string& out) {
  if (value) {
    AppendJsonString(*value, out);
  } else {
    out += "null";
  }
}

}  // namespace

void AppendCapturedTableJson(const CapturedTable& table, std::string& out) {
  const TableLayout& l = table.layout;
  out += "{\"object_id\": " + std::to_string(table.object_id) + ", \"index_id\": " + std::to_string(table.index_id) +
         ", \"partition_id\": " + std::to_string(table.partition_id) +
         ", \"hobt_id\": " + std::to_string(table.hobt_id) +
         ", \"allocation_unit_id\": " + std::to_string(table.allocation_unit_id) + ", \"schema\": ";
  AppendJsonString(l.schema, out);
  out += ", \"table\": ";
  AppendJsonString(l.table, out);
  out += std::string(", \"compression\": \"") +
         (l.compression == Compression::kRow    ? "row"
          : l.compression == Compression::kPage ? "page"
                                                : "none") +
         "\", \"columns\": [";
  for (size_t i = 0; i < l.columns.size(); ++i) {
    const ColumnLayout& c = l.columns[i];
    auto flag = [](bool b) { return b ? "true" : "false"; };
    auto optional_flag = [](const std::optional<bool>& b) { return b ? (*b ? "true" : "false") : "null"; };
    out += i == 0 ? "{\"name\": " : ", {\"name\": ";
    AppendOptionalString(c.name, out);
    out += ", \"column_id\": " + std::to_string(c.column_id) + ", \"type\": ";
    AppendJsonString(c.type_name, out);
    out += ", \"max_length\": " + std::to_string(c.max_length) + ", \"precision\": " + std::to_string(c.precision) +
           ", \"scale\": " + std::to_string(c.scale) + ", \"collation_name\": ";
    AppendOptionalString(c.collation_name, out);
    out += std::string(", \"is_nullable\": ") + flag(c.is_nullable) +
           ", \"leaf_offset\": " + std::to_string(c.leaf_offset) +
           ", \"leaf_null_bit\": " + std::to_string(c.leaf_null_bit) +
           ", \"leaf_bit_position\": " + std::to_string(c.leaf_bit_position) +
           ", \"is_dropped\": " + flag(c.is_dropped) + ", \"is_uniqueifier\": " + flag(c.is_uniqueifier) +
           ", \"is_sparse\": " + flag(c.is_sparse) + ", \"key_ordinal\": " + std::to_string(c.key_ordinal) +
           ", \"has_default\": " + flag(c.has_default) + ", \"default_value\": ";
    AppendOptionalString(c.default_value, out);
    out += std::string(", \"is_identity\": ") + optional_flag(c.is_identity) +
           ", \"is_computed\": " + optional_flag(c.is_computed) + ", \"default_definition\": ";
    AppendOptionalString(c.default_definition, out);
    out += "}";
  }
  out += "]}";
}

namespace {

std::string HistoryRecord(Lsn from, int64_t object_id, std::span<const CapturedTable* const> partitions,
                          std::string_view generation = {}) {
  std::string out = "{\"from_lsn\": \"" + from.ToString() + "\", \"object_id\": " + std::to_string(object_id);
  if (!generation.empty()) {
    out += ", \"first\": ";
    AppendJsonString(generation, out);
  }
  out += ", \"tables\": [";
  for (size_t i = 0; i < partitions.size(); ++i) {
    if (i > 0) out += ", ";
    AppendCapturedTableJson(*partitions[i], out);
  }
  return out + "]}";
}

}  // namespace

std::vector<std::string> Catalog::FirstHistoryRecords(std::string_view generation) const {
  std::map<int64_t, std::vector<const CapturedTable*>> by_object;
  for (const CapturedTable* t : current_) by_object[t->object_id].push_back(t);
  std::vector<std::string> out;
  for (const auto& [object, partitions] : by_object)
    out.push_back(HistoryRecord(Lsn(), object, partitions, generation));
  return out;
}

std::vector<std::string> Catalog::HistoryRecords(std::span<const TableChange> changes) const {
  // Per object changed: its partitions in force from the change on (none: dropped).
  std::vector<std::string> out;
  std::vector<int64_t> done;
  for (const TableChange& change : changes) {
    const int64_t object = change.table->object_id;
    if (std::find(done.begin(), done.end(), object) != done.end()) continue;
    done.push_back(object);
    std::vector<const CapturedTable*> partitions;
    for (const CapturedTable* t : current_)
      if (t->object_id == object) partitions.push_back(t);
    out.push_back(HistoryRecord(change.lsn, object, partitions));
  }
  return out;
}

std::optional<Catalog> Catalog::FromHistory(std::span<const std::string> records, const Catalog& current,
                                            std::string& error) {
  simdjson::dom::parser parser;
  // The tables in force per object, replayed record by record; each LSN closes a version.
  std::map<int64_t, std::vector<CapturedTable>> tables;
  std::optional<Catalog> out;
  auto version_of = [&]() {
    Catalog version;
    for (const auto& [object, partitions] : tables)
      for (const CapturedTable& t : partitions) version.Add(t);
    return version;
  };
  Lsn open_lsn;
  bool open = false;
  std::string generation;  // of the first version being replayed
  auto close = [&]() {
    if (!open) return;
    if (!out) {
      // Tables captured now that the history does not know: as if known from the start (and in
      // every later version).
      std::map<int64_t, std::vector<CapturedTable>> extra;
      for (const CapturedTable* t : current.current_) {
        if (tables.count(t->object_id)) continue;
        CapturedTable copy = *t;
        copy.valid_from = Lsn();
        extra[t->object_id].push_back(std::move(copy));
      }
      tables.merge(extra);
      out = version_of();
    } else {
      out->Update(version_of(), open_lsn);
    }
    open = false;
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string where = "schema history record " + std::to_string(i + 1);
    simdjson::dom::element root;
    if (auto err = parser.parse(records[i]).get(root)) {
      error = where + ": " + simdjson::error_message(err);
      return std::nullopt;
    }
    std::string_view text;
    std::optional<Lsn> from;
    if (!root["from_lsn"].get(text)) from = Lsn::Parse(text);
    int64_t object = 0;
    simdjson::dom::array list;
    if (!from || root["object_id"].get(object) || root["tables"].get(list)) {
      error = where + ": needs from_lsn, object_id and tables";
      return std::nullopt;
    }
    // A first version of another generation (a new snapshot started the history afresh): what came
    // before no longer applies.
    std::string_view first;
    if (!root["first"].get(first) && first != generation) {
      tables.clear();
      out.reset();
      open = false;
      generation = std::string(first);
    }
    if (open && *from != open_lsn) {
      if (*from < open_lsn) {
        error = where + ": from_lsn " + from->ToString() + " is before the previous record's " + open_lsn.ToString();
        return std::nullopt;
      }
      close();
    }
    if (!open && out && !(out->NewestVersionLsn() < *from)) {
      error = where + ": from_lsn " + from->ToString() + " is not after the versions before it";
      return std::nullopt;
    }
    open = true;
    open_lsn = *from;
    std::vector<CapturedTable> partitions;
    for (simdjson::dom::element t : list) {
      auto table = ParseCapturedTable(t, where, error);
      if (!table) return std::nullopt;
      partitions.push_back(std::move(*table));
    }
    if (partitions.empty()) {
      tables.erase(object);
    } else {
      tables[object] = std::move(partitions);
    }
  }
  close();
  if (!out) {
    error = "schema history: no records";
    return std::nullopt;
  }
  out->server_name = current.server_name;
  out->database = current.database;
  out->system_units_ = current.system_units_;
  out->system_allocation_units_error = current.system_allocation_units_error;
  return out;
}

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
  simdjson::dom::array units;
  if (!root["system_allocation_units"].get(units)) {
    std::vector<SystemAllocationUnit> list;
    for (simdjson::dom::element u : units) {
      SystemAllocationUnit unit;
      std::string_view name;
      if (!u["name"].get(name)) unit.name = name;
      if (u["allocation_unit_id"].get(unit.allocation_unit_id)) {
        error = "catalog.json: a system_allocation_units entry has no allocation_unit_id";
        return std::nullopt;
      }
      list.push_back(std::move(unit));
    }
    catalog.SetSystemAllocationUnits(std::move(list));
  }
  simdjson::dom::array versions;
  if (root["versions"].get(versions) || versions.size() == 0) {
    error = "catalog.json: no \"versions\" array";
    return std::nullopt;
  }
  size_t number = 0;
  Lsn previous_from;
  for (simdjson::dom::element v : versions) {
    const std::string where = "catalog.json: version " + std::to_string(number);
    // The first version applies from the start of the log; each later one from its from_lsn.
    Lsn from;
    std::string_view text;
    std::optional<Lsn> stated;
    if (!v["from_lsn"].get(text)) stated = Lsn::Parse(text);
    if (number > 0) {
      if (!stated) {
        error = where + " has no from_lsn (an LSN string)";
        return std::nullopt;
      }
      if (*stated <= previous_from) {
        error = where + ": from_lsn " + stated->ToString() + " is not after the previous version's";
        return std::nullopt;
      }
      from = *stated;
    }
    if (stated) previous_from = *stated;
    simdjson::dom::array tables;
    if (v["tables"].get(tables)) {
      error = where + " has no \"tables\" array";
      return std::nullopt;
    }
    Catalog version;
    for (simdjson::dom::element t : tables) {
      auto table = ParseCapturedTable(t, where, error);
      if (!table) return std::nullopt;
      version.Add(std::move(*table));
    }
    catalog.Update(std::move(version), from);
    ++number;
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
