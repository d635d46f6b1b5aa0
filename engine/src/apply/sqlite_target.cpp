#include "sqlite_target.h"

#include <sqlite3.h>

#include "sqltail/engine/row_checksum.h"

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
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    error = "sqlite: cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    return false;
  }
  sqlite3_busy_timeout(db_, 10000);
  // WAL + NORMAL: a crash can lose the last commits, but rows and progress always go together, so
  // the applier re-reads exactly what was lost.
  if (!Exec("PRAGMA journal_mode=WAL", error) || !Exec("PRAGMA synchronous=NORMAL", error) ||
      !Exec("CREATE TABLE IF NOT EXISTS sqltail_progress (topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition))",
            error))
    return false;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO sqltail_progress (topic, partition, next_offset) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                         -1, &save_progress_, nullptr) != SQLITE_OK) {
    error = std::string("sqlite: ") + sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

bool SqliteTarget::Begin(std::string& error) { return Exec("BEGIN", error); }
bool SqliteTarget::Commit(std::string& error) { return Exec("COMMIT", error); }
void SqliteTarget::Rollback() {
  std::string ignored;
  Exec("ROLLBACK", ignored);
}

bool SqliteTarget::LoadProgress(std::map<std::pair<std::string, int32_t>, int64_t>& out, std::string& error) {
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

bool SqliteTarget::SaveProgress(const std::string& topic, int32_t partition, int64_t next_offset, std::string& error) {
  sqlite3_bind_text(save_progress_, 1, topic.data(), static_cast<int>(topic.size()), SQLITE_STATIC);
  sqlite3_bind_int(save_progress_, 2, partition);
  sqlite3_bind_int64(save_progress_, 3, next_offset);
  bool ok = sqlite3_step(save_progress_) == SQLITE_DONE;
  if (!ok) error = std::string("sqlite: saving progress: ") + sqlite3_errmsg(db_);
  sqlite3_reset(save_progress_);
  return ok;
}

SqliteTarget::Table* SqliteTarget::FindTable(const std::string& name) {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.get();
}

SqliteTarget::Table* SqliteTarget::DefineTable(const std::string& name, std::vector<TargetColumn> columns,
                                               std::string& error) {
  auto table = std::make_unique<Table>();
  table->name = name;
  table->columns = std::move(columns);
  std::string create = "CREATE TABLE IF NOT EXISTS " + QuoteIdentifier(name) + " (";
  std::string keys, names, params, updates, where;
  bool has_key = false;
  for (const auto& c : table->columns) has_key |= c.key;
  table->delete_params.assign(table->columns.size(), 0);
  int delete_param = 0;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const auto& c = table->columns[i];
    const char* type = c.kind == ValueKind::kInteger || c.kind == ValueKind::kBoolean ? "INTEGER"
                       : c.kind == ValueKind::kReal                                   ? "REAL"
                       : c.kind == ValueKind::kBytes                                  ? "BLOB"
                                                                                      : "TEXT";
    std::string quoted = QuoteIdentifier(c.name);
    if (i > 0) create += ", ", names += ", ", params += ", ";
    create += quoted + " " + type;
    names += quoted;
    params += "?" + std::to_string(i + 1);
    if (c.key) keys += (keys.empty() ? "" : ", ") + quoted;
    if (!c.key) updates += (updates.empty() ? "" : ", ") + quoted + " = excluded." + quoted;
    if (c.key || !has_key) {
      table->delete_params[i] = ++delete_param;
      where += (where.empty() ? "" : " AND ") + quoted + " IS ?" + std::to_string(delete_param);
    }
  }
  if (has_key) create += ", PRIMARY KEY (" + keys + ")";
  create += ")";
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

bool SqliteTarget::Checksum(const std::string& table, uint64_t& rows, uint64_t& checksum, std::string& error) {
  sqlite3_stmt* stmt = nullptr;
  std::string sql = "SELECT * FROM " + QuoteIdentifier(table);
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    error = "sqlite: " + table + ": " + sqlite3_errmsg(db_);
    return false;
  }
  RowChecksum sum;
  int columns = sqlite3_column_count(stmt);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    sum.BeginRow();
    for (int i = 0; i < columns; ++i) {
      sum.Name(sqlite3_column_name(stmt, i));
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
          sum.Null();
          break;
        case SQLITE_INTEGER:
          sum.Integer(sqlite3_column_int64(stmt, i));
          break;
        case SQLITE_FLOAT:
          sum.Real(sqlite3_column_double(stmt, i));
          break;
        default:
          sum.Text(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                                    static_cast<size_t>(sqlite3_column_bytes(stmt, i))));
      }
    }
    sum.EndRow();
  }
  sqlite3_finalize(stmt);
  rows = sum.rows();
  checksum = sum.value();
  return true;
}

}  // namespace sqltail::engine
