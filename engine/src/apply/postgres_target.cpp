#include "postgres_target.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace sqltail::engine {
namespace {

// A transaction-scoped advisory lock that sqltail's DDL takes (the key spells "sqltail").
constexpr const char* kDdlLock = "SELECT pg_advisory_xact_lock(32494332944673132)";

// A batch is written when it holds this many rows or bytes (and at commit). Large enough that the
// statement overhead vanishes, small enough to bound memory.
constexpr size_t kFlushRows = 10000;
constexpr size_t kFlushBytes = 16 << 20;
constexpr size_t kSlots = 32768;  // > 3 * kFlushRows: the key index stays sparse
static_assert((kSlots & (kSlots - 1)) == 0 && kSlots > 3 * kFlushRows);

constexpr char kHex[] = "0123456789abcdef";

// One line: "postgresql: <message> (<detail>) [SQLSTATE]".
std::string PgError(pg_conn* conn, const PGresult* result) {
  std::string out = "postgresql: ";
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr) {
    out += primary;
    if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL))
      out += std::string(" (") + detail + ")";
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) out += std::string(" [") + state + "]";
  } else {
    out += PQerrorMessage(conn);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out)
    if (c == '\n') c = ' ';
  return out;
}

// Owns a PGresult.
struct Result {
  PGresult* r;
  explicit Result(PGresult* result) : r(result) {}
  ~Result() { PQclear(r); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ExecStatusType status() const { return PQresultStatus(r); }
};

const char* PgType(const TargetColumn& c, std::string& buffer) {
  switch (c.kind) {
    case ValueKind::kInteger:
      if (c.connect_type == "int8" || c.connect_type == "int16") return "smallint";
      if (c.connect_type == "int32") return "integer";
      return "bigint";
    case ValueKind::kReal:
      return c.connect_type == "float" || c.connect_type == "float32" ? "real" : "double precision";
    case ValueKind::kBoolean:
      return "boolean";
    case ValueKind::kBytes:
      return "bytea";
    case ValueKind::kDecimal:
      if (c.precision <= 0) return "numeric";
      buffer = "numeric(" + std::to_string(c.precision) + "," + std::to_string(c.scale) + ")";
      return buffer.c_str();
    case ValueKind::kText:
      break;
  }
  return "text";
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<size_t>(end - buf));
}

// A value as PostgreSQL's text input takes it. Returns false for NULL (nothing appended).
bool AppendText(std::string& out, const TargetColumn& column, const FieldValue& v) {
  switch (v.type) {
    case FieldValue::Type::kNull:
      return false;
    case FieldValue::Type::kBool:
      out += column.kind == ValueKind::kBoolean ? (v.boolean ? "t" : "f") : (v.boolean ? "1" : "0");
      return true;
    case FieldValue::Type::kInteger:
      AppendNumber(out, v.integer);
      return true;
    case FieldValue::Type::kReal:
      AppendNumber(out, v.real);
      return true;
    case FieldValue::Type::kText:
      if (column.kind == ValueKind::kBytes) {
        out += "\\x";
        for (unsigned char c : v.text) out += kHex[c >> 4], out += kHex[c & 15];
      } else {
        out += v.text;
      }
      return true;
  }
  return false;
}

// A value as an element of an array literal: NULL, or the text input quoted ("a\"b").
void AppendArrayElement(std::string& out, const TargetColumn& column, const FieldValue& v) {
  switch (v.type) {
    case FieldValue::Type::kNull:
      out += "NULL";
      return;
    case FieldValue::Type::kText:
      out += '"';
      if (column.kind == ValueKind::kBytes) {
        out += "\\\\x";  // the bytea input's backslash, escaped for the array parser
        for (unsigned char c : v.text) out += kHex[c >> 4], out += kHex[c & 15];
      } else {
        for (char c : v.text) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
      }
      out += '"';
      return;
    default:
      AppendText(out, column, v);  // numbers and t/f need no quoting
  }
}

}  // namespace

std::string PgColumnType(const TargetColumn& column) {
  std::string buffer;
  return PgType(column, buffer);
}

std::string PgCreateTableSql(std::string_view qualified, const std::vector<TargetColumn>& columns) {
  std::string create = "CREATE TABLE IF NOT EXISTS " + std::string(qualified) + " (", keys, type_buffer;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string quoted = PgQuoteIdentifier(columns[i].name);
    if (i > 0) create += ", ";
    create += quoted + " " + PgType(columns[i], type_buffer);
    if (columns[i].key) keys += (keys.empty() ? "" : ", ") + quoted;
  }
  if (!keys.empty()) create += ", PRIMARY KEY (" + keys + ")";
  return create + ")";
}

