// The initial snapshot: consistency (docs/architecture.md "The initial snapshot"), keyset chunks,
// the FixedVar image of a SELECTed row, and the exactly-once resume.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "snapshot_checkpoint.h"
#include "snapshot_text.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/tds/error.h"

namespace sqltail::engine {

using logreader::Lsn;
using logreader::SqlType;

bool ParseSnapshotMode(std::string_view text, SnapshotMode& out) {
  if (text == "initial") {
    out = SnapshotMode::kInitial;
  } else if (text == "never") {
    out = SnapshotMode::kNever;
  } else if (text == "when_needed") {
    out = SnapshotMode::kWhenNeeded;
  } else {
    return false;
  }
  return true;
}

void AppendSnapshotCheckpoint(const SnapshotCheckpoint& s, std::string& out) {
  if (!s.running && s.epochs.empty()) return;
  out += s.running ? ",\"snapshot\":true" : ",\"snapshot\":false";
  out += ",\"snapshot_epochs\":[";
  for (size_t i = 0; i < s.epochs.size(); ++i) {
    const SnapshotEpoch& e = s.epochs[i];
    if (i > 0) out += ',';
    out += "{\"lsn\":\"" + e.lsn.ToString() + "\",\"table\":";
    logreader::AppendJsonString(e.table, out);
    out += ",\"key\":[";
    for (size_t k = 0; k < e.key.size(); ++k) {
      if (k > 0) out += ',';
      out += std::to_string(e.key[k]);
    }
    out += "]}";
  }
  out += ']';
}

bool ParseSnapshotCheckpoint(simdjson::dom::element root, SnapshotCheckpoint& out, std::string& error) {
  out = SnapshotCheckpoint();
  bool running = false;
  auto running_error = root["snapshot"].get(running);
  if (running_error == simdjson::NO_SUCH_FIELD) return true;
  simdjson::dom::array epochs;
  if (running_error || root["snapshot_epochs"].get(epochs)) {
    error = "checkpoint has an invalid snapshot/snapshot_epochs pair";
    return false;
  }
  out.running = running;
  for (simdjson::dom::element e : epochs) {
    SnapshotEpoch epoch;
    std::string_view lsn_text, table;
    simdjson::dom::array key;
    std::optional<Lsn> lsn;
    if (e["lsn"].get(lsn_text) || !(lsn = Lsn::Parse(lsn_text)) || e["table"].get(table) || e["key"].get(key)) {
      error = "checkpoint has a snapshot epoch without lsn, table or key";
      return false;
    }
    epoch.lsn = *lsn;
    epoch.table = std::string(table);
    for (simdjson::dom::element k : key) {
      int64_t value = 0;
      if (k.get(value)) {
        error = "checkpoint has a snapshot key that is not an integer";
        return false;
      }
      epoch.key.push_back(value);
    }
    if (!out.epochs.empty() && epoch.lsn < out.epochs.back().lsn) {
      error = "checkpoint has snapshot epochs out of LSN order";
      return false;
    }
    out.epochs.push_back(std::move(epoch));
  }
  if (out.epochs.empty() && out.running) {
    error = "checkpoint says a snapshot runs but has no snapshot epoch";
    return false;
  }
  return true;
}

namespace {

constexpr std::string_view kTxnEndHeader = "sqltail.txn.end";

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsIntegerType(SqlType t) {
  return t == SqlType::kTinyInt || t == SqlType::kSmallInt || t == SqlType::kInt || t == SqlType::kBigInt;
}

// Types whose CONVERT(varbinary) bytes map to the stored bytes by a documented or stated rule
// (docs/architecture.md): integers (big-endian two's complement, the byte reverse of the stored
// little-endian value), bit (one byte 0/1), character and binary types (the stored bytes). The
// date/time, exact and approximate numeric and uniqueidentifier types are read as text instead
// (snapshot_text.h).
bool IsBinarySnapshotType(SqlType t) {
  switch (t) {
    case SqlType::kTinyInt:
    case SqlType::kSmallInt:
    case SqlType::kInt:
    case SqlType::kBigInt:
    case SqlType::kBit:
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kNChar:
    case SqlType::kNVarChar:
    case SqlType::kBinary:
    case SqlType::kVarBinary:
      return true;
    default:
      return false;
  }
}

std::string QuoteName(std::string_view name) {
  std::string out = "[";
  for (char c : name) {
    out += c;
    if (c == ']') out += ']';
  }
  out += ']';
  return out;
}

void PutU16(std::vector<uint8_t>& out, size_t at, size_t value) {
  out[at] = static_cast<uint8_t>(value & 0xff);
  out[at + 1] = static_cast<uint8_t>((value >> 8) & 0xff);
}

// Integer from big-endian CONVERT(varbinary) bytes (tinyint is unsigned).
int64_t BigEndianInteger(std::span<const uint8_t> bytes, SqlType type) {
  uint64_t v = 0;
  for (uint8_t b : bytes) v = (v << 8) | b;
  if (type == SqlType::kTinyInt) return static_cast<int64_t>(v);
  const unsigned bits = static_cast<unsigned>(bytes.size() * 8);
  if (bits < 64 && (v >> (bits - 1)) != 0) v |= ~uint64_t{0} << bits;
  return static_cast<int64_t>(v);
}

// Integer from the stored little-endian bytes.
int64_t LittleEndianInteger(const uint8_t* data, size_t size, SqlType type) {
  uint64_t v = 0;
  for (size_t i = size; i-- > 0;) v = (v << 8) | data[i];
  if (type == SqlType::kTinyInt) return static_cast<int64_t>(v);
  const unsigned bits = static_cast<unsigned>(size * 8);
  if (bits < 64 && (v >> (bits - 1)) != 0) v |= ~uint64_t{0} << bits;
  return static_cast<int64_t>(v);
}

// How one table is read and its rows turned into FixedVar images.
struct TablePlan {
  const logreader::CapturedTable* table = nullptr;
  std::string name;                  // "schema.table"
  std::vector<size_t> selected;      // layout indices, in SELECT order
  std::vector<size_t> key_selected;  // SELECT positions of the key columns, in key order
  std::vector<char> as_text;         // by SELECT position: read as text (snapshot_text.h)
  bool resumable = false;            // a key of integer columns: keyset chunks
  size_t fixed_end = 4;
  size_t var_count = 0;
  std::string select_list;  // CONVERT(varbinary(8000), [c]) AS [c], CONVERT(char(10), [d], 23) AS [d], ...
  std::string from;         // [schema].[table]
  std::string order_by;     // [k1], [k2]
};

bool MakePlan(const logreader::CapturedTable& table, TablePlan& plan, std::string& error) {
  const auto& layout = table.layout;
  plan.table = &table;
  plan.name = table.QualifiedName();
  auto fail = [&](const std::string& what) {
    error = "snapshot: table " + plan.name + ": " + what +
            " (set capture.snapshot_mode=never or leave the table out with capture.table_exclude)";
    return false;
  };
  if (layout.compression != logreader::Compression::kNone)
    return fail("compressed tables are not read by the snapshot yet");
  const size_t count = layout.columns.size();
  for (size_t i = 0; i < count; ++i) {
    const auto& c = layout.columns[i];
    if (c.leaf_null_bit < 1 || static_cast<size_t>(c.leaf_null_bit) > count)
      return fail("column " + std::to_string(c.column_id) + " has leaf_null_bit " + std::to_string(c.leaf_null_bit));
    if (c.is_sparse) return fail("sparse columns are not read by the snapshot yet");
    if (c.IsVariable()) {
      plan.var_count = std::max(plan.var_count, static_cast<size_t>(-c.leaf_offset));
    } else {
      if (c.leaf_offset < 4 || c.max_length <= 0 || c.max_length > 8000)
        return fail("column " + std::to_string(c.column_id) + " has a fixed layout the snapshot cannot rebuild");
      plan.fixed_end = std::max(plan.fixed_end, static_cast<size_t>(c.leaf_offset + c.max_length));
    }
    if (!c.IsRendered()) continue;
    const auto text_form = SnapshotTextExpression(c, QuoteName(*c.name));
    if (!text_form && !IsBinarySnapshotType(c.type))
      return fail("column " + *c.name + " has type " + c.type_name +
                  ": reading it by SELECT is not implemented (its CONVERT(varbinary) layout is unconfirmed)");
    if (c.max_length == -1)
      return fail("column " + *c.name + " is (max): off-row values are not read by the snapshot yet");
    if (c.type == SqlType::kBit && (c.leaf_bit_position < 0 || c.leaf_bit_position > 7))
      return fail("bit column " + *c.name + " has bit position " + std::to_string(c.leaf_bit_position));
    if (!plan.select_list.empty()) plan.select_list += ", ";
    plan.select_list +=
        text_form.value_or("CONVERT(varbinary(8000), " + QuoteName(*c.name) + ")") + " AS " + QuoteName(*c.name);
    plan.selected.push_back(i);
    plan.as_text.push_back(text_form ? 1 : 0);
  }
  if (plan.fixed_end > 8060) return fail("the fixed part is longer than a row can be");
  plan.resumable = !table.key_columns.empty();
  for (size_t k : table.key_columns) {
    auto at = std::find(plan.selected.begin(), plan.selected.end(), k);
    if (at == plan.selected.end()) return fail("a key column is not readable");
    plan.key_selected.push_back(static_cast<size_t>(at - plan.selected.begin()));
    if (!IsIntegerType(layout.columns[k].type)) plan.resumable = false;
    if (!plan.order_by.empty()) plan.order_by += ", ";
    plan.order_by += QuoteName(*layout.columns[k].name);
  }
  plan.from = QuoteName(layout.schema) + "." + QuoteName(layout.table);
  return true;
}

// The FixedVar image of one SELECTed row (log-internals §3.1): status bytes, fixed part, column
// count, NULL bitmap, variable-column end offsets and data. Values arrive as CONVERT(varbinary) or
// as text (snapshot_text.h).
class RecordBuilder {
 public:
  bool Build(const TablePlan& plan, const tds::Row& row, std::vector<uint8_t>& out, std::vector<int64_t>& key,
             std::string& error) {
    const auto& columns = plan.table->layout.columns;
    const size_t count = columns.size();
    values_.assign(count, std::span<const uint8_t>());
    nulls_.assign(count, 1);
    converted_.resize(count);
    if (row.ColumnCount() != static_cast<int>(plan.selected.size())) {
      error = "snapshot: " + plan.name + ": the SELECT returned " + std::to_string(row.ColumnCount()) +
              " columns, expected " + std::to_string(plan.selected.size());
      return false;
    }
    for (size_t s = 0; s < plan.selected.size(); ++s) {
      const size_t i = plan.selected[s];
      const auto& c = columns[i];
      if (row.IsNull(static_cast<int>(s))) {
        if (!c.is_nullable) return Bad(plan, c, "NULL in a NOT NULL column", error);
        continue;
      }
      auto bytes = row.Bytes(static_cast<int>(s));
      const size_t max = static_cast<size_t>(c.max_length);
      if (plan.as_text[s]) {
        std::string what;
        const std::string_view text = row.Text(static_cast<int>(s));
        if (!StoredBytesFromSnapshotText(c, text, converted_[i], what))
          return Bad(plan, c, "the server sent '" + std::string(text.substr(0, 100)) + "': " + what, error);
        if (converted_[i].size() != max)
          return Bad(plan, c, std::to_string(converted_[i].size()) + " stored bytes do not fit", error);
        values_[i] = converted_[i];
        nulls_[i] = 0;
        continue;
      }
      const bool fixed_size =
          IsIntegerType(c.type) || c.type == SqlType::kChar || c.type == SqlType::kNChar || c.type == SqlType::kBinary;
      if (c.type == SqlType::kBit ? bytes.size() != 1 || bytes[0] > 1
                                  : (fixed_size ? bytes.size() != max : bytes.size() > max))
        return Bad(plan, c, std::to_string(bytes.size()) + " bytes do not fit", error);
      values_[i] = bytes;
      nulls_[i] = 0;
    }
    out.assign(plan.fixed_end, 0);
    out[0] = static_cast<uint8_t>(0x10 | (plan.var_count > 0 ? 0x20 : 0));
    PutU16(out, 2, plan.fixed_end);
    for (size_t i = 0; i < count; ++i) {
      const auto& c = columns[i];
      if (c.IsVariable() || nulls_[i]) continue;
      const auto v = values_[i];
      uint8_t* at = out.data() + c.leaf_offset;
      if (c.type == SqlType::kBit) {
        if (v[0]) *at |= static_cast<uint8_t>(1u << c.leaf_bit_position);
      } else if (IsIntegerType(c.type)) {
        std::reverse_copy(v.begin(), v.end(), at);
      } else {
        std::memcpy(at, v.data(), v.size());
      }
    }
    const size_t bitmap_at = out.size() + 2;
    out.resize(bitmap_at + (count + 7) / 8, 0);
    PutU16(out, plan.fixed_end, count);
    for (size_t i = 0; i < count; ++i) {
      if (!nulls_[i]) continue;
      const size_t bit = static_cast<size_t>(columns[i].leaf_null_bit - 1);
      out[bitmap_at + bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
    if (plan.var_count > 0) {
      const size_t offsets_at = out.size() + 2;
      out.resize(offsets_at + 2 * plan.var_count, 0);
      PutU16(out, offsets_at - 2, plan.var_count);
      for (size_t ordinal = 1; ordinal <= plan.var_count; ++ordinal) {
        for (size_t i = 0; i < count; ++i) {
          if (columns[i].leaf_offset == -static_cast<int>(ordinal) && !nulls_[i])
            out.insert(out.end(), values_[i].begin(), values_[i].end());
        }
        if (out.size() > 8060) {
          error = "snapshot: " + plan.name + ": a row image longer than 8060 bytes";
          return false;
        }
        PutU16(out, offsets_at + 2 * (ordinal - 1), out.size());
      }
    }
    key.clear();
    for (size_t s : plan.key_selected) {
      const auto& c = columns[plan.selected[s]];
      key.push_back(IsIntegerType(c.type) ? BigEndianInteger(values_[plan.selected[s]], c.type) : 0);
    }
    return true;
  }

 private:
  static bool Bad(const TablePlan& plan, const logreader::ColumnLayout& c, const std::string& what,
                  std::string& error) {
    error = "snapshot: " + plan.name + " column " + c.name.value_or("?") + " (" + c.type_name + "): " + what;
    return false;
  }
  std::vector<std::span<const uint8_t>> values_;
  std::vector<char> nulls_;
  std::vector<std::vector<uint8_t>> converted_;  // by layout index: stored bytes of text values
};

// The second connection: the snapshot transaction and its reads.
class SnapshotReader {
 public:
  bool Open(const tds::ConnectOptions& options, std::string& error) {
    try {
      connection_ = std::make_unique<tds::Connection>(tds::Connection::Connect(options));
    } catch (const tds::TdsException& e) {
      error = std::string("snapshot: connecting: ") + e.what();
      return false;
    }
    return true;
  }

  bool Run(const std::string& sql, const tds::Connection::RowCallback& on_row, std::string& error) {
    auto e = on_row ? connection_->Execute(sql, on_row) : connection_->Execute(sql);
    if (e) {
      error = "snapshot: " + e->ToString() + " (query: " + sql.substr(0, 200) + ")";
      return false;
    }
    return true;
  }

  // SNAPSHOT isolation needs ALLOW_SNAPSHOT_ISOLATION ON (sys.databases.snapshot_isolation_state 1).
  bool CheckIsolation(std::string& error) {
    std::optional<int64_t> state;
    if (!Run(
            "SELECT snapshot_isolation_state FROM sys.databases WHERE database_id = DB_ID()",
            [&](const tds::Row& row) {
              state = row.Int(0);
              return false;
            },
            error))
      return false;
    if (!state || *state != 1) {
      error = "snapshot: the database does not allow snapshot isolation (sys.databases.snapshot_isolation_state = " +
              (state ? std::to_string(*state) : std::string("unknown")) +
              "): run ALTER DATABASE ... SET ALLOW_SNAPSHOT_ISOLATION ON, or set capture.snapshot_mode=never";
      return false;
    }
    return Run("SET TRANSACTION ISOLATION LEVEL SNAPSHOT", {}, error);
  }

  // MAX([Current LSN]) of fn_dblog from `from` (NULL: the whole active log; this scans it once).
  bool EndOfLog(Lsn from, Lsn& out, std::string& error) {
    std::string sql = "SELECT MAX([Current LSN]) AS end_lsn FROM sys.fn_dblog(";
    sql += from.IsZero() ? std::string("NULL") : "N'" + from.ToHexArgument() + "'";
    sql += ", NULL)";
    std::optional<Lsn> lsn;
    std::string text;
    if (!Run(
            sql,
            [&](const tds::Row& row) {
              text = std::string(row.Text(0));
              lsn = Lsn::Parse(text);
              return false;
            },
            error))
      return false;
    if (!lsn) {
      error = "snapshot: the end of the log is not an LSN: '" + text + "'";
      return false;
    }
    out = *lsn;
    return true;
  }

  // True when the log in (l1, l2] holds a commit that may touch a captured table: the commit of a
  // transaction that began before l1, or that wrote a captured allocation unit.
  bool CommitsBetween(Lsn l1, Lsn l2, const std::set<int64_t>& captured_units, bool& found, std::string& error) {
    found = false;
    if (l2 <= l1) return true;
    std::set<std::string> begun, touched;
    const std::string sql = "SELECT [Current LSN], [Operation], [Transaction ID], [AllocUnitId] FROM sys.fn_dblog(N'" +
                            l1.ToHexArgument() + "', N'" + l2.ToHexArgument() + "')";
    return Run(
        sql,
        [&](const tds::Row& row) {
          auto lsn = Lsn::Parse(row.Text(0));
          if (!lsn || *lsn <= l1) return true;
          const std::string_view op = row.Text(1);
          std::string xid(row.Text(2));
          if (op == "LOP_BEGIN_XACT") begun.insert(xid);
          auto unit = row.Int(3);
          if (unit && captured_units.count(*unit)) touched.insert(xid);
          if (op == "LOP_COMMIT_XACT" && (!begun.count(xid) || touched.count(xid))) {
            found = true;
            return false;
          }
          return true;
        },
        error);
  }

  // The snapshot LSN L: L1 before the snapshot transaction's first read, L2 after it; without a
  // captured commit in (L1, L2] the snapshot holds exactly the commits at or before L2.
  bool Establish(const TablePlan& first, const std::set<int64_t>& units, int attempts, Lsn& lsn, std::string& error) {
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      Lsn l1, l2;
      bool commits = false;
      if (!EndOfLog(Lsn(), l1, error) || !Run("BEGIN TRANSACTION", {}, error) ||
          !Run(
              "SELECT TOP (1) 1 AS one FROM " + first.from, [](const tds::Row&) { return false; }, error) ||
          !EndOfLog(l1, l2, error) || !CommitsBetween(l1, l2, units, commits, error))
        return false;
      if (!commits) {
        lsn = l2;
        return true;
      }
      if (!Run("COMMIT TRANSACTION", {}, error)) return false;
    }
    error = "snapshot: " + std::to_string(attempts) +
            " attempts found a commit between the end-of-log reads around the snapshot's first read; "
            "raise capture.snapshot_max_establish_attempts or snapshot in a quieter period";
    return false;
  }

  bool EstimateRows(const logreader::CapturedTable& table, uint64_t& rows, std::string& error) {
    rows = 0;
    return Run(
        "SELECT SUM(rows) AS row_count FROM sys.partitions WHERE object_id = " + std::to_string(table.object_id) +
            " AND index_id IN (0, 1)",
        [&](const tds::Row& row) {
          auto n = row.Int(0);
          rows = n && *n > 0 ? static_cast<uint64_t>(*n) : 0;
          return false;
        },
        error);
  }

 private:
  std::unique_ptr<tds::Connection> connection_;
};

// WHERE for keyset pagination after `key`: ([k1] > v1 OR ([k1] = v1 AND [k2] > v2) ...).
std::string KeysetPredicate(const TablePlan& plan, const std::vector<int64_t>& key) {
  const auto& columns = plan.table->layout.columns;
  std::string out = "(";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i > 0) out += " OR ";
    out += "(";
    for (size_t j = 0; j < i; ++j)
      out += QuoteName(*columns[plan.table->key_columns[j]].name) + " = " + std::to_string(key[j]) + " AND ";
    out += QuoteName(*columns[plan.table->key_columns[i]].name) + " > " + std::to_string(key[i]) + ")";
  }
  return out + ")";
}

}  // namespace

