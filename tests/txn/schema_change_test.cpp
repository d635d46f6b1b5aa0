// Schema changes in the log: catalog versions by LSN, the transactions that mark a schema change,
// the catalog re-read at their commit, and the table version each change is handed over with.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <functional>

#include "memory_log.h"
#include "sqltail/fixtures/add_column_workload.h"
#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/log_reader.h"
#include "sqltail/logreader/record_decoder.h"

using namespace sqltail;
using logreader::Lsn;
using logreader::TableChangeKind;

namespace {

constexpr int64_t kObject = 101;
constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);
constexpr uint64_t kRebuiltUnit = fixtures::MakeAllocationUnitId(103, 256);
constexpr int64_t kNewObject = 102;
constexpr uint64_t kNewUnit = fixtures::MakeAllocationUnitId(102, 256);
// Stand-ins for the allocation units of sys.syscolpars and sys.sysschobjs: the test's catalog names
// them, so their values only have to differ from the user tables'.
constexpr uint64_t kSyscolpars = fixtures::MakeAllocationUnitId(41, 1);
constexpr uint64_t kSysschobjs = fixtures::MakeAllocationUnitId(34, 1);

// dbo.test_table (id, text) and, from version 2, fixture-gen's add-column layout: a nullable int
// `qty` added at the end of the fixed part.
logreader::TableLayout LayoutV1() { return fixtures::TestTableLayout(); }
logreader::TableLayout LayoutV2() { return fixtures::AddColumnLayout(); }

logreader::CapturedTable Table(logreader::TableLayout layout, uint64_t unit = kUnit, int64_t object = kObject) {
  logreader::CapturedTable table;
  table.object_id = object;
  table.index_id = 1;
  table.allocation_unit_id = unit;
  table.layout = std::move(layout);
  table.key_columns = {0};
  return table;
}

std::vector<logreader::SystemAllocationUnit> SystemUnits() {
  return {{"sys.syscolpars", kSyscolpars}, {"sys.sysschobjs", kSysschobjs}};
}

logreader::Catalog CatalogOf(std::vector<logreader::CapturedTable> tables, bool system_units = true) {
  logreader::Catalog catalog;
  for (auto& t : tables) catalog.Add(std::move(t));
  if (system_units) catalog.SetSystemAllocationUnits(SystemUnits());
  return catalog;
}

// The shared in-memory log (its ReadCatalog answers what `server` says the catalog is now), with
// this test's records.
class MemoryLog final : public testing::MemoryLog {
 public:
  Lsn Insert(uint32_t xact, const logreader::TableLayout& layout, std::vector<fixtures::ColumnValue> values,
             uint64_t unit = kUnit) {
    return InsertRecord(xact, fixtures::EncodeFixedVarRecord(layout, values), unit, static_cast<int32_t>(kObject));
  }
  // A row written into a system base table. Its bytes are a stand-in: sqltail reads only which
  // allocation unit the record names, never the system row itself.
  Lsn SystemRow(uint32_t xact, uint64_t unit) {
    return InsertRecord(
        xact, fixtures::EncodeFixedVarRecord(LayoutV1(), std::vector<fixtures::ColumnValue>{int64_t{41}, "x"}), unit,
        41);
  }
  // The CLR of an insert (a rollback to a savepoint): a compensating DELETE_ROWS whose Previous Page
  // LSN is the undone insert (nothing else changed the page in between; vector 22B's shape). The
  // inserts here leave Previous LSN zero, so it is not what matches.
  Lsn UndoInsert(uint32_t xact, const logreader::TableLayout& layout, std::vector<fixtures::ColumnValue> values,
                 Lsn undone, uint64_t unit) {
    fixtures::DeleteRowsRecord r;
    r.previous_lsn = Lsn(0x7f, 0, 0);  // not the undone record's: the page LSN must match
    r.previous_page_lsn = undone;
    r.flag_bits = fixtures::kCompensationFlagBits;
    r.transaction_id.low = xact;
    r.allocation_unit_id = unit;
    r.record = fixtures::EncodeFixedVarRecord(layout, values);
    r.lock_info = fixtures::InsertLockInfo(static_cast<int32_t>(kObject));
    return Append(fixtures::EncodeDeleteRows(r));
  }
  // An UPDATE of the row keyed `id` from `before` to `after` (its minimal region), on kUnit.
  Lsn ModifyRow(uint32_t xact, int64_t id, const fixtures::Bytes& before, const fixtures::Bytes& after) {
    const fixtures::ByteRegion region = fixtures::MinimalModifyRegion(before, after);
    fixtures::ModifyRowRecord r;
    r.transaction_id.low = xact;
    r.allocation_unit_id = kUnit;
    r.offset_in_row = region.offset;
    r.modify_size = static_cast<uint16_t>(region.before.size());
    r.before = region.before;
    r.after = region.after;
    fixtures::Bytes key;
    fixtures::AppendU32(key, static_cast<uint32_t>(id));
    r.key_info = fixtures::ClusteredKeyInfo(std::span<const fixtures::Bytes>(&key, 1));
    r.lock_info = fixtures::InsertLockInfo(static_cast<int32_t>(kObject));
    return Append(fixtures::EncodeModifyRow(r));
  }
  Lsn Modify(uint32_t xact, uint64_t unit) {
    fixtures::ModifyRowRecord r;
    r.transaction_id.low = xact;
    r.allocation_unit_id = unit;
    r.offset_in_row = 4;
    r.modify_size = 1;
    r.before = {1};
    r.after = {2};
    r.key_info = {0x10, 1, 0, 0, 0};
    return Append(fixtures::EncodeModifyRow(r));
  }
};

