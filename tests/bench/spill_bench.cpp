// Benchmark (not a test): one INSERT transaction of N rows (default 5,000,000) through the
// TransactionAssembler with a memory budget (default 64 MB), spilled to disk and handed over in
// parts at commit; prints the time, the bytes spilled and the process's peak RSS.
// Usage: spill_bench [rows] [budget_mb] [spill_dir]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/transaction_assembler.h"

using namespace sqltail;

namespace {

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5000000;
  const uint64_t budget_mb = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64;
  const std::string dir = argc > 3 ? argv[3] : "";
  constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.index_id = 1;
  table.allocation_unit_id = kUnit;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  uint64_t changes = 0, parts = 0, image_bytes = 0;
  logreader::TransactionAssembler assembler(catalog, [&](const logreader::CommittedTransaction& txn, std::string&) {
    ++parts;
    changes += txn.changes.size();
    for (const auto& change : txn.changes) image_bytes += change.record.size();
    return true;
  });
  logreader::SpillOptions spill;
  spill.memory_budget_bytes = budget_mb << 20;
  spill.dir = dir;
  assembler.SetSpill(spill);

  fixtures::BeginXactRecord begin;
  begin.transaction_id.low = 7;
  begin.transaction_name = "user_transaction";
  begin.login_sid = {1};
  fixtures::InsertRowsRecord insert;
  insert.transaction_id.low = 7;
  insert.allocation_unit_id = kUnit;
  std::vector<fixtures::ColumnValue> values = {int64_t{0}, std::string(100, 'x')};
  insert.record = fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
  insert.lock_info = fixtures::InsertLockInfo(7);
  fixtures::EndXactRecord commit;
  commit.transaction_id.low = 7;
  const fixtures::Bytes begin_bytes = fixtures::EncodeBeginXact(begin);
  fixtures::Bytes insert_bytes = fixtures::EncodeInsertRows(insert);
  const fixtures::Bytes commit_bytes = fixtures::EncodeEndXact(commit);
  logreader::LogRecordView view;
  std::string error;
  if (!logreader::ParseLogRecord(insert_bytes, view, error)) return 1;
  const size_t id_at = static_cast<size_t>(view.elements[0].data() - insert_bytes.data()) + 4;

  const auto started = std::chrono::steady_clock::now();
  auto lsn = [](uint64_t n) { return logreader::Lsn(0x30, static_cast<uint32_t>(1 + n / 1000), 1 + n % 1000); };
  bool ok = logreader::ParseLogRecord(begin_bytes, view, error) && assembler.Add(lsn(0), view, error);
  size_t max_buffered = 0;
  for (uint64_t id = 0; ok && id < rows; ++id) {
    const auto id32 = static_cast<uint32_t>(id);
    std::memcpy(insert_bytes.data() + id_at, &id32, 4);
    ok = logreader::ParseLogRecord(insert_bytes, view, error) && assembler.Add(lsn(id + 1), view, error);
    if (assembler.buffered_bytes() > max_buffered) max_buffered = assembler.buffered_bytes();
  }
  const double fed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ok = ok && logreader::ParseLogRecord(commit_bytes, view, error) && assembler.Add(lsn(rows + 1), view, error);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!ok || changes != rows) {
    std::fprintf(stderr, "spill_bench: failed: %s (%llu changes)\n", error.c_str(),
                 static_cast<unsigned long long>(changes));
    return 1;
  }
  const auto& stats = assembler.stats();
  std::printf("spill_bench: %llu rows in one transaction, budget %llu MB\n", static_cast<unsigned long long>(rows),
              static_cast<unsigned long long>(budget_mb));
  std::printf("spill_bench: fed in %.2f s, committed (handed over in %llu parts) after %.2f s, %.2f s CPU\n", fed,
              static_cast<unsigned long long>(parts), total, CpuSeconds());
  std::printf("spill_bench: row images %.1f MB, spilled %.1f MB, max buffered %.1f MB, peak RSS %.1f MB\n",
              static_cast<double>(image_bytes) / 1048576.0, static_cast<double>(stats.bytes_spilled) / 1048576.0,
              static_cast<double>(max_buffered) / 1048576.0, static_cast<double>(PeakRssKb()) / 1024.0);
  return 0;
}