namespace {

struct PgNumericType {
  enum Kind { kNone, kInteger, kReal, kNumeric } kind = kNone;
  int digits = 0;                // kInteger: decimal digits of the largest value; kReal: 1 real, 2 double
  int precision = 0, scale = 0;  // kNumeric; precision 0: unbounded
};

PgNumericType ParsePgNumericType(std::string_view type) {
  if (type == "smallint") return {PgNumericType::kInteger, 5};
  if (type == "integer") return {PgNumericType::kInteger, 10};
  if (type == "bigint") return {PgNumericType::kInteger, 19};
  if (type == "real") return {PgNumericType::kReal, 1};
  if (type == "double precision") return {PgNumericType::kReal, 2};
  if (type == "numeric") return {PgNumericType::kNumeric};
  int precision = 0, scale = 0;
  constexpr std::string_view kPrefix = "numeric(";
  if (type.substr(0, kPrefix.size()) != kPrefix || type.back() != ')') return {};
  const std::string_view args = type.substr(kPrefix.size(), type.size() - kPrefix.size() - 1);
  const size_t comma = args.find(',');
  if (comma == std::string_view::npos) return {};
  auto p = std::from_chars(args.data(), args.data() + comma, precision);
  auto s = std::from_chars(args.data() + comma + 1, args.data() + args.size(), scale);
  if (p.ec != std::errc() || s.ec != std::errc() || p.ptr != args.data() + comma ||
      s.ptr != args.data() + args.size() || precision <= 0 || scale < 0 || scale > precision)
    return {};
  return {PgNumericType::kNumeric, 0, precision, scale};
}

}  // namespace

bool PgTypeWidens(std::string_view stored, std::string_view wanted) {
  if (stored == wanted) return false;
  const PgNumericType from = ParsePgNumericType(stored), to = ParsePgNumericType(wanted);
  switch (from.kind) {
    case PgNumericType::kNone:
      return false;
    case PgNumericType::kInteger:
      if (to.kind == PgNumericType::kInteger) return to.digits > from.digits;
      if (to.kind == PgNumericType::kNumeric) return to.precision == 0 || to.precision - to.scale >= from.digits;
      // A double holds every integer up to 2^53 exactly, a real up to 2^24.
      return to.kind == PgNumericType::kReal && (to.digits == 2 ? from.digits <= 10 : from.digits <= 5);
    case PgNumericType::kReal:
      return to.kind == PgNumericType::kReal && to.digits > from.digits;
    case PgNumericType::kNumeric:
      if (to.kind != PgNumericType::kNumeric || from.precision == 0) return false;
      return to.precision == 0 || (to.scale >= from.scale && to.precision - to.scale >= from.precision - from.scale);
  }
  return false;
}

std::string PgWidenColumnSql(std::string_view qualified, const TargetColumn& column) {
  return "ALTER TABLE " + std::string(qualified) + " ALTER COLUMN " + PgQuoteIdentifier(column.name) + " TYPE " +
         PgColumnType(column);
}

std::string PgAddColumnSql(std::string_view qualified, const TargetColumn& column) {
  return "ALTER TABLE " + std::string(qualified) + " ADD COLUMN IF NOT EXISTS " + PgQuoteIdentifier(column.name) + " " +
         PgColumnType(column);
}

std::string PgQuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

struct PostgresTarget::Table : TargetTable {
  std::string qualified;                           // "schema"."table"
  std::string upsert_statement, delete_statement;  // prepared statement names
  std::vector<size_t> key_columns;                 // every column for a table without a key
  // Takes part in a foreign key (either side), found when the table is defined. Its batch is then
  // written before an event of another such table is added, so the key's checks see log order;
  // self_referencing: also before switching between deletes and upserts of the table itself.
  bool ordered = false;
  bool self_referencing = false;

  // The pending batch: each row's values as array elements, in `data`.
  struct Field {
    uint32_t offset = 0, length = 0;
  };
  struct Row {
    RowOrigin origin;
    uint64_t key_hash = 0;
    bool is_delete = false;
    bool superseded = false;  // a later event of the same key is in the batch
  };
  std::string data;
  std::vector<Field> fields;  // columns.size() per row
  std::vector<Row> rows;
  std::vector<uint32_t> slots;  // open addressing on key_hash: row index + 1, 0 = empty
  size_t live_upserts = 0, live_deletes = 0;

  std::string_view FieldText(size_t row, size_t column) const {
    const Field& f = fields[row * columns.size() + column];
    return std::string_view(data).substr(f.offset, f.length);
  }
  bool SameKey(size_t a, size_t b) const {
    for (size_t k : key_columns)
      if (FieldText(a, k) != FieldText(b, k)) return false;
    return true;
  }
  std::string DescribeStoredKey(size_t row) const {
    std::string names, values;
    for (size_t k : key_columns) {
      if (!names.empty()) names += ", ", values += ", ";
      names += columns[k].name;
      values += FieldText(row, k).substr(0, 200);
    }
    return "(" + names + ")=(" + values + ")";
  }
  void ClearBatch() {
    if (has_key && !rows.empty()) std::fill(slots.begin(), slots.end(), 0);
    data.clear();
    fields.clear();
    rows.clear();
    live_upserts = live_deletes = 0;
  }
};

