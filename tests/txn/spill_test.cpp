// Transactions larger than the memory budget spill to a temporary file and come back at commit in
// parts: the events are exactly those of the in-memory path, the buffered bytes stay near the budget.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/transaction_assembler.h"

using namespace sqltail;
using logreader::Lsn;

namespace {

constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);

logreader::Catalog TestCatalog() {
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.index_id = 1;
  table.allocation_unit_id = kUnit;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  return catalog;
}

fixtures::Bytes Row(uint32_t id, char fill) {
  std::vector<fixtures::ColumnValue> values = {int64_t{id}, std::string(60, fill)};
  return fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
}

fixtures::Bytes KeyInfo(uint32_t id) {
  fixtures::Bytes bytes;
  fixtures::AppendU32(bytes, id);
  return fixtures::ClusteredKeyInfo(std::span<const fixtures::Bytes>(&bytes, 1));
}

// The records of one big transaction (xact 1) with a small one (xact 2) committing in the middle:
// `rows` inserts; every 100th row is then updated (a full before/after from the cached image);
// every 1000th update names a row never inserted (a partial update: key known, text unavailable).
struct Workload {
  std::vector<fixtures::Bytes> records;

  explicit Workload(uint32_t rows) {
    records.push_back(Begin(1));
    for (uint32_t id = 0; id < rows; ++id) {
      records.push_back(Insert(1, id));
      if (id % 100 == 99) records.push_back(Modify(1, id % 100000 == 99999 ? 50000000 + id : id));
      if (id == rows / 2) {
        records.push_back(Begin(2));
        records.push_back(Insert(2, 90000000));
        records.push_back(Commit(2));
      }
    }
    records.push_back(Commit(1));
  }

  static fixtures::Bytes Begin(uint32_t xact) {
    fixtures::BeginXactRecord r;
    r.transaction_id.low = xact;
    r.transaction_name = "user_transaction";
    r.login_sid = {1};
    return fixtures::EncodeBeginXact(r);
  }
  static fixtures::Bytes Commit(uint32_t xact) {
    fixtures::EndXactRecord r;
    r.transaction_id.low = xact;
    return fixtures::EncodeEndXact(r);
  }
  static fixtures::Bytes Insert(uint32_t xact, uint32_t id) {
    fixtures::InsertRowsRecord r;
    r.transaction_id.low = xact;
    r.allocation_unit_id = kUnit;
    r.record = Row(id, 'a' + static_cast<char>(id % 26));
    r.lock_info = fixtures::InsertLockInfo(7);
    return fixtures::EncodeInsertRows(r);
  }
  static fixtures::Bytes Modify(uint32_t xact, uint32_t id) {
    const char fill = 'a' + static_cast<char>(id % 26);
    fixtures::ByteRegion region = fixtures::MinimalModifyRegion(Row(id, fill), Row(id, fill == 'z' ? 'A' : fill + 1));
    fixtures::ModifyRowRecord r;
    r.transaction_id.low = xact;
    r.allocation_unit_id = kUnit;
    r.offset_in_row = region.offset;
    r.modify_size = static_cast<uint16_t>(region.before.size());
    r.before = region.before;
    r.after = region.after;
    r.key_info = KeyInfo(id);
    r.lock_info = fixtures::InsertLockInfo(7);
    return fixtures::EncodeModifyRow(r);
  }
};

struct Result {
  std::string lines;
  std::string error;
  size_t calls = 0;
  size_t max_buffered = 0;
  logreader::AssemblerStats stats;
  bool parts_in_order = true;
};

Result Replay(const Workload& workload, logreader::SpillOptions spill) {
  Result result;
  logreader::Catalog catalog = TestCatalog();
  logreader::EventLineWriter writer;
  size_t expected_first = 0;
  logreader::TransactionAssembler assembler(catalog, [&](const logreader::CommittedTransaction& txn, std::string& e) {
    ++result.calls;
    if (txn.first_change != expected_first) result.parts_in_order = false;
    expected_first = txn.last_part ? 0 : txn.first_change + txn.changes.size();
    for (const auto& change : txn.changes)
      if (!writer.Append(txn, change, result.lines, e)) return false;
    return true;
  });
  assembler.SetSpill(spill);
  logreader::LogRecordView view;
  uint32_t n = 0;
  for (const auto& bytes : workload.records) {
    ++n;
    if (!logreader::ParseLogRecord(bytes, view, result.error)) break;
    if (!assembler.Add(Lsn(0x25, 0x100 + n / 1000, static_cast<uint16_t>(1 + n % 1000)), view, result.error)) break;
    result.max_buffered = std::max(result.max_buffered, assembler.buffered_bytes());
  }
  result.stats = assembler.stats();
  return result;
}

}  // namespace

