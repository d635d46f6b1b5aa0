// Transactions: interleaving, commit order, aborts, compensation records, and resuming after a
// checkpoint, on log records built by the fixture generator's encoders.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "memory_log.h"
#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/log_reader.h"

using namespace sqltail;
using logreader::Lsn;

namespace {

constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);
constexpr uint64_t kOtherUnit = fixtures::MakeAllocationUnitId(102, 256);

logreader::Catalog TestCatalog() {
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.allocation_unit_id = kUnit;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  return catalog;
}

// The shared in-memory log, with inserts of dbo.test_table rows (id, "row <id>").
class MemoryLog final : public testing::MemoryLog {
 public:
  Lsn Insert(uint32_t xact, int64_t id, uint64_t unit = kUnit, uint16_t flags = fixtures::kOrdinaryFlagBits) {
    std::vector<fixtures::ColumnValue> values = {id, std::string("row ") + std::to_string(id)};
    return InsertRecord(xact, fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values), unit, 7, flags);
  }
};

struct Emitted {
  Lsn commit;
  std::vector<Lsn> changes;
};

std::vector<Emitted> ReadAll(MemoryLog& log, logreader::Catalog& catalog, std::string& error, Lsn restart = Lsn(),
                             Lsn emitted_through = Lsn(), size_t batch = 3, Lsn read_through = Lsn()) {
  std::vector<Emitted> out;
  logreader::LogReader reader(log, catalog, [&](const logreader::CommittedTransaction& txn, std::string&) {
    Emitted e{txn.commit_lsn, {}};
    for (const auto& c : txn.changes) e.changes.push_back(c.lsn);
    out.push_back(e);
    return true;
  });
  reader.Resume(restart, emitted_through, read_through);
  size_t rows = 0;
  do {
    if (!reader.Poll(batch, rows, error)) break;
  } while (rows > 0);
  return out;
}

}  // namespace

TEST_CASE("interleaved transactions are emitted at their commits, in commit order") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1), b = log.Begin(2);
  Lsn a1 = log.Insert(1, 10), b1 = log.Insert(2, 20);
  Lsn b_commit = log.End(2, b);
  Lsn a2 = log.Insert(1, 11);
  Lsn a_commit = log.End(1, a);
  std::string error;
  auto emitted = ReadAll(log, catalog, error);
  CHECK(error.empty());
  REQUIRE(emitted.size() == 2);
  CHECK(emitted[0].commit == b_commit);
  CHECK(emitted[0].changes == std::vector<Lsn>{b1});
  CHECK(emitted[1].commit == a_commit);
  CHECK(emitted[1].changes == std::vector<Lsn>{a1, a2});
}

TEST_CASE("aborted transactions and changes to tables not captured emit nothing") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  log.Insert(1, 1);
  log.End(1, a, /*commit=*/false);
  Lsn b = log.Begin(2);
  log.Insert(2, 2, kOtherUnit);
  log.End(2, b);
  std::string error;
  CHECK(ReadAll(log, catalog, error).empty());
  CHECK(error.empty());
}

TEST_CASE("a compensation record that undoes no buffered change stops the stream with both LSNs") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  Lsn insert = log.Insert(1, 1);
  // An INSERT_ROWS CLR restores a deleted row; the transaction deleted nothing.
  Lsn clr = log.Insert(1, 1, kUnit, fixtures::kOrdinaryFlagBits | 0x0001);
  Lsn commit = log.End(1, a);
  std::string error;
  CHECK(ReadAll(log, catalog, error).empty());
  CHECK(error.find(clr.ToString()) != std::string::npos);
  CHECK(error.find(insert.ToString()) != std::string::npos);
  CHECK(error.find(commit.ToString()) != std::string::npos);
}

TEST_CASE("a change whose transaction began before the first LSN read is an error, not a partial row set") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  log.Insert(1, 1);
  Lsn second = log.Insert(1, 2);
  log.End(1, a);
  std::string error;
  auto emitted = ReadAll(log, catalog, error, second);
  CHECK(emitted.empty());
  CHECK(error.find("began before the first LSN read") != std::string::npos);
}

TEST_CASE("resuming from a checkpoint skips what was emitted and keeps what was open") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  log.Insert(1, 1);
  Lsn b = log.Begin(2);
  log.Insert(2, 2);
  Lsn a_commit = log.End(1, a);  // emitted before the "crash"; b still open then
  Lsn b_commit = log.End(2, b);
  std::string error;
  // The checkpoint after a's commit: emitted through a_commit, restart at b's begin.
  auto emitted = ReadAll(log, catalog, error, b, a_commit);
  CHECK(error.empty());
  REQUIRE(emitted.size() == 1);
  CHECK(emitted[0].commit == b_commit);
}

TEST_CASE("resuming skips the records of a transaction that had ended when the checkpoint was taken") {
  // a begins, b begins, a writes after b's begin and aborts, b commits (emitted), c begins: the
  // checkpoint at c's first record restarts at c's begin, so a's records there have no begin.
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  Lsn b = log.Begin(2);
  log.Insert(2, 20);
  Lsn c = log.Begin(3);
  Lsn a_late = log.Insert(1, 10);  // a's change between c's begin and the checkpoint position
  log.End(1, a, false);
  Lsn b_commit = log.End(2, b);
  Lsn position = log.Insert(3, 30);
  Lsn c_commit = log.End(3, c);
  std::string error;
  auto emitted = ReadAll(log, catalog, error, c, b_commit, 3, position);
  CHECK(error.empty());
  REQUIRE(emitted.size() == 1);
  CHECK(emitted[0].commit == c_commit);
  // A checkpoint without the position (older ones): the commit LSN bounds the skip.
  emitted = ReadAll(log, catalog, error, c, b_commit, 3, Lsn());
  CHECK(error.empty());
  CHECK(emitted.size() == 1);
  // Starting at c without a checkpoint, a's record is an error, as before.
  error.clear();
  CHECK(ReadAll(log, catalog, error, c, Lsn(), 3, Lsn()).empty());
  CHECK(error.find(a_late.ToString()) != std::string::npos);
  CHECK(error.find("began before the first LSN read") != std::string::npos);
}

TEST_CASE("the restart LSN is the oldest open begin, else the position") {
  MemoryLog log;
  auto catalog = TestCatalog();
  Lsn a = log.Begin(1);
  log.Insert(1, 1);
  Lsn commit = log.End(1, a);
  logreader::LogReader reader(log, catalog, [](const logreader::CommittedTransaction&, std::string&) { return true; });
  std::string error;
  size_t rows = 0;
  REQUIRE(reader.Poll(2, rows, error));
  CHECK(reader.RestartLsn() == a);
  REQUIRE(reader.Poll(10, rows, error));
  CHECK(rows == 1);
  CHECK(reader.RestartLsn() == commit);
}