PostgresTarget::PostgresTarget() = default;

PostgresTarget::~PostgresTarget() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool PostgresTarget::Exec(const char* sql, std::string& error) {
  Result r(PQexec(conn_, sql));
  if (r.status() != PGRES_COMMAND_OK && r.status() != PGRES_TUPLES_OK) {
    error = PgError(conn_, r.r) + " in: " + std::string(sql).substr(0, 300);
    return false;
  }
  return true;
}

pg_conn* ConnectPostgres(const std::vector<std::string>& conninfos, std::string& error) {
  std::vector<std::pair<std::string, std::string>> settings;
  auto set = [&](const char* key, const char* value, bool override) {
    for (auto& [k, v] : settings) {
      if (k == key) {
        if (override) v = value;
        return;
      }
    }
    settings.emplace_back(key, value);
  };
  for (const auto& conninfo : conninfos) {
    if (conninfo.empty()) continue;
    char* parse_error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
    if (options == nullptr) {
      error = "postgresql: bad connection string: " + std::string(parse_error ? parse_error : "out of memory");
      if (parse_error) PQfreemem(parse_error);
      while (!error.empty() && error.back() == '\n') error.pop_back();
      return nullptr;
    }
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o)
      if (o->val != nullptr) set(o->keyword, o->val, true);
    PQconninfoFree(options);
  }
  set("fallback_application_name", "sqltail", false);
  set("client_encoding", "UTF8", false);
  std::vector<const char*> keywords, values;
  for (const auto& [k, v] : settings) keywords.push_back(k.c_str()), values.push_back(v.c_str());
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), 0);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    error = "postgresql: cannot connect: " + PgError(conn, nullptr).substr(12);
    if (conn != nullptr) PQfinish(conn);
    return nullptr;
  }
  return conn;
}

bool PostgresTarget::Open(const std::vector<std::string>& conninfos, const std::string& schema, std::string& error) {
  schema_ = schema;
  conn_ = ConnectPostgres(conninfos, error);
  if (conn_ == nullptr) return false;
  // Notices ("relation ... already exists, skipping") are not errors: keep them off stderr.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // verify reads floats as text: shortest round-trip output (PostgreSQL's default since 12).
  if (!Exec("SET extra_float_digits = 1", error)) return false;
  const char* schema_param = schema_.c_str();
  Result exists(PQexecParams(conn_, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, nullptr, &schema_param, nullptr,
                             nullptr, 0));
  if (exists.status() != PGRES_TUPLES_OK) {
    error = PgError(conn_, exists.r);
    return false;
  }
  std::string q = PgQuoteIdentifier(schema_);
  // Under the DDL lock: appliers starting together (apply.mode = parallel) must not race.
  if (!Exec("BEGIN", error) || !Exec(kDdlLock, error)) return false;
  if (PQntuples(exists.r) == 0 && !Exec(("CREATE SCHEMA IF NOT EXISTS " + q).c_str(), error)) return false;
  if (!Exec(("CREATE TABLE IF NOT EXISTS " + q +
             ".sqltail_progress (topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL, "
             "PRIMARY KEY (topic, partition))")
                .c_str(),
            error) ||
      !Exec("COMMIT", error))
    return false;
  Result prepared(PQprepare(conn_, "sqltail_save_progress",
                            ("INSERT INTO " + q +
                             ".sqltail_progress AS p (topic, partition, next_offset) VALUES ($1, $2, $3) "
                             "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset "
                             "WHERE p.next_offset = $4")
                                .c_str(),
                            4, nullptr));
  if (prepared.status() != PGRES_COMMAND_OK) {
    error = PgError(conn_, prepared.r);
    return false;
  }
  return true;
}

std::string PostgresTarget::Describe() const {
  return std::string("PostgreSQL ") + PQhost(conn_) + ":" + PQport(conn_) + "/" + PQdb(conn_) + " schema " + schema_;
}

bool PostgresTarget::Begin(std::string& error) { return Exec("BEGIN", error); }

bool PostgresTarget::Commit(std::string& error) {
  // At most one table with a foreign key holds a batch (KeepForeignKeyOrder): any order will do.
  for (auto& table : tables_)
    if (!Flush(*table, error)) return false;
  ordered_pending_ = nullptr;
  Result r(PQexec(conn_, "COMMIT"));
  // COMMIT of a failed transaction "succeeds" with the tag ROLLBACK.
  if (r.status() != PGRES_COMMAND_OK || std::strcmp(PQcmdStatus(r.r), "COMMIT") != 0) {
    error = r.status() != PGRES_COMMAND_OK ? PgError(conn_, r.r) : "postgresql: the transaction was rolled back";
    return false;
  }
  return true;
}

