#include "sqlserver_target.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "sqltail/tds/connection.h"

namespace sqltail::engine {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(end - buf));
}

// A float literal (E notation makes it float, not decimal): the shortest text that reads back equal.
void AppendReal(std::string& out, double value) {
  char buf[40];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  out.append(buf, static_cast<size_t>(end - buf));
}

// "[-]digits[.digits]": what DecimalText produces; anything else is quoted instead.
bool IsDecimalText(std::string_view text) {
  size_t i = text.size() > 0 && text[0] == '-' ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < text.size(); ++i) {
    if (text[i] >= '0' && text[i] <= '9') {
      digits = true;
    } else if (text[i] == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digits;
}

bool EqualNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// One value as a T-SQL literal. `typed_null`: a NULL is written as CAST(NULL AS type), so a column
// of a VALUES list gets the target's type family even when every row is NULL (an untyped NULL
// column is int, which converts to neither date nor uniqueidentifier).
void AppendLiteral(std::string& out, const TargetColumn& column, const FieldValue& v, bool typed_null) {
  switch (v.type) {
    case FieldValue::Type::kNull:
      if (typed_null) {
        out += "CAST(NULL AS ";
        out += SqlServerType(column);
        out += ')';
      } else {
        out += "NULL";
      }
      return;
    case FieldValue::Type::kBool:
      out += v.boolean ? '1' : '0';
      return;
    case FieldValue::Type::kInteger:
      AppendNumber(out, v.integer);
      return;
    case FieldValue::Type::kReal:
      AppendReal(out, v.real);
      return;
    case FieldValue::Type::kText:
      if (column.kind == ValueKind::kBytes) {
        out += "0x";
        for (unsigned char c : v.text) out += kHex[c >> 4], out += kHex[c & 15];
      } else if (column.kind == ValueKind::kDecimal && IsDecimalText(v.text)) {
        out += v.text;
      } else {
        AppendSqlServerString(out, v.text);
      }
      return;
  }
}

uint64_t Fnv(std::string_view bytes) {
  return Fnv1a(kFnvOffset, bytes) | 1;  // never 0: 0 marks an empty slot
}

class TdsSession final : public SqlServerSession {
 public:
  explicit TdsSession(tds::Connection connection) : connection_(std::move(connection)) {}
  bool Execute(std::string_view sql, const RowHandler& on_row, std::string& error) override {
    auto failure = connection_.Execute(sql, [&](const tds::Row& row) {
      if (!on_row) return true;
      const int n = row.ColumnCount();
      texts_.resize(static_cast<size_t>(n));
      cells_.resize(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        if (row.IsNull(i)) {
          cells_[i].reset();
        } else if (auto integer = row.Int(i)) {
          texts_[i].clear();
          AppendNumber(texts_[i], *integer);
          cells_[i] = texts_[i];
        } else {
          cells_[i] = row.Text(i);
        }
      }
      on_row(cells_);
      return true;
    });
    if (failure) {
      error = "sqlserver: " + failure->ToString();
      return false;
    }
    return true;
  }
  std::string Describe() const override { return "SQL Server " + connection_.Where(); }

 private:
  tds::Connection connection_;
  std::vector<std::string> texts_;
  std::vector<std::optional<std::string_view>> cells_;
};

}  // namespace

std::string SqlServerQuoteIdentifier(std::string_view name) {
  std::string out = "[";
  for (char c : name) {
    if (c == ']') out.push_back(']');
    out.push_back(c);
  }
  out.push_back(']');
  return out;
}

void AppendSqlServerString(std::string& out, std::string_view utf8) {
  // db-lib takes the batch as a C string: a NUL inside a value is spliced in as NCHAR(0).
  out += "N'";
  for (char c : utf8) {
    if (c == '\'') {
      out += "''";
    } else if (c == '\0') {
      out += "' + NCHAR(0) + N'";
    } else {
      out += c;
    }
  }
  out += '\'';
}