// A change as handed over: its LSN, the table version's first LSN, and the row as JSON.
struct Handed {
  Lsn lsn;
  Lsn table_from;
  size_t columns = 0;
  std::string row;
};

struct SchemaEvent {
  Lsn commit;
  Lsn first_ddl;
  std::string reason;
  std::vector<std::pair<TableChangeKind, std::string>> changes;  // kind, table name
  size_t new_columns = 0;                                        // of the first change's table
};

struct Run {
  std::vector<Handed> changes;
  std::vector<SchemaEvent> schema_events;
  std::string error;
  uint64_t catalog_reads = 0;
};

Run ReadAll(MemoryLog& log, logreader::Catalog& catalog, Lsn emitted_through = Lsn()) {
  Run run;
  logreader::LogReader reader(log, catalog, [&](const logreader::CommittedTransaction& txn, std::string& error) {
    for (const auto& c : txn.changes) {
      logreader::DecodedRecord decoded;
      logreader::DecodeError decode_error;
      if (!logreader::DecodeRecord(c.table->layout, c.record, decoded, decode_error)) {
        error = "decode at " + c.lsn.ToString() + ": " + decode_error.message;
        return false;
      }
      Handed h{c.lsn, c.table->valid_from, c.table->layout.columns.size(), "{"};
      for (size_t i = 0; i < decoded.fields.size(); ++i) {
        if (i > 0) h.row += ",";
        h.row += *c.table->layout.columns[i].name + ":";
        logreader::AppendCanonicalJson(c.table->layout.columns[i], decoded.fields[i], h.row);
      }
      h.row += "}";
      run.changes.push_back(std::move(h));
    }
    return true;
  });
  reader.SetSchemaChangeHandler(
      [&](const logreader::SchemaChangeCommit& commit, std::span<const logreader::TableChange> changes, std::string&) {
        SchemaEvent e{commit.commit_lsn, commit.first_ddl_lsn, std::string(commit.reason), {}, 0};
        for (const auto& c : changes) e.changes.emplace_back(c.kind, c.table->QualifiedName());
        if (!changes.empty()) e.new_columns = changes.front().table->layout.columns.size();
        run.schema_events.push_back(std::move(e));
        return true;
      });
  reader.Resume(Lsn(), emitted_through);
  size_t rows = 0;
  do {
    if (!reader.Poll(4, rows, run.error)) break;
  } while (rows > 0);
  run.catalog_reads = reader.catalog_reads();
  return run;
}

}  // namespace