bool ProduceSchemaCreates(const logreader::Catalog& catalog, DebeziumEncoder& encoder,
                          kafka::TransactionalProducer& producer, std::optional<logreader::Lsn> commit_lsn,
                          std::string_view snapshot, int64_t ts_ns, CaptureStats& stats, std::string& error,
                          bool& abortable) {
  std::vector<const logreader::CapturedTable*> tables;
  std::set<int64_t> seen_objects;
  for (const auto& t : catalog.tables())
    if (seen_objects.insert(t->object_id).second) tables.push_back(t);
  std::sort(tables.begin(), tables.end(), [](const logreader::CapturedTable* a, const logreader::CapturedTable* b) {
    return a->QualifiedName() < b->QualifiedName();
  });
  EncodedEvent event;
  for (const auto* table : tables) {
    encoder.EncodeSchemaChange(*table, "CREATE", commit_lsn, snapshot, ts_ns, event);
    // One partition: the key is the database name, and the changes of a database stay in order.
    if (auto e = producer.Produce(*event.topic, 0, event.key, event.value); !e.ok()) {
      error = "schema change event for " + table->QualifiedName() + ": " + e.ToString();
      abortable = e.Action() == kafka::ErrorAction::kAbortTransaction;
      return false;
    }
    ++stats.schema_changes;
  }
  return true;
}