std::string SqlServerType(const TargetColumn& c) {
  switch (c.kind) {
    case ValueKind::kInteger:
      if (c.connect_type == "int8" || c.connect_type == "int16") return "smallint";
      if (c.connect_type == "int32") return "int";
      return "bigint";
    case ValueKind::kReal:
      return c.connect_type == "float" || c.connect_type == "float32" ? "real" : "float";
    case ValueKind::kBoolean:
      return "bit";
    case ValueKind::kBytes:
      return c.key ? "varbinary(900)" : "varbinary(max)";
    case ValueKind::kDecimal: {
      const int scale = std::min(std::max(c.scale, 0), 38);
      const int precision = c.precision > 0 && c.precision <= 38 ? std::max(c.precision, scale) : 38;
      return "decimal(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
    }
    case ValueKind::kText:
      break;
  }
  // An index key is at most 900 bytes (1700 for nonclustered): key text columns are bounded.
  return c.key ? "nvarchar(450)" : "nvarchar(max)";
}

std::string SqlServerCreateTableSql(std::string_view qualified, const std::vector<TargetColumn>& columns) {
  std::string create = "CREATE TABLE " + std::string(qualified) + " (", keys;
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto& c = columns[i];
    const std::string q = SqlServerQuoteIdentifier(c.name);
    if (i > 0) create += ", ";
    create += q + " " + SqlServerType(c) + (c.key ? " NOT NULL" : " NULL");
    if (c.key) keys += (keys.empty() ? "" : ", ") + q;
  }
  if (!keys.empty()) create += ", PRIMARY KEY (" + keys + ")";
  return create + ");\n";
}

std::string SqlServerAddColumnSql(std::string_view qualified, const TargetColumn& column) {
  // Guarded: a column that exists (another applier added it since the catalog was read) stays.
  std::string sql = "IF COL_LENGTH(";
  AppendSqlServerString(sql, qualified);
  sql += ", ";
  AppendSqlServerString(sql, column.name);
  TargetColumn added = column;
  added.key = false;  // an added column is never part of the key: nvarchar(max), not nvarchar(450)
  sql += ") IS NULL ALTER TABLE " + std::string(qualified) + " ADD " + SqlServerQuoteIdentifier(column.name) + " " +
         SqlServerType(added) + " NULL;\n";
  return sql;
}

std::unique_ptr<SqlServerSession> ConnectSqlServer(const tds::ConnectOptions& options, std::string& error) {
  try {
    return std::make_unique<TdsSession>(tds::Connection::Connect(options));
  } catch (const tds::TdsException& e) {
    error = std::string("sqlserver: ") + e.what();
    return nullptr;
  }
}

struct SqlServerTarget::Table : TargetTable {
  std::string qualified;       // [schema].[table]
  std::vector<bool> identity;  // per column: an IDENTITY column of the target table
  std::vector<size_t> key_columns;
  std::string merge_head, merge_tail, insert_head, insert_tail, delete_head, delete_tail;
};

SqlServerTarget::SqlServerTarget(std::unique_ptr<SqlServerSession> session, std::string schema)
    : session_(std::move(session)), schema_(std::move(schema)) {
  progress_table_ = SqlServerQuoteIdentifier(schema_) + ".[sqltail_progress]";
  run_keys_.assign(2 * 2048, 0);
  run_slots_.reserve(kRowsPerStatement);
  static_assert(kRowsPerStatement <= 2048);
}

SqlServerTarget::~SqlServerTarget() = default;

std::string SqlServerTarget::Describe() const { return session_->Describe() + " schema " + schema_; }

bool SqlServerTarget::Open(std::string& error) {
  // XACT_ABORT: any error rolls the whole transaction back (rows and progress go together);
  // NOCOUNT: no DONE_IN_PROC per statement.
  std::string sql = "SET XACT_ABORT ON;\nSET NOCOUNT ON;\nIF OBJECT_ID(";
  AppendSqlServerString(sql, progress_table_);
  sql += ", N'U') IS NULL CREATE TABLE " + progress_table_ +
         " ([topic] nvarchar(255) NOT NULL, [partition] int NOT NULL, [next_offset] bigint NOT NULL, "
         "PRIMARY KEY ([topic], [partition]));";
  return session_->Execute(sql, {}, error);
}

bool SqlServerTarget::Begin(std::string& error) {
  (void)error;
  pending_ = "BEGIN TRANSACTION;\n";
  sent_in_transaction_ = false;
  run_ = Run::kNone;
  pending_events_ = 0;
  return true;
}