TEST_CASE("catalog versions: an added column is an ALTER from its LSN, an unchanged table keeps its version") {
  auto catalog = CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)});
  const logreader::CapturedTable* v1 = catalog.FindByAllocationUnit(kUnit);
  const logreader::CapturedTable* other = catalog.FindByAllocationUnit(kNewUnit);
  REQUIRE(v1 != nullptr);
  REQUIRE(other != nullptr);
  const Lsn from(0x25, 0x200, 1);
  auto changes = catalog.Update(CatalogOf({Table(LayoutV2()), Table(LayoutV1(), kNewUnit, kNewObject)}), from);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == TableChangeKind::kAlter);
  CHECK(changes[0].lsn == from);
  CHECK(changes[0].previous == v1);
  CHECK(changes[0].table->layout.columns.size() == 3);
  CHECK(changes[0].table->valid_from == from);
  // By LSN: before `from` the first version, from it on the second; the unchanged table is the same object.
  CHECK(catalog.FindByAllocationUnit(kUnit, Lsn(0x25, 0x1ff, 9)) == v1);
  CHECK(catalog.FindByAllocationUnit(kUnit, from) == changes[0].table);
  CHECK(catalog.FindByAllocationUnit(kUnit) == changes[0].table);
  CHECK(catalog.FindByAllocationUnit(kNewUnit) == other);
  CHECK(catalog.tables().size() == 2);
  CHECK(catalog.HasVersionIn(from, from));
  CHECK_FALSE(catalog.HasVersionIn(Lsn(0x25, 0x200, 2), Lsn(0x26, 0, 0)));
  CHECK(catalog.ChangesIn(Lsn(), from).size() == 1);
  CHECK(catalog.ChangesIn(Lsn(0x25, 0x200, 2), Lsn(0x26, 0, 0)).empty());
  // Reading the same catalog again changes nothing.
  CHECK(catalog.Update(CatalogOf({Table(LayoutV2()), Table(LayoutV1(), kNewUnit, kNewObject)}), Lsn(0x25, 0x300, 1))
            .empty());
  CHECK(catalog.FindByAllocationUnit(kUnit) == changes[0].table);
}

TEST_CASE("catalog versions: create, drop, a rebuild's new allocation unit, and renames through the filter") {
  auto catalog = CatalogOf({Table(LayoutV1())});
  catalog.Filter({"dbo.*"}, {"dbo.secret*"});
  const Lsn l1(0x30, 1, 1), l2(0x30, 2, 1), l3(0x30, 3, 1), l4(0x30, 4, 1);

  auto created = catalog.Update(CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)}), l1);
  REQUIRE(created.size() == 1);
  CHECK(created[0].kind == TableChangeKind::kCreate);
  CHECK(created[0].previous == nullptr);
  CHECK(catalog.FindByAllocationUnit(kNewUnit, Lsn(0x30, 0, 9)) == nullptr);  // not captured before its creation
  CHECK(catalog.FindByAllocationUnit(kNewUnit, l1) == created[0].table);

  // A rebuild: same object, new allocation unit. The old unit is no longer captured from then on.
  auto rebuilt =
      catalog.Update(CatalogOf({Table(LayoutV1(), kRebuiltUnit), Table(LayoutV1(), kNewUnit, kNewObject)}), l2);
  REQUIRE(rebuilt.size() == 1);
  CHECK(rebuilt[0].kind == TableChangeKind::kAlter);
  CHECK(catalog.FindByAllocationUnit(kUnit, l2) == nullptr);
  CHECK(catalog.FindByAllocationUnit(kUnit, Lsn(0x30, 1, 9)) != nullptr);
  CHECK(catalog.FindByAllocationUnit(kRebuiltUnit, l2) == rebuilt[0].table);

  // Renamed out of the filter: a drop.
  auto renamed_layout = LayoutV1();
  renamed_layout.table = "secret_table";
  auto dropped =
      catalog.Update(CatalogOf({Table(renamed_layout, kRebuiltUnit), Table(LayoutV1(), kNewUnit, kNewObject)}), l3);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].kind == TableChangeKind::kDrop);
  CHECK(dropped[0].table->layout.table == "test_table");
  CHECK(catalog.FindByAllocationUnit(kRebuiltUnit, l3) == nullptr);
  CHECK(catalog.tables().size() == 1);

  // DROP TABLE of the other one.
  auto gone = catalog.Update(CatalogOf({Table(renamed_layout, kRebuiltUnit)}), l4);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].kind == TableChangeKind::kDrop);
  CHECK(catalog.tables().empty());
  CHECK(catalog.changes().size() == 4);
}