bool RunSnapshotPhase(const CaptureOptions& options, const logreader::Catalog& catalog, DebeziumEncoder& encoder,
                      kafka::TransactionalProducer& producer, const std::string& offsets_topic,
                      const std::string& checkpoint_key, bool have_checkpoint, const std::atomic<bool>& stop,
                      ServiceObserver& observer, const std::function<void(const std::string&)>& info,
                      CaptureStats& stats, Checkpoint& committed, std::string& error, bool& abortable) {
  abortable = false;
  const SnapshotOptions& so = options.snapshot;
  const bool resume = committed.snapshot.running;
  if (!resume && (have_checkpoint || so.mode == SnapshotMode::kNever)) return true;
  if (!so.connection) {
    error = "snapshot: no source connection to read the tables through (capture.snapshot_mode=never streams only)";
    return false;
  }
  if (so.chunk_rows == 0) {
    error = "snapshot: capture.snapshot_chunk_rows must be positive";
    return false;
  }
  // One plan per table (the first partition's layout), ordered by name.
  std::vector<TablePlan> plans;
  std::set<int64_t> units;
  std::set<int64_t> seen_objects;
  for (const auto& t : catalog.tables()) {
    units.insert(static_cast<int64_t>(t->allocation_unit_id));
    if (!seen_objects.insert(t->object_id).second) continue;
    plans.emplace_back();
    if (!MakePlan(*t, plans.back(), error)) return false;
  }
  std::sort(plans.begin(), plans.end(), [](const TablePlan& a, const TablePlan& b) { return a.name < b.name; });

  SnapshotReader reader;
  Lsn lsn;
  if (!reader.Open(*so.connection, error) || !reader.CheckIsolation(error) ||
      !reader.Establish(plans.front(), units, std::max(1, so.max_establish_attempts), lsn, error))
    return false;

  Checkpoint next = committed;
  SnapshotEpoch position;
  if (resume) {
    position = next.snapshot.epochs.back();
    if (lsn < position.lsn) {
      error =
          "snapshot: the new snapshot LSN " + lsn.ToString() + " is before the previous one " + position.lsn.ToString();
      return false;
    }
    position.lsn = lsn;
    info("resuming the snapshot at LSN " + lsn.ToString() + " after " +
         (position.table.empty() ? std::string("all tables") : position.table) +
         (position.key.empty() ? std::string() : " key " + std::to_string(position.key.back())));
  } else {
    next = Checkpoint();
    next.commit_lsn = lsn;
    next.change_lsn = lsn;
    next.restart_lsn = Lsn();  // the stream re-reads the active log for transactions open at L
    next.snapshot.running = true;
    position = {lsn, plans.front().name, {}};
    info("snapshot of " + std::to_string(plans.size()) + " tables at LSN " + lsn.ToString());
  }
  next.snapshot.epochs.push_back(position);

  size_t start = plans.size();
  if (!position.table.empty()) {
    for (size_t i = 0; i < plans.size(); ++i)
      if (plans[i].name == position.table) start = i;
    if (start == plans.size()) {
      error = "snapshot: the checkpoint's snapshot table " + position.table + " is no longer captured";
      return false;
    }
  }

  const std::chrono::milliseconds timeout(options.kafka_timeout_ms);
  uint64_t estimated = 0, done_rows = 0;
  std::vector<uint64_t> estimates(plans.size(), 0);
  for (size_t i = start; i < plans.size(); ++i) {
    if (!reader.EstimateRows(*plans[i].table, estimates[i], error)) return false;
    estimated += estimates[i];
  }
  bool first_row = !resume;
  bool schema_pending = !resume && options.include_schema_changes;
  RecordBuilder builder;
  std::vector<uint8_t> record, pending;
  std::vector<int64_t> key, pending_key;
  EncodedEvent event;
  ProgressSnapshot progress;
  progress.committed_lsn = lsn;

  for (size_t ti = start; ti < plans.size(); ++ti) {
    const TablePlan& plan = plans[ti];
    const bool last_table = ti + 1 == plans.size();
    std::vector<int64_t> after = position.key;  // resume point inside this table
    uint64_t table_rows = 0;
    bool table_done = false;
    while (!table_done) {
      if (stop.load()) return true;
      std::string sql = "SELECT ";
      if (plan.resumable) sql += "TOP (" + std::to_string(so.chunk_rows + 1) + ") ";
      sql += plan.select_list + " FROM " + plan.from;
      if (plan.resumable && !after.empty()) sql += " WHERE " + KeysetPredicate(plan, after);
      if (plan.resumable) sql += " ORDER BY " + plan.order_by;
      if (auto e = producer.BeginTransaction(); !e.ok()) {
        error = "snapshot: " + e.ToString();
        return false;
      }
      // The tables' structure goes before their rows, in the snapshot's first Kafka transaction: a
      // restart before it commits takes the snapshot again, after it resumes without them.
      if (schema_pending) {
        if (!ProduceSchemaCreates(catalog, encoder, producer, lsn, "true", NowUnixNanos(), stats, error, abortable)) {
          error = "snapshot: " + error;
          (void)producer.AbortTransaction(timeout);
          return false;
        }
      }
      size_t rows = 0;
      bool have_pending = false, more = false, failed = false;
      // Events lag one row behind the SELECT so that the last one of a chunk and of a table is known:
      // the chunk's last event carries the end header (the applier commits there).
      auto emit = [&](bool chunk_last, bool table_last) -> bool {
        std::string_view marker = first_row ? "first" : "true";
        if (table_last) marker = last_table ? "last" : "last_in_data_collection";
        if (!encoder.EncodeSnapshotRead(*plan.table, pending, lsn, marker, NowUnixNanos(), event, error)) return false;
        first_row = false;
        std::optional<std::string_view> k;
        if (!event.key.empty()) k = event.key;
        const kafka::MessageHeader end{kTxnEndHeader, "1"};
        std::span<const kafka::MessageHeader> headers;
        if (chunk_last) headers = std::span<const kafka::MessageHeader>(&end, 1);
        if (auto e = producer.Produce(*event.topic, kafka::kUnassignedPartition, k, event.value, headers); !e.ok()) {
          error = "snapshot: " + e.ToString();
          abortable = e.Action() == kafka::ErrorAction::kAbortTransaction;
          return false;
        }
        ++stats.events;
        observer.OnEvent(plan.table->layout.schema, plan.table->layout.table, "r");
        return true;
      };
      std::string row_error;
      if (!reader.Run(
              sql,
              [&](const tds::Row& row) {
                if (plan.resumable && rows == so.chunk_rows) {
                  more = true;
                  return false;
                }
                if (!builder.Build(plan, row, record, key, row_error)) {
                  failed = true;
                  return false;
                }
                if (have_pending && !emit(false, false)) {
                  row_error = error;
                  failed = true;
                  return false;
                }
                pending.swap(record);
                pending_key.swap(key);
                have_pending = true;
                ++rows;
                return true;
              },
              error) ||
          failed) {
        if (failed) error = row_error;
        (void)producer.AbortTransaction(timeout);
        return false;
      }
      table_done = !more;
      if (have_pending) {
        if (!emit(true, table_done)) {
          (void)producer.AbortTransaction(timeout);
          return false;
        }
        after = pending_key;
      }
      table_rows += rows;
      done_rows += rows;
      if (table_done) {
        position.table = last_table ? std::string() : plans[ti + 1].name;
        position.key.clear();
      } else {
        position.table = plan.name;
        position.key = after;
      }
      next.snapshot.epochs.back() = position;
      if (table_done && last_table) {
        next.snapshot.running = false;
        // One epoch: the stream needs no filter.
        if (next.snapshot.epochs.size() == 1) next.snapshot.epochs.clear();
      }
      const std::string value = EncodeCheckpoint(next);
      if (auto e = producer.Produce(offsets_topic, 0, checkpoint_key, value); !e.ok()) {
        error = "snapshot: writing the checkpoint: " + e.ToString();
        abortable = e.Action() == kafka::ErrorAction::kAbortTransaction;
        (void)producer.AbortTransaction(timeout);
        return false;
      }
      kafka::KafkaError e;
      for (int attempt = 0; attempt < 5; ++attempt) {
        e = producer.CommitTransaction(timeout);
        if (e.ok() || e.Action() != kafka::ErrorAction::kRetry) break;
      }
      if (!e.ok()) {
        error = "snapshot: committing the Kafka transaction: " + e.ToString();
        abortable = e.Action() == kafka::ErrorAction::kAbortTransaction;
        (void)producer.AbortTransaction(timeout);
        return false;
      }
      committed = next;
      schema_pending = false;
      ++stats.kafka_transactions;
      const uint64_t percent = estimated > 0 ? std::min<uint64_t>(100, done_rows * 100 / estimated) : 100;
      info("snapshot: " + plan.name + ": " + std::to_string(table_rows) + " rows (table ~" +
           std::to_string(estimates[ti]) + "), " + std::to_string(done_rows) + " of ~" + std::to_string(estimated) +
           " rows (" + std::to_string(percent) + "%)");
      progress.events = stats.events;
      progress.kafka_transactions = stats.kafka_transactions;
      progress.snapshot_rows = done_rows;
      progress.snapshot_rows_estimated = estimated;
      observer.OnProgress(progress);
    }
    position.key.clear();
  }
  (void)reader.Run("COMMIT TRANSACTION", {}, error);
  error.clear();
  info("snapshot complete at LSN " + lsn.ToString() + ": " + std::to_string(done_rows) + " rows; streaming from there");
  return true;
}

