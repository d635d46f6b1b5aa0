#include "sqlite_target.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

namespace sqltail::engine {

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string SqliteType(const TargetColumn& c) {
  return c.kind == ValueKind::kInteger || c.kind == ValueKind::kBoolean ? "INTEGER"
         : c.kind == ValueKind::kReal                                   ? "REAL"
         : c.kind == ValueKind::kBytes                                  ? "BLOB"
                                                                        : "TEXT";
}

std::string SqliteCreateTableSql(std::string_view table, const std::vector<TargetColumn>& columns) {
  std::string create = "CREATE TABLE IF NOT EXISTS " + QuoteIdentifier(table) + " (", keys;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string quoted = QuoteIdentifier(columns[i].name);
    if (i > 0) create += ", ";
    create += quoted + " " + SqliteType(columns[i]);
    if (columns[i].key) keys += (keys.empty() ? "" : ", ") + quoted;
  }
  if (!keys.empty()) create += ", PRIMARY KEY (" + keys + ")";
  return create + ")";
}

std::string SqliteAddColumnSql(std::string_view table, const TargetColumn& column) {
  return "ALTER TABLE " + QuoteIdentifier(table) + " ADD COLUMN " + QuoteIdentifier(column.name) + " " +
         SqliteType(column);
}

SqliteTarget::~SqliteTarget() {
  for (auto& [name, table] : tables_) {
    sqlite3_finalize(table->upsert);
    sqlite3_finalize(table->remove);
  }
  sqlite3_finalize(save_progress_);
  if (db_ != nullptr) sqlite3_close(db_);
}

bool SqliteTarget::Exec(const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    error = std::string("sqlite: ") + (message ? message : "error") + " in: " + sql;
    sqlite3_free(message);
    return false;
  }
  return true;
}

bool SqliteTarget::Open(const std::string& path, std::string& error) {
  path_ = path;
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    error = "sqlite: cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    return false;
  }
  sqlite3_busy_timeout(db_, 10000);
  // WAL + NORMAL: a crash can lose the last commits, but rows and progress always go together, so
  // the applier re-reads exactly what was lost.
  // Switching a new file to WAL takes an exclusive lock without waiting on the busy timeout: a
  // second applier opening the file at that moment (apply.mode = parallel) tries again.
  bool wal = Exec("PRAGMA journal_mode=WAL", error);
  for (int attempt = 0; !wal && attempt < 1000 && sqlite3_errcode(db_) == SQLITE_BUSY; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    wal = Exec("PRAGMA journal_mode=WAL", error);
  }
  if (!wal || !Exec("PRAGMA synchronous=NORMAL", error) ||
      !Exec("CREATE TABLE IF NOT EXISTS sqltail_progress (topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition))",
            error))
    return false;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO sqltail_progress (topic, partition, next_offset) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset "
                         "WHERE sqltail_progress.next_offset = ?4",
                         -1, &save_progress_, nullptr) != SQLITE_OK) {
    error = std::string("sqlite: ") + sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

// IMMEDIATE: the write lock at once, waited for by the busy timeout. A deferred transaction that
// read first could not wait for another writer (parallel instances on one file): it would fail.
bool SqliteTarget::Begin(std::string& error) { return Exec("BEGIN IMMEDIATE", error); }
bool SqliteTarget::Commit(std::string& error) { return Exec("COMMIT", error); }
void SqliteTarget::Rollback() {
  std::string ignored;
  Exec("ROLLBACK", ignored);
  for (auto& [name, table] : tables_) {
    sqlite3_finalize(table->upsert);
    sqlite3_finalize(table->remove);
  }
  tables_.clear();
}

bool SqliteTarget::Truncate(const std::string& table, const RowOrigin& origin, std::string& error) {
  sqlite3_stmt* exists = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &exists, nullptr) !=
      SQLITE_OK) {
    error = DescribeOrigin(origin) + ": table " + table + ": sqlite: " + sqlite3_errmsg(db_);
    return false;
  }
  sqlite3_bind_text(exists, 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
  const bool found = sqlite3_step(exists) == SQLITE_ROW;
  sqlite3_finalize(exists);
  if (!found) return true;
  // SQLite has no TRUNCATE; an unqualified DELETE is its truncate optimisation.
  const std::string sql = "DELETE FROM " + QuoteIdentifier(table);
  if (!Exec(sql.c_str(), error)) {
    error = DescribeOrigin(origin) + ": table " + table + ": " + error;
    return false;
  }
  return true;
}

bool SqliteTarget::LoadProgress(ProgressMap& out, std::string& error) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT topic, partition, next_offset FROM sqltail_progress", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    error = std::string("sqlite: ") + sqlite3_errmsg(db_);
    return false;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    std::string topic(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    out[{topic, sqlite3_column_int(stmt, 1)}] = sqlite3_column_int64(stmt, 2);
  }
  sqlite3_finalize(stmt);
  return true;
}