TEST_CASE("catalog.json: every version from its from_lsn, and the system allocation units") {
  const std::string json = R"({"database": "db",
    "system_allocation_units": [{"name": "sys.syscolpars", "allocation_unit_id": 2686976}],
    "versions": [
     {"from_lsn": "00000025:00000100:0001", "tables": [{"schema": "dbo", "table": "t", "object_id": 5,
       "allocation_unit_id": 77, "columns": [{"name": "id", "column_id": 1, "type": "int", "max_length": 4,
       "is_nullable": false, "leaf_offset": 4, "leaf_null_bit": 1, "key_ordinal": 1}]}]},
     {"from_lsn": "00000025:00000200:0001", "tables": [{"schema": "dbo", "table": "t", "object_id": 5,
       "allocation_unit_id": 77, "columns": [{"name": "id", "column_id": 1, "type": "int", "max_length": 4,
       "is_nullable": false, "leaf_offset": 4, "leaf_null_bit": 1, "key_ordinal": 1},
       {"name": "b", "column_id": 2, "type": "int", "max_length": 4, "leaf_offset": 8, "leaf_null_bit": 2}]}]}]})";
  std::string error;
  auto catalog = logreader::Catalog::FromFixtureJson(json, error);
  REQUIRE_MESSAGE(catalog, error);
  REQUIRE(catalog->FindSystemAllocationUnit(2686976) != nullptr);
  CHECK(catalog->FindSystemAllocationUnit(2686976)->name == "sys.syscolpars");
  CHECK(catalog->FindSystemAllocationUnit(77) == nullptr);
  // The first version applies from the start of the log, whatever its from_lsn says.
  REQUIRE(catalog->FindByAllocationUnit(77, Lsn(0x10, 0, 1)) != nullptr);
  CHECK(catalog->FindByAllocationUnit(77, Lsn(0x10, 0, 1))->layout.columns.size() == 1);
  CHECK(catalog->FindByAllocationUnit(77, Lsn(0x25, 0x200, 1))->layout.columns.size() == 2);
  REQUIRE(catalog->changes().size() == 1);
  CHECK(catalog->changes()[0].kind == TableChangeKind::kAlter);

  SUBCASE("versions out of order are refused") {
    std::string bad = json;
    bad.replace(bad.find("00000025:00000200:0001"), 22, "00000025:00000050:0001");
    CHECK_FALSE(logreader::Catalog::FromFixtureJson(bad, error));
    CHECK(error.find("not after the previous version") != std::string::npos);
  }
  SUBCASE("a later version without from_lsn is refused") {
    std::string bad = json;
    bad.replace(bad.find("\"from_lsn\": \"00000025:00000200:0001\","), 37, "");
    CHECK_FALSE(logreader::Catalog::FromFixtureJson(bad, error));
    CHECK(error.find("version 1 has no from_lsn") != std::string::npos);
  }
}

TEST_CASE("ALTER TABLE in its own transaction: the catalog is re-read at the commit, later rows take the new layout") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Lsn a = log.Begin(1, "INSERT");
  Lsn a1 = log.Insert(1, LayoutV1(), {int64_t{1}, "one"});
  log.End(1, a);
  Lsn d = log.Begin(2, "ALTER TABLE");
  Lsn d1 = log.SystemRow(2, kSyscolpars);
  log.SystemRow(2, kSysschobjs);
  Lsn d_commit = log.End(2, d);
  Lsn b = log.Begin(3, "INSERT");
  Lsn b1 = log.Insert(3, LayoutV2(), {int64_t{2}, "two", int64_t{7}});
  log.End(3, b);

  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.catalog_reads == 1);
  REQUIRE(run.schema_events.size() == 1);
  CHECK(run.schema_events[0].commit == d_commit);
  // The name marks it from its begin; the system row would have marked it from d1.
  CHECK(run.schema_events[0].first_ddl == d);
  CHECK(run.schema_events[0].reason == "transaction name ALTER TABLE");
  REQUIRE(run.schema_events[0].changes.size() == 1);
  CHECK(run.schema_events[0].changes[0] == std::pair{TableChangeKind::kAlter, std::string("dbo.test_table")});
  CHECK(run.schema_events[0].new_columns == 3);
  REQUIRE(run.changes.size() == 2);
  CHECK(run.changes[0].lsn == a1);
  CHECK(run.changes[0].row == R"({id:1,text:"one"})");
  CHECK(run.changes[1].lsn == b1);
  CHECK(run.changes[1].table_from == d);
  CHECK(run.changes[1].row == R"({id:2,text:"two",qty:7})");
  (void)d1;
}