void PostgresTarget::Rollback() {
  Result r(PQexec(conn_, "ROLLBACK"));
  // A table created in the rolled-back transaction is gone: define every table again when used.
  // (Prepared statements outlive the transaction; new ones get new names.)
  tables_.clear();
  ordered_pending_ = nullptr;
}

bool PostgresTarget::Truncate(const std::string& table, const RowOrigin& origin, std::string& error) {
  if (TargetTable* defined = FindTable(table)) {
    auto& t = static_cast<Table&>(*defined);
    if (!KeepForeignKeyOrder(t, true, error)) return false;
    t.ClearBatch();  // would go anyway
  }
  const std::string qualified = PgQuoteIdentifier(schema_) + "." + PgQuoteIdentifier(table);
  const char* name = qualified.c_str();
  Result exists(PQexecParams(conn_, "SELECT to_regclass($1) IS NOT NULL", 1, nullptr, &name, nullptr, nullptr, 0));
  if (exists.status() != PGRES_TUPLES_OK) {
    error = DescribeOrigin(origin) + ": table " + table + ": " + PgError(conn_, exists.r);
    return false;
  }
  if (PQgetvalue(exists.r, 0, 0)[0] != 't') return true;
  if (!Exec(("TRUNCATE TABLE " + qualified).c_str(), error)) {
    error = DescribeOrigin(origin) + ": table " + table + ": " + error;
    return false;
  }
  return true;
}

bool PostgresTarget::UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>& row,
                                        const std::vector<bool>& unavailable, const RowOrigin& origin,
                                        std::string& error) {
  auto& t = static_cast<Table&>(table);
  if (!t.has_key) {
    error = DescribeOrigin(origin) + ": table " + t.name +
            ": an update with unavailable columns needs a key to find the row";
    return false;
  }
  // Earlier events of this table are in its batch: write them first, so this update follows them.
  if (!KeepForeignKeyOrder(t, false, error) || !Flush(t, error)) return false;
  // Rare (updates the log alone does not determine): a statement for this set of columns.
  std::string sets, where, type_buffer;
  std::vector<size_t> order;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (t.columns[i].key || unavailable[i]) continue;
    order.push_back(i);
    sets += (sets.empty() ? "" : ", ") + PgQuoteIdentifier(t.columns[i].name) + " = $" + std::to_string(order.size()) +
            "::" + PgType(t.columns[i], type_buffer);
  }
  if (order.empty()) return true;  // nothing known but the key: the row stays as it is
  for (size_t i = 0; i < t.columns.size(); ++i) {
    if (!t.columns[i].key) continue;
    order.push_back(i);
    where += (where.empty() ? "" : " AND ") + PgQuoteIdentifier(t.columns[i].name) + " = $" +
             std::to_string(order.size()) + "::" + PgType(t.columns[i], type_buffer);
  }
  const std::string sql = "UPDATE " + t.qualified + " SET " + sets + " WHERE " + where;
  param_buffers_.resize(std::max(param_buffers_.size(), order.size()));
  param_values_.resize(order.size());
  for (size_t p = 0; p < order.size(); ++p) {
    param_buffers_[p].clear();
    param_values_[p] =
        AppendText(param_buffers_[p], t.columns[order[p]], row[order[p]]) ? param_buffers_[p].c_str() : nullptr;
  }
  Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(order.size()), nullptr, param_values_.data(), nullptr,
                        nullptr, 0));
  if (r.status() != PGRES_COMMAND_OK) {
    error = DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) + ": " + PgError(conn_, r.r);
    return false;
  }
  if (std::strcmp(PQcmdTuples(r.r), "0") == 0) {
    error = DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) +
            ": an update with unavailable columns for a row the target does not have (its other values are unknown)";
    return false;
  }
  return true;
}

bool PostgresTarget::LoadProgress(ProgressMap& out, std::string& error) {
  Result r(PQexec(
      conn_,
      ("SELECT topic, partition, next_offset FROM " + PgQuoteIdentifier(schema_) + ".sqltail_progress").c_str()));
  if (r.status() != PGRES_TUPLES_OK) {
    error = PgError(conn_, r.r);
    return false;
  }
  for (int i = 0; i < PQntuples(r.r); ++i)
    out[{PQgetvalue(r.r, i, 0), std::atoi(PQgetvalue(r.r, i, 1))}] = std::strtoll(PQgetvalue(r.r, i, 2), nullptr, 10);
  return true;
}