SnapshotStreamFilter::SnapshotStreamFilter(const SnapshotCheckpoint& snapshot, const logreader::Catalog& catalog)
    : epochs_(snapshot.epochs) {
  (void)catalog;
}

bool SnapshotStreamFilter::Prepare(const logreader::CommittedTransaction& txn, std::string& error) {
  keep_.clear();
  if (epochs_.size() < 2 || txn.commit_lsn > epochs_.back().lsn || txn.commit_lsn <= epochs_.front().lsn) return true;
  size_t j = 0;
  while (j + 1 < epochs_.size() && epochs_[j + 1].lsn < txn.commit_lsn) ++j;
  const SnapshotEpoch& e = epochs_[j];
  keep_.assign(txn.changes.size(), 0);
  for (size_t i = 0; i < txn.changes.size(); ++i) {
    const auto& change = *txn.changes[i].table;
    const std::string& name = change.QualifiedName();
    bool in_prefix;
    if (e.table.empty()) {
      in_prefix = true;
    } else if (int cmp = name.compare(e.table); cmp != 0) {
      in_prefix = cmp < 0;
    } else if (e.key.empty()) {
      in_prefix = false;
    } else {
      if (!logreader::DecodeChange(txn.changes[i], decoded_, error)) return false;
      key_.clear();
      for (size_t k : change.key_columns) {
        const auto& f = decoded_.fields[k];
        if (f.state != logreader::FieldState::kValue || f.size == 0 || f.size > 8) {
          error = "snapshot filter: the key of a change at " + txn.changes[i].lsn.ToString() + " in " + name +
                  " is not known";
          return false;
        }
        key_.push_back(LittleEndianInteger(f.data, f.size, change.layout.columns[k].type));
      }
      in_prefix = !std::lexicographical_compare(e.key.begin(), e.key.end(), key_.begin(), key_.end());
    }
    keep_[i] = in_prefix ? 1 : 0;
  }
  return true;
}

size_t SnapshotStreamFilter::LastKept(size_t change_count) const {
  if (keep_.empty()) return change_count == 0 ? 0 : change_count - 1;
  for (size_t i = change_count; i-- > 0;)
    if (keep_[i]) return i;
  return change_count;
}

void SnapshotStreamFilter::ClearPassed(Checkpoint& next) {
  if (!next.snapshot.running && !next.snapshot.epochs.empty() && next.commit_lsn >= next.snapshot.epochs.back().lsn)
    next.snapshot.epochs.clear();
}

}  // namespace sqltail::engine