TEST_CASE(
    "DDL inside a user_transaction: only the system-table record tells, and the transaction's later rows are "
    "handed over with the new version") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Lsn t = log.Begin(1);
  Lsn before = log.Insert(1, LayoutV1(), {int64_t{1}, "before"});
  Lsn ddl = log.SystemRow(1, kSyscolpars);
  Lsn after = log.Insert(1, LayoutV2(), {int64_t{2}, "after", int64_t{5}});
  Lsn commit = log.End(1, t);

  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.schema_events.size() == 1);
  CHECK(run.schema_events[0].first_ddl == ddl);
  CHECK(run.schema_events[0].commit == commit);
  CHECK(run.schema_events[0].reason == "sys.syscolpars");
  REQUIRE(run.changes.size() == 2);
  CHECK(run.changes[0].lsn == before);
  CHECK(run.changes[0].columns == 2);  // read before the DDL: the old version
  CHECK(run.changes[0].row == R"({id:1,text:"before"})");
  CHECK(run.changes[1].lsn == after);
  CHECK(run.changes[1].columns == 3);  // buffered under the old version, handed over with the new one
  CHECK(run.changes[1].row == R"({id:2,text:"after",qty:5})");
}

TEST_CASE("without the DDL record the new rows would not fit the old layout (the guard this relies on)") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())}, /*system_units=*/false);
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Lsn t = log.Begin(1);
  log.SystemRow(1, kSyscolpars);  // not known as a system table: not a schema change
  log.Insert(1, LayoutV2(), {int64_t{2}, "after", int64_t{5}});
  log.End(1, t);
  Run run = ReadAll(log, catalog);
  CHECK(run.schema_events.empty());
  CHECK(run.catalog_reads == 0);
  CHECK(run.error.find("decode at") != std::string::npos);
}

TEST_CASE("a schema change of other tables re-reads the catalog and reports no change") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1())}); };
  Lsn d = log.Begin(1, "CREATE TABLE");
  log.SystemRow(1, kSysschobjs);
  log.End(1, d);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.catalog_reads == 1);
  REQUIRE(run.schema_events.size() == 1);
  CHECK(run.schema_events[0].changes.empty());
}

TEST_CASE("a page split of a system table's page (SplitPage) is no schema change and reads no catalog") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1())}); };
  Lsn u = log.Begin(1);
  log.Insert(1, LayoutV1(), {int64_t{1}, "a row"});
  Lsn s = log.Begin(2, "SplitPage");
  log.SystemRow(2, kSyscolpars);  // a moved system row
  log.End(2, s);
  log.End(1, u);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.catalog_reads == 0);
  CHECK(run.schema_events.empty());
  CHECK(run.changes.size() == 1);
}

// Issue 4's "DDL between two updates of one row": ADD COLUMN is a metadata change, so the row keeps
// its physical form; the second update still splices onto the image cached before the ALTER, and is
// decoded with the new layout (the added column NULL, as the record lacks it).
TEST_CASE("an ALTER TABLE between two updates of one row: both updates are exact, the second has the new column") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  auto row = [](const std::string& text) {
    return fixtures::EncodeFixedVarRecord(LayoutV1(), std::vector<fixtures::ColumnValue>{int64_t{1}, text});
  };
  Lsn a = log.Begin(1);
  log.InsertRecord(1, row("first text of row one"), kUnit, static_cast<int32_t>(kObject));
  log.End(1, a);
  Lsn b = log.Begin(2);
  log.ModifyRow(2, 1, row("first text of row one"), row("FIRST text of row one"));
  log.End(2, b);
  Lsn d = log.Begin(3, "ALTER TABLE");
  log.SystemRow(3, kSyscolpars);
  log.End(3, d);
  Lsn c = log.Begin(4);
  log.ModifyRow(4, 1, row("FIRST text of row one"), row("FIRST TEXT of row one"));
  log.End(4, c);

  std::string lines, error;
  logreader::EventLineWriter writer;
  logreader::LogReader reader(log, catalog, [&](const logreader::CommittedTransaction& txn, std::string& e) {
    for (const auto& change : txn.changes)
      if (!writer.Append(txn, change, lines, e)) return false;
    return true;
  });
  reader.Resume(Lsn(), Lsn());
  size_t rows = 0;
  do {
    REQUIRE_MESSAGE(reader.Poll(4, rows, error), error);
  } while (rows > 0);
  CHECK(reader.catalog_reads() == 1);
  std::vector<std::string> events;
  for (size_t start = 0, end; (end = lines.find('\n', start)) != std::string::npos; start = end + 1)
    events.push_back(lines.substr(start, end - start));
  REQUIRE(events.size() == 3);
  CHECK(events[1].find("\"before\":{\"id\":1,\"text\":\"first text of row one\"},"
                       "\"after\":{\"id\":1,\"text\":\"FIRST text of row one\"}}") != std::string::npos);
  CHECK(events[2].find("\"before\":{\"id\":1,\"text\":\"FIRST text of row one\",\"qty\":null},"
                       "\"after\":{\"id\":1,\"text\":\"FIRST TEXT of row one\",\"qty\":null}}") != std::string::npos);
  for (const auto& e : events) CHECK(e.find("unavailable") == std::string::npos);
}