bool PostgresTarget::SaveProgress(const std::string& topic, int32_t partition, int64_t expected, int64_t next_offset,
                                  std::string& error) {
  char partition_text[16], offset_text[24], expected_text[24];
  *std::to_chars(partition_text, partition_text + 15, partition).ptr = '\0';
  *std::to_chars(offset_text, offset_text + 23, next_offset).ptr = '\0';
  *std::to_chars(expected_text, expected_text + 23, expected).ptr = '\0';
  // No row expected: NULL, which no stored row equals, so an existing row is "moved".
  const char* values[4] = {topic.c_str(), partition_text, offset_text, expected < 0 ? nullptr : expected_text};
  Result r(PQexecPrepared(conn_, "sqltail_save_progress", 4, values, nullptr, nullptr, 0));
  if (r.status() != PGRES_COMMAND_OK) {
    error = "saving progress: " + PgError(conn_, r.r);
    return false;
  }
  if (std::strcmp(PQcmdTuples(r.r), "0") == 0) {
    error = ProgressMoved(topic, partition, expected);
    return false;
  }
  return true;
}

TargetTable* PostgresTarget::FindTable(const std::string& name) {
  for (auto& t : tables_)
    if (t->name == name) return t.get();
  return nullptr;
}

TargetTable* PostgresTarget::DefineTable(const std::string& name, std::vector<TargetColumn> columns,
                                         std::string& error) {
  auto table = std::make_unique<Table>();
  const std::string number = std::to_string(next_statement_number_++);
  table->name = name;
  table->columns = std::move(columns);
  table->qualified = PgQuoteIdentifier(schema_) + "." + PgQuoteIdentifier(name);
  table->upsert_statement = "sqltail_upsert_" + number;
  table->delete_statement = "sqltail_delete_" + number;
  for (const auto& c : table->columns) table->has_key |= c.key;
  const std::string create = PgCreateTableSql(table->qualified, table->columns);
  std::string names, unnest, keys, updates, key_unnest, key_names, key_match, keyless_match, type_buffer;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const auto& c = table->columns[i];
    std::string quoted = PgQuoteIdentifier(c.name);
    std::string type = PgType(c, type_buffer);
    std::string param = "$" + std::to_string(i + 1);
    if (i > 0) names += ", ", unnest += ", ", keyless_match += " AND ";
    names += quoted;
    unnest += param + "::" + type + "[]";
    keyless_match += quoted + " IS NOT DISTINCT FROM " + param + "::" + type;
    if (c.key) {
      std::string key_param = "$" + std::to_string(table->key_columns.size() + 1);
      if (!keys.empty()) keys += ", ", key_unnest += ", ", key_match += " AND ";
      keys += quoted;
      key_unnest += key_param + "::" + type + "[]";
      key_match += "t." + quoted + " = d." + quoted;
    } else {
      updates += (updates.empty() ? "" : ", ") + quoted + " = EXCLUDED." + quoted;
    }
    if (c.key || !table->has_key) table->key_columns.push_back(i);
  }
  std::string upsert = "INSERT INTO " + table->qualified + " (" + names + ") SELECT * FROM unnest(" + unnest + ")";
  std::string remove;
  if (table->has_key) {
    upsert += updates.empty() ? " ON CONFLICT DO NOTHING" : " ON CONFLICT (" + keys + ") DO UPDATE SET " + updates;
    remove = "DELETE FROM " + table->qualified + " AS t USING unnest(" + key_unnest + ") AS d(" + keys + ") WHERE " +
             key_match;
    table->slots.assign(kSlots, 0);
  } else {
    // Without a key a delete removes one matching row, in event order (DeleteWithoutKey).
    remove = "DELETE FROM " + table->qualified + " WHERE ctid = (SELECT ctid FROM " + table->qualified + " WHERE " +
             keyless_match + " LIMIT 1)";
  }
  // Two appliers creating one table at once: without the lock the second fails on pg_type's unique
  // index instead of finding the table (IF NOT EXISTS checks before it waits).
  if (!Exec(kDdlLock, error) || !Exec(create.c_str(), error)) return nullptr;
  {
    const char* qualified = table->qualified.c_str();
    Result fk(PQexecParams(conn_,
                           "SELECT count(*) > 0, coalesce(bool_or(conrelid = confrelid), false) FROM pg_constraint "
                           "WHERE contype = 'f' AND (conrelid = $1::regclass OR confrelid = $1::regclass)",
                           1, nullptr, &qualified, nullptr, nullptr, 0));
    if (fk.status() != PGRES_TUPLES_OK) {
      error = "table " + name + ": finding its foreign keys: " + PgError(conn_, fk.r);
      return nullptr;
    }
    table->ordered = PQgetvalue(fk.r, 0, 0)[0] == 't';
    table->self_referencing = PQgetvalue(fk.r, 0, 1)[0] == 't';
  }
  const int key_params = static_cast<int>(table->has_key ? table->key_columns.size() : table->columns.size());
  Result u(PQprepare(conn_, table->upsert_statement.c_str(), upsert.c_str(), static_cast<int>(table->columns.size()),
                     nullptr));
  Result d(PQprepare(conn_, table->delete_statement.c_str(), remove.c_str(), key_params, nullptr));
  if (u.status() != PGRES_COMMAND_OK || d.status() != PGRES_COMMAND_OK) {
    error = "table " + name + ": " + PgError(conn_, u.status() != PGRES_COMMAND_OK ? u.r : d.r);
    return nullptr;
  }
  tables_.push_back(std::move(table));
  return tables_.back().get();
}