bool SqlServerTarget::Commit(std::string& error) {
  CloseRun();
  pending_ += "COMMIT TRANSACTION;\n";
  if (!SendPending(error)) {
    if (error.find(kProgressMovedMarker) != std::string::npos) progress_moved_ = true;
    return false;  // Rollback() then ends what the server may still hold
  }
  sent_in_transaction_ = false;
  return true;
}

void SqlServerTarget::Rollback() {
  pending_.clear();
  run_ = Run::kNone;
  pending_events_ = 0;
  if (sent_in_transaction_) {
    std::string ignored;
    session_->Execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;", {}, ignored);
  }
  sent_in_transaction_ = false;
  tables_.clear();
  catalog_.clear();  // DDL of the rolled-back transaction is gone
}

bool SqlServerTarget::LoadProgress(ProgressMap& out, std::string& error) {
  bool bad = false;
  const std::string sql = "SELECT [topic], [partition], [next_offset] FROM " + progress_table_ + ";";
  if (!session_->Execute(
          sql,
          [&](std::span<const std::optional<std::string_view>> cells) {
            int32_t partition = 0;
            int64_t offset = 0;
            if (cells.size() != 3 || !cells[0] || !cells[1] || !cells[2] ||
                std::from_chars(cells[1]->data(), cells[1]->data() + cells[1]->size(), partition).ec != std::errc() ||
                std::from_chars(cells[2]->data(), cells[2]->data() + cells[2]->size(), offset).ec != std::errc()) {
              bad = true;
              return;
            }
            out[{std::string(*cells[0]), partition}] = offset;
          },
          error))
    return false;
  if (bad) {
    error = "sqlserver: " + progress_table_ + " holds a row that is not (topic, partition, next_offset)";
    return false;
  }
  return true;
}

bool SqlServerTarget::SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                                   std::string& error) {
  CloseRun();
  std::string where = "[topic] = ";
  AppendSqlServerString(where, topic);
  where += " AND [partition] = ";
  AppendNumber(where, partition);
  // The batch runs at Commit (or earlier); THROW there ends it and XACT_ABORT rolls it back.
  std::string moved = " THROW 51000, ";
  AppendSqlServerString(moved, ProgressMoved(topic, partition, expected));
  progress_moved_ = false;  // only if the server throws it
  moved += ", 1;\n";
  if (expected < 0) {
    pending_ += "IF EXISTS (SELECT 1 FROM " + progress_table_ + " WITH (UPDLOCK, HOLDLOCK) WHERE " + where + ")" +
                moved + "INSERT INTO " + progress_table_ + " ([topic], [partition], [next_offset]) VALUES (";
    AppendSqlServerString(pending_, topic);
    pending_ += ", ";
    AppendNumber(pending_, partition);
    pending_ += ", ";
    AppendNumber(pending_, next_offset);
    pending_ += ");\n";
  } else {
    pending_ += "UPDATE " + progress_table_ + " SET [next_offset] = ";
    AppendNumber(pending_, next_offset);
    pending_ += " WHERE " + where + " AND [next_offset] = ";
    AppendNumber(pending_, expected);
    pending_ += ";\nIF @@ROWCOUNT = 0" + moved;
  }
  (void)error;
  return true;
}

TargetTable* SqlServerTarget::FindTable(const std::string& name) {
  for (auto& t : tables_)
    if (t->name == name) return t.get();
  return nullptr;
}