// Two DDL transactions on different tables that interleave: the re-read at B's commit already
// holds A's change (SQL Server's catalog query waits for A's schema lock, or sees it), and A's commit
// finds that version in its range. Each change is reported once, at the first commit.
TEST_CASE("interleaved DDL transactions on two tables: each ALTER is reported once") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)});
  log.server = [] { return CatalogOf({Table(LayoutV2()), Table(LayoutV2(), kNewUnit, kNewObject)}); };
  Lsn a = log.Begin(1, "ALTER TABLE");
  log.SystemRow(1, kSyscolpars);
  Lsn b = log.Begin(2, "ALTER TABLE");
  log.SystemRow(2, kSyscolpars);
  Lsn b_commit = log.End(2, b);
  Lsn a_commit = log.End(1, a);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.catalog_reads == 1);
  REQUIRE(run.schema_events.size() == 2);
  CHECK(run.schema_events[0].commit == b_commit);
  CHECK(run.schema_events[0].changes.size() == 2);
  CHECK(run.schema_events[1].commit == a_commit);
  CHECK(run.schema_events[1].changes.empty());

  // After a restart whose checkpoint holds B's commit (A still open), A's commit reports nothing.
  auto again = CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)});
  Run resumed = ReadAll(log, again, b_commit);
  REQUIRE_MESSAGE(resumed.error.empty(), resumed.error);
  REQUIRE(resumed.schema_events.size() == 1);
  CHECK(resumed.schema_events[0].commit == a_commit);
  CHECK(resumed.schema_events[0].changes.empty());
}

TEST_CASE("an aborted DDL transaction reads nothing and changes nothing") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Lsn d = log.Begin(1, "ALTER TABLE");
  log.SystemRow(1, kSyscolpars);
  log.End(1, d, /*commit=*/false);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.catalog_reads == 0);
  CHECK(run.schema_events.empty());
  CHECK(catalog.FindByAllocationUnit(kUnit)->layout.columns.size() == 2);
}

TEST_CASE("rows written in the transaction that creates a captured table are handed over with it, in log order") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)}); };
  Lsn t = log.Begin(1, "user_transaction");
  Lsn old_table = log.Insert(1, LayoutV1(), {int64_t{1}, "old table"});
  log.SystemRow(1, kSysschobjs);
  Lsn first = log.Insert(1, LayoutV1(), {int64_t{1}, "new 1"}, kNewUnit);
  Lsn other = log.Insert(1, LayoutV1(), {int64_t{9}, "elsewhere"}, fixtures::MakeAllocationUnitId(150, 256));
  Lsn second = log.Insert(1, LayoutV1(), {int64_t{2}, "new 2"}, kNewUnit);
  Lsn undone = log.Insert(1, LayoutV1(), {int64_t{3}, "rolled back"}, kNewUnit);
  log.UndoInsert(1, LayoutV1(), {int64_t{3}, "rolled back"}, undone, kNewUnit);  // ROLLBACK TRAN to a savepoint
  Lsn commit = log.End(1, t);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.schema_events.size() == 1);
  CHECK(run.schema_events[0].commit == commit);
  REQUIRE(run.changes.size() == 3);
  CHECK(run.changes[0].lsn == old_table);
  CHECK(run.changes[1].lsn == first);
  CHECK(run.changes[1].row == R"({id:1,text:"new 1"})");
  CHECK(run.changes[2].lsn == second);
  (void)other;
}

TEST_CASE("an update in the transaction that creates a captured table stops the stream with an error") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)}); };
  Lsn t = log.Begin(1, "user_transaction");
  log.SystemRow(1, kSysschobjs);
  log.Insert(1, LayoutV1(), {int64_t{1}, "new"}, kNewUnit);
  Lsn update = log.Modify(1, kNewUnit);
  log.End(1, t);
  Run run = ReadAll(log, catalog);
  CHECK(run.error.find("log record " + update.ToString()) != std::string::npos);
  CHECK(run.error.find("creates or rebuilds") != std::string::npos);
  CHECK(run.changes.empty());
}