bool PostgresTarget::ForgetTable(const std::string& name, std::string& error) {
  auto it = std::find_if(tables_.begin(), tables_.end(), [&](const auto& t) { return t->name == name; });
  if (it == tables_.end()) return true;
  Table& t = **it;
  if (!Flush(t, error)) return false;
  if (ordered_pending_ == &t) ordered_pending_ = nullptr;
  // Statement names are never reused: these are simply dropped.
  Result upsert_gone(PQexec(conn_, ("DEALLOCATE " + t.upsert_statement).c_str()));
  Result delete_gone(PQexec(conn_, ("DEALLOCATE " + t.delete_statement).c_str()));
  tables_.erase(it);
  return true;
}

bool PostgresTarget::EvolveTable(const std::string& name, const std::vector<TargetColumn>& columns,
                                 const RowOrigin& origin, EvolveResult& result, std::string& error) {
  result = EvolveResult{};
  if (!ForgetTable(name, error)) return false;
  auto fail = [&](const std::string& what) {
    error = DescribeOrigin(origin) + ": table " + name + ": " + what;
    return false;
  };
  const std::string qualified = PgQuoteIdentifier(schema_) + "." + PgQuoteIdentifier(name);
  // The table's columns as stored (none: no such table). Compared exactly: the names are quoted.
  const char* param = qualified.c_str();
  Result stored(PQexecParams(conn_,
                             "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                             1, nullptr, &param, nullptr, nullptr, 0));
  if (stored.status() != PGRES_TUPLES_OK) return fail("reading its columns: " + PgError(conn_, stored.r));
  std::vector<std::string> have, have_types;
  for (int i = 0; i < PQntuples(stored.r); ++i) {
    have.emplace_back(PQgetvalue(stored.r, i, 0));
    have_types.emplace_back(PQgetvalue(stored.r, i, 1));
  }
  std::string exec_error;
  // Under the DDL lock, as DefineTable: appliers of one target (apply.mode = parallel) do not race.
  if (have.empty()) {
    if (!Exec(kDdlLock, exec_error) || !Exec(PgCreateTableSql(qualified, columns).c_str(), exec_error))
      return fail(exec_error);
    result.created = true;
    return true;
  }
  bool locked = false;
  for (const auto& c : columns) {
    const auto at = std::find(have.begin(), have.end(), c.name);
    if (at != have.end()) {
      // A source type change that the stored column cannot hold (int to bigint, a wider decimal):
      // widened under the lock; every stored value keeps its value.
      std::string stored_type = have_types[static_cast<size_t>(at - have.begin())];
      const std::string wanted = PgColumnType(c);
      if (!PgTypeWidens(stored_type, wanted)) continue;
      if (!locked && !Exec(kDdlLock, exec_error)) return fail(exec_error);
      locked = true;
      // Read again under the lock: another applier may have widened it since, maybe further.
      const char* params[2] = {qualified.c_str(), c.name.c_str()};
      Result now(PQexecParams(conn_,
                              "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                              "WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
                              2, nullptr, params, nullptr, nullptr, 0));
      if (now.status() != PGRES_TUPLES_OK || PQntuples(now.r) != 1)
        return fail("reading the type of column " + c.name + ": " + PgError(conn_, now.r));
      stored_type = PQgetvalue(now.r, 0, 0);
      if (!PgTypeWidens(stored_type, wanted)) continue;
      if (!Exec(PgWidenColumnSql(qualified, c).c_str(), exec_error)) return fail(exec_error);
      result.widened.push_back(c.name + " " + stored_type + " -> " + wanted);
      continue;
    }
    // IF NOT EXISTS: another applier may have added it since the columns were read.
    if ((!locked && !Exec(kDdlLock, exec_error)) || !Exec(PgAddColumnSql(qualified, c).c_str(), exec_error))
      return fail(exec_error);
    locked = true;
    result.added.push_back(c.name);
    have.push_back(c.name);
  }
  return true;
}

bool PostgresTarget::Upsert(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                            std::string& error) {
  return Add(static_cast<Table&>(table), row, origin, false, error);
}

bool PostgresTarget::Delete(TargetTable& table, const std::vector<FieldValue>& row, const RowOrigin& origin,
                            std::string& error) {
  auto& t = static_cast<Table&>(table);
  if (!t.has_key) return DeleteWithoutKey(t, row, origin, error);
  return Add(t, row, origin, true, error);
}

bool PostgresTarget::KeepForeignKeyOrder(Table& t, bool is_delete, std::string& error) {
  if (!t.ordered) return true;
  Table* pending = ordered_pending_;
  const bool switched = pending != &t || (t.self_referencing && ordered_pending_delete_ != is_delete);
  ordered_pending_ = &t;
  ordered_pending_delete_ = is_delete;
  if (pending == nullptr || !switched || pending->rows.empty()) return true;
  return Flush(*pending, error);
}

bool PostgresTarget::Add(Table& t, const std::vector<FieldValue>& row, const RowOrigin& origin, bool is_delete,
                         std::string& error) {
  if (!KeepForeignKeyOrder(t, is_delete, error)) return false;
  const size_t index = t.rows.size();
  for (size_t i = 0; i < t.columns.size(); ++i) {
    size_t offset = t.data.size();
    AppendArrayElement(t.data, t.columns[i], row[i]);
    t.fields.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(t.data.size() - offset)});
  }
  Table::Row& added = t.rows.emplace_back();
  added.origin = origin;
  added.is_delete = is_delete;
  if (t.has_key) {
    // The last event of a key wins: an earlier one in the batch is dropped.
    uint64_t hash = kFnvOffset;
    for (size_t k : t.key_columns) hash = Fnv1a(hash, t.FieldText(index, k)) * 31 + 1;
    added.key_hash = hash;
    const size_t mask = t.slots.size() - 1;
    size_t slot = hash & mask;
    for (; t.slots[slot] != 0; slot = (slot + 1) & mask) {
      size_t other = t.slots[slot] - 1;
      if (t.rows[other].key_hash == hash && t.SameKey(other, index)) {
        t.rows[other].superseded = true;
        --(t.rows[other].is_delete ? t.live_deletes : t.live_upserts);
        break;
      }
    }
    t.slots[slot] = static_cast<uint32_t>(index + 1);
  }
  ++(is_delete ? t.live_deletes : t.live_upserts);
  if (t.rows.size() >= kFlushRows || t.data.size() >= kFlushBytes) return Flush(t, error);
  return true;
}