TargetTable* SqlServerTarget::DefineTable(const std::string& name, std::vector<TargetColumn> columns,
                                          std::string& error) {
  auto table = std::make_unique<Table>();
  table->name = name;
  table->columns = std::move(columns);
  table->qualified = SqlServerQuoteIdentifier(schema_) + "." + SqlServerQuoteIdentifier(name);
  for (const auto& c : table->columns) table->has_key |= c.key;
  table->identity.assign(table->columns.size(), false);

  // The target's own columns: which exist, which are IDENTITY (the events cannot say).
  const std::vector<StoredColumn>* stored = StoredColumns(table->qualified, error);
  if (stored == nullptr) {
    error = "table " + name + ": " + error;
    return nullptr;
  }
  const std::vector<StoredColumn> existing = *stored;
  bool has_identity = false;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    if (existing.empty()) break;
    bool found = false;
    for (const auto& [column, identity] : existing) {
      if (!EqualNoCase(column, table->columns[i].name)) continue;
      found = true;
      table->identity[i] = identity;
      has_identity |= identity;
    }
    if (!found) {
      error = "table " + name + " in " + Describe() + " has no column " + table->columns[i].name +
              " (schema mismatch: the event has it)";
      return nullptr;
    }
  }

  std::string names, source_names, key_match, sets, keys;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const auto& c = table->columns[i];
    const std::string q = SqlServerQuoteIdentifier(c.name);
    if (i > 0) names += ", ", source_names += ", ";
    names += q;
    source_names += "s." + q;
    if (c.key || !table->has_key) table->key_columns.push_back(i);
    if (c.key) {
      if (!keys.empty()) keys += ", ", key_match += " AND ";
      keys += q;
      key_match += "t." + q + " = s." + q;
    } else if (!table->identity[i]) {  // an identity column cannot be updated (nor was it at the source)
      sets += (sets.empty() ? "" : ", ") + ("t." + q) + " = s." + q;
    }
  }
  if (existing.empty()) {
    CloseRun();
    pending_ += SqlServerCreateTableSql(table->qualified, table->columns);
    Remember(table->qualified, table->columns);
  }
  // IDENTITY_INSERT is per session and for one table at a time: on around each statement.
  const std::string identity_on = has_identity ? "SET IDENTITY_INSERT " + table->qualified + " ON;\n" : "";
  const std::string identity_off = has_identity ? "SET IDENTITY_INSERT " + table->qualified + " OFF;\n" : "";
  if (table->has_key) {
    table->merge_head = identity_on + "MERGE " + table->qualified + " WITH (UPDLOCK, HOLDLOCK) AS t\nUSING (VALUES\n";
    table->merge_tail = "\n) AS s (" + names + ")\nON " + key_match + "\n";
    if (!sets.empty()) table->merge_tail += "WHEN MATCHED THEN UPDATE SET " + sets + "\n";
    table->merge_tail += "WHEN NOT MATCHED THEN INSERT (" + names + ") VALUES (" + source_names + ");\n" + identity_off;
    table->delete_head = "DELETE t FROM " + table->qualified + " AS t INNER JOIN (VALUES\n";
    table->delete_tail = "\n) AS s (" + keys + ") ON " + key_match + ";\n";
  } else {
    table->insert_head = identity_on + "INSERT INTO " + table->qualified + " (" + names + ") VALUES\n";
    table->insert_tail = ";\n" + identity_off;
  }
  tables_.push_back(std::move(table));
  return tables_.back().get();
}

const std::vector<SqlServerTarget::StoredColumn>* SqlServerTarget::StoredColumns(const std::string& qualified,
                                                                                 std::string& error) {
  if (auto it = catalog_.find(qualified); it != catalog_.end()) return &it->second;
  std::string query = "SELECT c.[name], c.[is_identity] FROM sys.columns AS c WHERE c.[object_id] = OBJECT_ID(";
  AppendSqlServerString(query, qualified);
  query += ") ORDER BY c.[column_id];";
  std::vector<StoredColumn> existing;
  if (!session_->Execute(
          query,
          [&](std::span<const std::optional<std::string_view>> cells) {
            if (cells.size() >= 2 && cells[0])
              existing.emplace_back(std::string(*cells[0]), cells[1] && *cells[1] == "1");
          },
          error))
    return nullptr;
  return &(catalog_[qualified] = std::move(existing));
}

void SqlServerTarget::Remember(const std::string& qualified, const std::vector<TargetColumn>& columns) {
  auto& known = catalog_[qualified];
  for (const auto& c : columns) {
    bool found = false;
    for (const auto& [name, identity] : known) found |= EqualNoCase(name, c.name);
    if (!found) known.emplace_back(c.name, false);
  }
}

bool SqlServerTarget::ForgetTable(const std::string& name, std::string& error) {
  (void)error;  // what is pending stays in the batch, in order
  auto it = std::find_if(tables_.begin(), tables_.end(), [&](const auto& t) { return t->name == name; });
  if (it == tables_.end()) return true;
  if (run_ != Run::kNone && run_table_ == it->get()) CloseRun();
  tables_.erase(it);
  return true;
}