TEST_CASE("rows of a table that stays uncaptured are dropped at the schema change's commit") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1())}); };  // the new table is not captured (filter)
  Lsn t = log.Begin(1, "CREATE TABLE");
  log.SystemRow(1, kSysschobjs);
  log.Insert(1, LayoutV1(), {int64_t{1}, "new"}, kNewUnit);
  log.Modify(1, kNewUnit);
  log.End(1, t);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.changes.empty());
}

TEST_CASE("a table created in its own transaction is captured from the next one, with a CREATE") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)}); };
  Lsn t = log.Begin(1, "CREATE TABLE");
  log.SystemRow(1, kSysschobjs);
  log.End(1, t);
  Lsn u = log.Begin(2, "INSERT");
  Lsn row = log.Insert(2, LayoutV1(), {int64_t{1}, "new"}, kNewUnit);
  log.End(2, u);
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  REQUIRE(run.schema_events.size() == 1);
  REQUIRE(run.schema_events[0].changes.size() == 1);
  CHECK(run.schema_events[0].changes[0].first == TableChangeKind::kCreate);
  REQUIRE(run.changes.size() == 1);
  CHECK(run.changes[0].lsn == row);
}

TEST_CASE("a schema change emitted before the checkpoint updates the catalog but is not reported again") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Lsn d = log.Begin(1, "ALTER TABLE");
  log.SystemRow(1, kSyscolpars);
  Lsn d_commit = log.End(1, d);
  Lsn b = log.Begin(2, "INSERT");
  log.Insert(2, LayoutV2(), {int64_t{2}, "two", int64_t{7}});
  log.End(2, b);
  Run run = ReadAll(log, catalog, /*emitted_through=*/d_commit);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(run.schema_events.empty());
  REQUIRE(run.changes.size() == 1);
  CHECK(run.changes[0].row == R"({id:2,text:"two",qty:7})");
}

TEST_CASE("a catalog that already knows the version (a fixture) is not re-read") {
  MemoryLog log;
  Lsn d = log.Begin(1, "ALTER TABLE");
  Lsn d1 = log.SystemRow(1, kSyscolpars);
  log.End(1, d);
  Lsn b = log.Begin(2, "INSERT");
  log.Insert(2, LayoutV2(), {int64_t{2}, "two", int64_t{7}});
  log.End(2, b);
  auto catalog = CatalogOf({Table(LayoutV1())});
  catalog.Update(CatalogOf({Table(LayoutV2())}), d1);
  Run run = ReadAll(log, catalog);  // log.server unset: a read would fail
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(log.catalog_reads == 0);
  REQUIRE(run.schema_events.size() == 1);
  REQUIRE(run.schema_events[0].changes.size() == 1);
  CHECK(run.schema_events[0].changes[0].first == TableChangeKind::kAlter);
  REQUIRE(run.changes.size() == 1);
  CHECK(run.changes[0].row == R"({id:2,text:"two",qty:7})");
}

TEST_CASE("a failed catalog read names the schema change") {
  MemoryLog log;
  auto catalog = CatalogOf({Table(LayoutV1())});
  Lsn d = log.Begin(1, "ALTER TABLE");
  log.SystemRow(1, kSyscolpars);
  Lsn d_commit = log.End(1, d);
  Run run = ReadAll(log, catalog);
  CHECK(run.error.find("re-reading the catalog after the schema change committed at " + d_commit.ToString()) !=
        std::string::npos);
  CHECK(run.error.find("no server") != std::string::npos);
}