bool PostgresTarget::Flush(Table& t, std::string& error) {
  if (t.rows.empty()) return true;
  for (bool deletes : {true, false}) {
    if ((deletes ? t.live_deletes : t.live_upserts) == 0) continue;
    const size_t columns = deletes ? t.key_columns.size() : t.columns.size();
    column_arrays_.resize(std::max(column_arrays_.size(), t.columns.size()));
    param_values_.resize(columns);
    for (size_t c = 0; c < columns; ++c) {
      const size_t column = deletes ? t.key_columns[c] : c;
      std::string& array = column_arrays_[c];
      array.clear();
      array += '{';
      bool first = true;
      for (size_t r = 0; r < t.rows.size(); ++r) {
        if (t.rows[r].superseded || t.rows[r].is_delete != deletes) continue;
        if (!first) array += ',';
        first = false;
        array += t.FieldText(r, column);
      }
      array += '}';
      param_values_[c] = array.c_str();
    }
    Result r(PQexecPrepared(conn_, deletes ? t.delete_statement.c_str() : t.upsert_statement.c_str(),
                            static_cast<int>(columns), param_values_.data(), nullptr, nullptr, 0));
    if (r.status() != PGRES_COMMAND_OK) {
      error = DiagnoseBatch(t, deletes, 0, t.rows.size());
      if (error.empty())
        error = "events from " + DescribeOrigin(t.rows.front().origin) + " to " + DescribeOrigin(t.rows.back().origin) +
                ": table " + t.name + ", " + std::to_string(t.rows.size()) + " rows: " + PgError(conn_, r.r);
      t.ClearBatch();
      return false;
    }
  }
  t.ClearBatch();
  return true;
}