bool SqliteTarget::SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                                std::string& error) {
  sqlite3_bind_text(save_progress_, 1, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
  sqlite3_bind_int(save_progress_, 2, partition);
  sqlite3_bind_int64(save_progress_, 3, next_offset);
  // No row expected: NULL, which no stored row equals, so an existing row is "moved".
  if (expected < 0) {
    sqlite3_bind_null(save_progress_, 4);
  } else {
    sqlite3_bind_int64(save_progress_, 4, expected);
  }
  bool ok = sqlite3_step(save_progress_) == SQLITE_DONE;
  if (!ok) {
    error = std::string("sqlite: saving progress: ") + sqlite3_errmsg(db_);
  } else if (sqlite3_changes(db_) == 0) {
    error = ProgressMoved(topic, partition, expected);
    ok = false;
  }
  sqlite3_reset(save_progress_);
  return ok;
}

TargetTable* SqliteTarget::FindTable(const std::string& name) {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.get();
}

TargetTable* SqliteTarget::DefineTable(const std::string& name, std::vector<TargetColumn> columns, std::string& error) {
  auto table = std::make_unique<Table>();
  table->name = name;
  table->columns = std::move(columns);
  const std::string create = SqliteCreateTableSql(name, table->columns);
  std::string keys, names, params, updates, where;
  for (const auto& c : table->columns) table->has_key |= c.key;
  const bool has_key = table->has_key;
  table->delete_params.assign(table->columns.size(), 0);
  int delete_param = 0;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const auto& c = table->columns[i];
    std::string quoted = QuoteIdentifier(c.name);
    if (i > 0) names += ", ", params += ", ";
    names += quoted;
    params += "?" + std::to_string(i + 1);
    if (c.key) keys += (keys.empty() ? "" : ", ") + quoted;
    if (!c.key) updates += (updates.empty() ? "" : ", ") + quoted + " = excluded." + quoted;
    if (c.key || !has_key) {
      table->delete_params[i] = ++delete_param;
      where += (where.empty() ? "" : " AND ") + quoted + " IS ?" + std::to_string(delete_param);
    }
  }
  if (!Exec(create.c_str(), error)) return nullptr;
  std::string upsert = "INSERT INTO " + QuoteIdentifier(name) + " (" + names + ") VALUES (" + params + ")";
  if (has_key)
    upsert += updates.empty() ? " ON CONFLICT DO NOTHING" : " ON CONFLICT (" + keys + ") DO UPDATE SET " + updates;
  std::string remove = has_key ? "DELETE FROM " + QuoteIdentifier(name) + " WHERE " + where
                               : "DELETE FROM " + QuoteIdentifier(name) + " WHERE rowid = (SELECT rowid FROM " +
                                     QuoteIdentifier(name) + " WHERE " + where + " LIMIT 1)";
  if (sqlite3_prepare_v2(db_, upsert.c_str(), -1, &table->upsert, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, remove.c_str(), -1, &table->remove, nullptr) != SQLITE_OK) {
    error = "sqlite: table " + name + ": " + sqlite3_errmsg(db_);
    return nullptr;
  }
  Table* raw = table.get();
  tables_[name] = std::move(table);
  return raw;
}

bool SqliteTarget::ForgetTable(const std::string& name, std::string& error) {
  (void)error;  // nothing is pending: every event ran as it came
  auto it = tables_.find(name);
  if (it == tables_.end()) return true;
  sqlite3_finalize(it->second->upsert);
  sqlite3_finalize(it->second->remove);
  tables_.erase(it);
  return true;
}

bool SqliteTarget::EvolveTable(const std::string& name, const std::vector<TargetColumn>& columns,
                               const RowOrigin& origin, EvolveResult& result, std::string& error) {
  result = EvolveResult{};
  if (!ForgetTable(name, error)) return false;
  auto fail = [&](const std::string& what) {
    error = DescribeOrigin(origin) + ": table " + name + ": " + what;
    return false;
  };
  std::vector<std::string> stored;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT name FROM pragma_table_info(?1)", -1, &stmt, nullptr) != SQLITE_OK)
    return fail(std::string("sqlite: ") + sqlite3_errmsg(db_));
  sqlite3_bind_text(stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    stored.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return fail(std::string("sqlite: reading its columns: ") + sqlite3_errmsg(db_));
  std::string exec_error;
  if (stored.empty()) {
    if (!Exec(SqliteCreateTableSql(name, columns).c_str(), exec_error)) return fail(exec_error);
    result.created = true;
    return true;
  }
  // SQLite compares column names without regard to ASCII case.
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto& c : columns) {
    if (std::any_of(stored.begin(), stored.end(), [&](const std::string& s) { return same(s, c.name); })) continue;
    if (!Exec(SqliteAddColumnSql(name, c).c_str(), exec_error)) return fail(exec_error);
    result.added.push_back(c.name);
    stored.push_back(c.name);
  }
  return true;
}