TEST_CASE("a 200,000-row transaction over a 1 MB budget spills and yields the in-memory events") {
  const Workload workload(200000);
  const Result in_memory = Replay(workload, {});
  logreader::SpillOptions spill;
  spill.memory_budget_bytes = size_t{1} << 20;
  spill.dir = std::filesystem::temp_directory_path().string();
  const Result spilled = Replay(workload, spill);
  REQUIRE(in_memory.error.empty());
  REQUIRE(spilled.error.empty());
  CHECK(in_memory.stats.transactions_spilled == 0);
  CHECK(in_memory.calls == 2);
  CHECK(spilled.stats.transactions_spilled == 1);
  CHECK(spilled.stats.bytes_spilled > size_t{12} << 20);
  CHECK(spilled.calls > 20);  // parts of at most 10,000 changes, plus the small transaction
  CHECK(spilled.parts_in_order);
  // Bounded: the budget plus the last change kept for combining.
  CHECK(spilled.max_buffered <= (size_t{1} << 20) + 1024);
  CHECK(in_memory.max_buffered > size_t{12} << 20);
  CHECK(spilled.stats.changes_emitted == in_memory.stats.changes_emitted);
  CHECK(spilled.stats.changes_emitted == 200000 + 2000 + 1);
  CHECK(spilled.stats.partial_updates_emitted == 2);
  CHECK(spilled.stats.unavailable_values == in_memory.stats.unavailable_values);
  CHECK(spilled.lines.size() == in_memory.lines.size());
  CHECK(spilled.lines == in_memory.lines);
  CHECK(spilled.lines.find("__sqltail_unavailable") != std::string::npos);
}

TEST_CASE("a spill directory that cannot be written is an error naming it, not a silent drop") {
  const Workload workload(20000);
  logreader::SpillOptions spill;
  spill.memory_budget_bytes = 64 * 1024;
  spill.dir = "/nonexistent/sqltail-spill";
  const Result result = Replay(workload, spill);
  CHECK(result.error.find("/nonexistent/sqltail-spill") != std::string::npos);
  CHECK(result.error.find("memory budget") != std::string::npos);
}

TEST_CASE("a savepoint rollback reaching changes already spilled stops at commit, naming the spill") {
  // 20,000 inserts over a 64 KB budget (a few hundred changes in memory at a time), then a rollback
  // to a savepoint undoing the last 2,000: the newest are still in memory (compensated), the older
  // ones are on disk (cannot be).
  Workload workload(0);
  workload.records.clear();
  workload.records.push_back(Workload::Begin(1));
  for (uint32_t id = 0; id < 20000; ++id) workload.records.push_back(Workload::Insert(1, id));
  for (uint32_t id = 19999; id >= 18000; --id) {
    fixtures::DeleteRowsRecord clr;
    clr.flag_bits = fixtures::kCompensationFlagBits;
    clr.transaction_id.low = 1;
    clr.allocation_unit_id = kUnit;
    clr.record = Row(id, 'a' + static_cast<char>(id % 26));
    clr.key_info = KeyInfo(id);
    workload.records.push_back(fixtures::EncodeDeleteRows(clr));
  }
  workload.records.push_back(Workload::Commit(1));
  logreader::SpillOptions spill;
  spill.memory_budget_bytes = 64 * 1024;
  const Result result = Replay(workload, spill);
  CHECK(result.stats.transactions_spilled == 1);
  CHECK(result.stats.changes_compensated > 0);
  CHECK(result.stats.changes_compensated < 2000);
  CHECK(result.calls == 0);
  CHECK(result.error.find("spilled to disk") != std::string::npos);
}