// The batch statement failed, so the transaction is lost anyway: in a fresh transaction (rolled back
// at the end), write the rows one at a time to find the one that fails and name it.
std::string PostgresTarget::DiagnoseBatch(Table& t, bool deletes, size_t first, size_t last) {
  if (PQstatus(conn_) != CONNECTION_OK) return {};
  std::string ignored;
  if (!Exec("ROLLBACK", ignored) || !Exec("BEGIN", ignored)) return {};
  const size_t columns = deletes ? t.key_columns.size() : t.columns.size();
  std::string found;
  for (size_t r = first; r < last && found.empty(); ++r) {
    if (t.rows[r].superseded || t.rows[r].is_delete != deletes) continue;
    for (size_t c = 0; c < columns; ++c) {
      column_arrays_[c] = "{" + std::string(t.FieldText(r, deletes ? t.key_columns[c] : c)) + "}";
      param_values_[c] = column_arrays_[c].c_str();
    }
    Result result(PQexecPrepared(conn_, deletes ? t.delete_statement.c_str() : t.upsert_statement.c_str(),
                                 static_cast<int>(columns), param_values_.data(), nullptr, nullptr, 0));
    if (result.status() != PGRES_COMMAND_OK)
      found = DescribeOrigin(t.rows[r].origin) + ": table " + t.name + ", key " + t.DescribeStoredKey(r) + ": " +
              PgError(conn_, result.r);
  }
  Exec("ROLLBACK", ignored);
  return found;
}

bool PostgresTarget::DeleteWithoutKey(Table& t, const std::vector<FieldValue>& row, const RowOrigin& origin,
                                      std::string& error) {
  // Earlier inserts of the batch may be the row this deletes: write them first.
  if (!KeepForeignKeyOrder(t, true, error) || !Flush(t, error)) return false;
  param_buffers_.resize(std::max(param_buffers_.size(), t.columns.size()));
  param_values_.resize(t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) {
    param_buffers_[i].clear();
    param_values_[i] = AppendText(param_buffers_[i], t.columns[i], row[i]) ? param_buffers_[i].c_str() : nullptr;
  }
  Result r(PQexecPrepared(conn_, t.delete_statement.c_str(), static_cast<int>(t.columns.size()), param_values_.data(),
                          nullptr, nullptr, 0));
  if (r.status() != PGRES_COMMAND_OK) {
    error = DescribeOrigin(origin) + ": table " + t.name + ", key " + DescribeKey(t, row) + ": " + PgError(conn_, r.r);
    return false;
  }
  return true;
}

bool PostgresTarget::ReadRows(const std::string& table, const StoredRowVisitor& on_row, std::string& error) {
  if (!Exec("BEGIN", error) || !Exec(("DECLARE sqltail_verify NO SCROLL CURSOR FOR SELECT * FROM " +
                                      PgQuoteIdentifier(schema_) + "." + PgQuoteIdentifier(table))
                                         .c_str(),
                                     error)) {
    error = "table " + table + ": " + error;
    Rollback();
    return false;
  }
  std::vector<std::string> names;
  std::vector<VerifyValue> row;
  std::vector<std::string> bytes;  // unescaped bytea values of the current row
  for (;;) {
    Result r(PQexec(conn_, "FETCH FORWARD 20000 FROM sqltail_verify"));
    if (r.status() != PGRES_TUPLES_OK) {
      error = "table " + table + ": " + PgError(conn_, r.r);
      Rollback();
      return false;
    }
    const int n = PQntuples(r.r), columns = PQnfields(r.r);
    if (names.empty())
      for (int c = 0; c < columns; ++c) names.emplace_back(PQfname(r.r, c));
    if (n == 0) break;
    row.resize(static_cast<size_t>(columns));
    bytes.resize(static_cast<size_t>(columns));
    for (int i = 0; i < n; ++i) {
      for (int c = 0; c < columns; ++c) {
        VerifyValue& v = row[static_cast<size_t>(c)];
        v = VerifyValue{};
        if (PQgetisnull(r.r, i, c)) continue;
        const char* text = PQgetvalue(r.r, i, c);
        const size_t length = static_cast<size_t>(PQgetlength(r.r, i, c));
        switch (PQftype(r.r, c)) {
          case 16:  // boolean
            v.type = VerifyValue::Type::kBool;
            v.boolean = text[0] == 't';
            break;
          case 20:  // bigint
          case 21:  // smallint
          case 23:  // integer
            v.type = VerifyValue::Type::kInteger;
            std::from_chars(text, text + length, v.integer);
            break;
          case 700:  // real: its shortest text read as a double, as SQLite stored the JSON number
          case 701:  // double precision
            v.type = VerifyValue::Type::kReal;
            v.real = std::strtod(text, nullptr);
            break;
          case 17: {  // bytea
            size_t size = 0;
            unsigned char* unescaped = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &size);
            bytes[static_cast<size_t>(c)].assign(reinterpret_cast<const char*>(unescaped), size);
            PQfreemem(unescaped);
            v.type = VerifyValue::Type::kBytes;
            v.text = bytes[static_cast<size_t>(c)];
            break;
          }
          default:  // numeric (its text at the column's scale), text
            v.type = VerifyValue::Type::kText;
            v.text = std::string_view(text, length);
        }
      }
      on_row(names, row);
    }
  }
  Rollback();
  return true;
}

}  // namespace sqltail::engine