namespace {

// Text views stay valid until the statement has run (the next event is parsed after), so they are
// bound without a copy.
void BindValue(sqlite3_stmt* stmt, int param, const TargetColumn& column, const FieldValue& v) {
  switch (v.type) {
    case FieldValue::Type::kNull:
      sqlite3_bind_null(stmt, param);
      break;
    case FieldValue::Type::kBool:
      sqlite3_bind_int(stmt, param, v.boolean ? 1 : 0);
      break;
    case FieldValue::Type::kInteger:
      sqlite3_bind_int64(stmt, param, v.integer);
      break;
    case FieldValue::Type::kReal:
      sqlite3_bind_double(stmt, param, v.real);
      break;
    case FieldValue::Type::kText:
      if (column.kind == ValueKind::kBytes)
        sqlite3_bind_blob(stmt, param, v.text.data(), static_cast<int>(v.text.size()), SQLITE_STATIC);
      else
        sqlite3_bind_text(stmt, param, v.text.data(), static_cast<int>(v.text.size()), SQLITE_STATIC);
      break;
  }
}

}  // namespace

bool SqliteTarget::Run(sqlite3_stmt* stmt, const Table& table, const std::vector<FieldValue>& row, bool delete_params,
                       const RowOrigin& origin, std::string& error) {
  for (size_t i = 0; i < table.columns.size(); ++i) {
    int param = delete_params ? table.delete_params[i] : static_cast<int>(i) + 1;
    if (param == 0) continue;
    BindValue(stmt, param, table.columns[i], row[i]);
  }
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (rc != SQLITE_DONE) {
    error = DescribeOrigin(origin) + ": table " + table.name + ", key " + DescribeKey(table, row) +
            ": sqlite: " + sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

bool SqliteTarget::Upsert(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                          std::string& error) {
  auto& t = static_cast<Table&>(table);
  return Run(t.upsert, t, row, false, origin, error);
}

bool SqliteTarget::Delete(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                          std::string& error) {
  auto& t = static_cast<Table&>(table);
  return Run(t.remove, t, row, true, origin, error);
}

bool SqliteTarget::UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row,
                                      const std::vector<bool>& unavailable, const RowOrigin& origin,
                                      std::string& error) {
  auto& t = static_cast<Table&>(table);
  if (!t.has_key) {
    error = DescribeOrigin(origin) + ": table " + t.name +
            ": an update with unavailable columns needs a key to find the row";
    return false;
  }
  // Rare (updates the log alone does not determine): a statement built for this set of columns.
  std::string sets, where;
  std::vector<size_t> set_columns, key_columns;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    const std::string quoted = QuoteIdentifier(t.columns[i].name);
    if (t.columns[i].key) {
      key_columns.push_back(i);
    } else if (!unavailable[i]) {
      sets += (sets.empty() ? "" : ", ") + quoted + " = ?" + std::to_string(set_columns.size() + 1);
      set_columns.push_back(i);
    }
  }
  if (set_columns.empty()) return true;  // nothing known but the key: the row stays as it is
  for (size_t k = 0; k < key_columns.size(); ++k) {
    where += (where.empty() ? "" : " AND ") + QuoteIdentifier(t.columns[key_columns[k]].name) + " IS ?" +
             std::to_string(set_columns.size() + k + 1);
  }
  std::string sql = "UPDATE " + QuoteIdentifier(t.name) + " SET " + sets + " WHERE " + where;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    error = "sqlite: table " + t.name + ": " + sqlite3_errmsg(db_);
    return false;
  }
  int param = 0;
  auto bind = [&](size_t i) { BindValue(stmt, ++param, t.columns[i], row[i]); };
  for (size_t i : set_columns) bind(i);
  for (size_t i : key_columns) bind(i);
  int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    error = DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) +
            ": sqlite: " + sqlite3_errmsg(db_);
    return false;
  }
  if (sqlite3_changes(db_) == 0) {
    error = DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) +
            ": an update with unavailable columns for a row the target does not have (its other values are unknown)";
    return false;
  }
  return true;
}

bool SqliteTarget::ReadRows(const std::string& table, const StoredRowVisitor& on_row, std::string& error) {
  sqlite3_stmt* stmt = nullptr;
  std::string sql = "SELECT * FROM " + QuoteIdentifier(table);
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    error = "sqlite: " + table + ": " + sqlite3_errmsg(db_);
    return false;
  }
  const int columns = sqlite3_column_count(stmt);
  std::vector<std::string> names;
  for (int i = 0; i < columns; ++i) names.emplace_back(sqlite3_column_name(stmt, i));
  std::vector<VerifyValue> row(static_cast<size_t>(columns));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int i = 0; i < columns; ++i) {
      VerifyValue& v = row[static_cast<size_t>(i)];
      v = VerifyValue{};
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
          break;
        case SQLITE_INTEGER:
          v.type = VerifyValue::Type::kInteger;
          v.integer = sqlite3_column_int64(stmt, i);
          break;
        case SQLITE_FLOAT:
          v.type = VerifyValue::Type::kReal;
          v.real = sqlite3_column_double(stmt, i);
          break;
        case SQLITE_BLOB:
          v.type = VerifyValue::Type::kBytes;
          v.text = std::string_view(static_cast<const char*>(sqlite3_column_blob(stmt, i)),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
          break;
        default:
          v.type = VerifyValue::Type::kText;
          v.text = std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      }
    }
    on_row(names, row);
  }
  if (rc != SQLITE_DONE) error = "sqlite: " + table + ": " + sqlite3_errmsg(db_);
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE;
}

}  // namespace sqltail::engine