bool SqlServerTarget::EvolveTable(const std::string& name, const std::vector<TargetColumn>& columns,
                                  const RowOrigin& origin, EvolveResult& result, std::string& error) {
  result = EvolveResult{};
  if (!ForgetTable(name, error)) return false;
  const std::string qualified = SqlServerQuoteIdentifier(schema_) + "." + SqlServerQuoteIdentifier(name);
  const std::vector<StoredColumn>* stored = StoredColumns(qualified, error);
  if (stored == nullptr) {
    error = DescribeOrigin(origin) + ": table " + name + ": " + error;
    return false;
  }
  std::string ddl;
  if (stored->empty()) {
    ddl = SqlServerCreateTableSql(qualified, columns);
    result.created = true;
  } else {
    for (const auto& c : columns) {
      bool found = false;
      for (const auto& [column, identity] : *stored) found |= EqualNoCase(column, c.name);
      if (found) continue;
      ddl += SqlServerAddColumnSql(qualified, c);
      result.added.push_back(c.name);
    }
  }
  if (ddl.empty()) return true;
  Remember(qualified, columns);
  CloseRun();
  if (pending_events_++ == 0) first_origin_ = origin, first_event_ = "table " + name;
  last_origin_ = origin;
  pending_ += ddl;
  // Added columns are sent now, in the open transaction: a later batch compiles against them (a
  // statement naming a column added earlier in its own batch would not compile). A created table
  // needs no such care (deferred name resolution): it goes with the rows, as DefineTable's does.
  return result.created || SendPending(error);
}

void SqlServerTarget::CloseRun() {
  if (run_ == Run::kNone) return;
  pending_ += run_ == Run::kMerge    ? run_table_->merge_tail
              : run_ == Run::kInsert ? run_table_->insert_tail
                                     : run_table_->delete_tail;
  run_ = Run::kNone;
}

void SqlServerTarget::NoteEvent(const Table& table, const std::vector<FieldValue>* row, const RowOrigin& origin) {
  if (pending_events_++ == 0) {
    first_origin_ = origin;
    first_event_ = "table " + table.name;
    if (row != nullptr) first_event_ += ", key " + DescribeKey(table, *row);
  }
  last_origin_ = origin;
}

bool SqlServerTarget::AddRow(Table& t, Run kind, const std::vector<FieldValue>& row, const RowOrigin& origin,
                             std::string& error) {
  NoteEvent(t, &row, origin);
  // A key twice in one MERGE (or DELETE) would touch a row twice: a repeated key starts a new statement.
  uint64_t hash = 0;
  if (kind != Run::kInsert) {
    key_scratch_.clear();
    for (size_t k : t.key_columns) {
      AppendLiteral(key_scratch_, t.columns[k], row[k], false);
      key_scratch_ += '\x1f';
    }
    hash = Fnv(key_scratch_);
  }
  if (run_ != kind || run_table_ != &t || run_rows_ >= kRowsPerStatement) CloseRun();
  const size_t mask = run_keys_.size() - 1;
  size_t slot = hash & mask;
  if (run_ != Run::kNone && kind != Run::kInsert) {
    for (; run_keys_[slot] != 0; slot = (slot + 1) & mask) {
      if (run_keys_[slot] == hash) {
        CloseRun();
        break;
      }
    }
  }
  if (run_ == Run::kNone) {
    run_ = kind;
    run_table_ = &t;
    run_rows_ = 0;
    for (size_t used : run_slots_) run_keys_[used] = 0;  // only what the last run filled
    run_slots_.clear();
    slot = hash & mask;
    pending_ += kind == Run::kMerge ? t.merge_head : kind == Run::kInsert ? t.insert_head : t.delete_head;
  }
  if (kind != Run::kInsert) {
    while (run_keys_[slot] != 0) slot = (slot + 1) & mask;
    run_keys_[slot] = hash;
    run_slots_.push_back(slot);
  }
  if (run_rows_++ > 0) pending_ += ",\n";
  pending_ += '(';
  // The first row of a derived table types its NULLs; a direct INSERT ... VALUES needs no types.
  const bool typed_null = run_rows_ == 1 && kind != Run::kInsert;
  bool first = true;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (kind == Run::kDelete && !t.columns[i].key) continue;
    if (!first) pending_ += ", ";
    first = false;
    AppendLiteral(pending_, t.columns[i], row[i], typed_null);
  }
  pending_ += ')';
  return MaybeSend(error);
}