TEST_CASE("schema history: the records of the first version and of each change rebuild the same versions") {
  auto catalog = CatalogOf({Table(LayoutV1()), Table(LayoutV1(), kNewUnit, kNewObject)});
  std::vector<std::string> records = catalog.FirstHistoryRecords("gen-1");
  REQUIRE(records.size() == 2);  // one per table
  const Lsn l1(0x40, 1, 1), l2(0x40, 2, 1);
  auto altered = catalog.Update(CatalogOf({Table(LayoutV2()), Table(LayoutV1(), kNewUnit, kNewObject)}), l1);
  for (auto& r : catalog.HistoryRecords(altered)) records.push_back(r);
  auto dropped = catalog.Update(CatalogOf({Table(LayoutV2())}), l2);
  for (auto& r : catalog.HistoryRecords(dropped)) records.push_back(r);
  REQUIRE(records.size() == 4);
  CHECK(records[3].find("\"tables\": []") != std::string::npos);  // the drop

  // The source's catalog now: a third table captured since (the filter was widened).
  logreader::CapturedTable third = Table(LayoutV1(), fixtures::MakeAllocationUnitId(104, 256), 104);
  third.layout.table = "third";
  auto now = CatalogOf({Table(LayoutV2()), third});
  std::string error;
  auto rebuilt = logreader::Catalog::FromHistory(records, now, error);
  REQUIRE_MESSAGE(rebuilt, error);
  CHECK(rebuilt->system_allocation_units().size() == 2);
  REQUIRE(rebuilt->changes().size() == 2);
  CHECK(rebuilt->changes()[0].kind == TableChangeKind::kAlter);
  CHECK(rebuilt->changes()[0].lsn == l1);
  CHECK(rebuilt->changes()[1].kind == TableChangeKind::kDrop);
  CHECK(rebuilt->changes()[1].lsn == l2);
  for (Lsn at : {Lsn(0x3f, 0, 1), l1, l2}) {
    for (uint64_t unit : {kUnit, kNewUnit}) {
      const auto* a = catalog.FindByAllocationUnit(unit, at);
      const auto* b = rebuilt->FindByAllocationUnit(unit, at);
      REQUIRE((a == nullptr) == (b == nullptr));
      if (a) CHECK(a->SameStructure(*b));
    }
  }
  // Every layout key survives the round trip.
  CHECK(rebuilt->FindByAllocationUnit(kUnit)->layout == catalog.FindByAllocationUnit(kUnit)->layout);
  REQUIRE(rebuilt->FindByName("dbo", "third") != nullptr);
  CHECK(rebuilt->FindByAllocationUnit(third.allocation_unit_id, Lsn(0x3f, 0, 1)) != nullptr);

  SUBCASE("a later first version (a new snapshot) replaces everything before it") {
    auto fresh = CatalogOf({Table(LayoutV1())});
    for (auto& r : fresh.FirstHistoryRecords("gen-2")) records.push_back(r);
    auto restarted = logreader::Catalog::FromHistory(records, fresh, error);
    REQUIRE_MESSAGE(restarted, error);
    CHECK(restarted->changes().empty());
    CHECK(restarted->tables().size() == 1);
    CHECK(restarted->FindByAllocationUnit(kUnit)->layout.columns.size() == 2);
  }
  SUBCASE("records out of order are an error naming the record") {
    std::swap(records[2], records[3]);
    CHECK_FALSE(logreader::Catalog::FromHistory(records, now, error));
    CHECK(error.find("schema history record 4") != std::string::npos);
  }
  SUBCASE("a record that is not JSON is an error naming it") {
    records[1] = "{not json";
    CHECK_FALSE(logreader::Catalog::FromHistory(records, now, error));
    CHECK(error.find("schema history record 2") != std::string::npos);
  }
}

TEST_CASE("a catalog that knows later versions is not re-read at an earlier schema change of other tables") {
  MemoryLog log;
  Lsn d = log.Begin(1, "CREATE TABLE");  // another table: the catalog has no version here
  log.SystemRow(1, kSysschobjs);
  log.End(1, d);
  Lsn b = log.Begin(2, "INSERT");
  Lsn row = log.Insert(2, LayoutV1(), {int64_t{1}, "still v1"});
  log.End(2, b);
  Lsn a = log.Begin(3, "ALTER TABLE");
  Lsn a1 = log.SystemRow(3, kSyscolpars);
  log.End(3, a);
  auto catalog = CatalogOf({Table(LayoutV1())});
  catalog.Update(CatalogOf({Table(LayoutV2())}), a1);  // known in advance, as a fixture's or a history's
  log.server = [] { return CatalogOf({Table(LayoutV2())}); };
  Run run = ReadAll(log, catalog);
  REQUIRE_MESSAGE(run.error.empty(), run.error);
  CHECK(log.catalog_reads == 0);
  REQUIRE(run.changes.size() == 1);
  CHECK(run.changes[0].lsn == row);
  CHECK(run.changes[0].columns == 2);
  REQUIRE(run.schema_events.size() == 2);
  CHECK(run.schema_events[0].changes.empty());
  CHECK(run.schema_events[1].changes.size() == 1);
}