bool SqlServerTarget::MaybeSend(std::string& error) {
  if (pending_.size() < kBatchBytes) return true;
  CloseRun();
  return SendPending(error);
}

bool SqlServerTarget::SendPending(std::string& error) {
  if (pending_.empty()) return true;
  sent_in_transaction_ = true;
  const bool ok = session_->Execute(pending_, {}, error);
  if (!ok) {
    if (pending_events_ == 1) {
      error = DescribeOrigin(first_origin_) + ": " + first_event_ + ": " + error;
    } else if (pending_events_ > 1) {
      error = "events from " + DescribeOrigin(first_origin_) + " to " + DescribeOrigin(last_origin_) + " (" +
              std::to_string(pending_events_) + " events, the first " + first_event_ + "): " + error;
    }
  }
  pending_.clear();
  pending_events_ = 0;
  return ok;
}

bool SqlServerTarget::Upsert(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                             std::string& error) {
  auto& t = static_cast<Table&>(table);
  return AddRow(t, t.has_key ? Run::kMerge : Run::kInsert, row, origin, error);
}

bool SqlServerTarget::Delete(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                             std::string& error) {
  auto& t = static_cast<Table&>(table);
  if (t.has_key) return AddRow(t, Run::kDelete, row, origin, error);
  // Without a key: one row with these values goes.
  CloseRun();
  NoteEvent(t, &row, origin);
  pending_ += "DELETE TOP (1) FROM " + t.qualified + " WHERE ";
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (i > 0) pending_ += " AND ";
    pending_ += SqlServerQuoteIdentifier(t.columns[i].name);
    if (row[i].type == FieldValue::Type::kNull) {
      pending_ += " IS NULL";
    } else {
      pending_ += " = ";
      AppendLiteral(pending_, t.columns[i], row[i], false);
    }
  }
  pending_ += ";\n";
  return MaybeSend(error);
}

bool SqlServerTarget::UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row,
                                         const std::vector<bool>& unavailable, const RowOrigin& origin,
                                         std::string& error) {
  auto& t = static_cast<Table&>(table);
  if (!t.has_key) {
    error = DescribeOrigin(origin) + ": table " + t.name +
            ": an update with unavailable columns needs a key to find the row";
    return false;
  }
  CloseRun();
  NoteEvent(t, &row, origin);
  std::string sets, where;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    std::string& part = t.columns[i].key ? where : sets;
    if (!t.columns[i].key && (unavailable[i] || t.identity[i])) continue;
    if (!part.empty()) part += t.columns[i].key ? " AND " : ", ";
    part += SqlServerQuoteIdentifier(t.columns[i].name) + " = ";
    AppendLiteral(part, t.columns[i], row[i], false);
  }
  if (sets.empty()) return true;  // nothing known but the key: the row stays as it is
  // The missing row is found by the server, inside the batch: the error names the event.
  std::string message = "sqltail: " + DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) +
                        ": an update with unavailable columns for a row the target does not have";
  if (message.size() > 1000) message.resize(1000);
  pending_ += "UPDATE " + t.qualified + " SET " + sets + " WHERE " + where + ";\nIF @@ROWCOUNT = 0 THROW 50000, ";
  AppendSqlServerString(pending_, message);
  pending_ += ", 1;\n";
  return MaybeSend(error);
}

bool SqlServerTarget::Truncate(const std::string& table, const RowOrigin& origin, std::string& error) {
  CloseRun();
  if (pending_events_++ == 0) first_origin_ = origin, first_event_ = "table " + table;
  last_origin_ = origin;
  const std::string qualified = SqlServerQuoteIdentifier(schema_) + "." + SqlServerQuoteIdentifier(table);
  // DELETE, not TRUNCATE TABLE: it needs only DELETE permission and works on referenced tables.
  pending_ += "IF OBJECT_ID(";
  AppendSqlServerString(pending_, qualified);
  pending_ += ", N'U') IS NOT NULL DELETE FROM " + qualified + ";\n";
  return MaybeSend(error);
}

bool SqlServerTarget::ReadRows(const std::string& table, const StoredRowVisitor&, std::string& error) {
  error = "table " + table + ": verify does not read SQL Server targets yet";
  return false;
}

}  // namespace sqltail::engine
