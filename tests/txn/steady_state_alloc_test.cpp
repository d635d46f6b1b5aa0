// Hot path: once warmed up, assembling single-row INSERT transactions (and INSERT + DELETE pairs)
// allocates nothing, although every insert caches an image in the UpdateResolver and the cache is
// full (each insert evicts the least recently used image). A dedicated binary, because it replaces
// the global operator new to count allocations.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/transaction_assembler.h"
#include "support/allocation_counter.h"

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

// Pre-encoded records whose id bytes are patched in place, so the loop itself allocates nothing.
struct Records {
  fixtures::Bytes begin, insert, del, commit;
  size_t insert_id_at = 0, delete_id_at = 0, delete_key_at = 0;

  Records() {
    fixtures::BeginXactRecord b;
    b.transaction_id.low = 7;
    b.transaction_name = "INSERT";
    b.login_sid = {1};
    begin = fixtures::EncodeBeginXact(b);
    std::vector<fixtures::ColumnValue> values = {int64_t{0}, std::string(100, 'x')};
    fixtures::InsertRowsRecord i;
    i.transaction_id.low = 7;
    i.allocation_unit_id = kUnit;
    i.record = fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
    i.lock_info = fixtures::InsertLockInfo(7);
    insert = fixtures::EncodeInsertRows(i);
    fixtures::DeleteRowsRecord d;
    d.transaction_id.low = 7;
    d.allocation_unit_id = kUnit;
    d.record = i.record;
    fixtures::Bytes id_bytes;
    fixtures::AppendU32(id_bytes, 0);
    d.key_info = fixtures::ClusteredKeyInfo(std::span<const fixtures::Bytes>(&id_bytes, 1));
    d.lock_info = i.lock_info;
    del = fixtures::EncodeDeleteRows(d);
    fixtures::EndXactRecord c;
    c.transaction_id.low = 7;
    commit = fixtures::EncodeEndXact(c);
    logreader::LogRecordView view;
    std::string error;
    REQUIRE(logreader::ParseLogRecord(insert, view, error));
    insert_id_at = static_cast<size_t>(view.elements[0].data() - insert.data()) + 4;  // id: leaf_offset 4
    REQUIRE(logreader::ParseLogRecord(del, view, error));
    delete_id_at = static_cast<size_t>(view.elements[0].data() - del.data()) + 4;
    delete_key_at = static_cast<size_t>(view.elements[1].data() - del.data()) + 1;  // after the status byte
  }
};

class Feeder {
 public:
  explicit Feeder(logreader::UpdateResolverLimits limits)
      : catalog_(TestCatalog()),
        assembler_(
            catalog_,
            [this](const logreader::CommittedTransaction& txn, std::string&) {
              changes_ += txn.changes.size();
              return true;
            },
            limits) {}

  // BEGIN, INSERT id (and DELETE of `delete_id` when >= 0), COMMIT.
  void Transaction(uint32_t id, int64_t delete_id = -1) {
    std::memcpy(records_.insert.data() + records_.insert_id_at, &id, 4);
    Feed(records_.begin);
    Feed(records_.insert);
    if (delete_id >= 0) {
      const auto del = static_cast<uint32_t>(delete_id);
      std::memcpy(records_.del.data() + records_.delete_id_at, &del, 4);
      std::memcpy(records_.del.data() + records_.delete_key_at, &del, 4);
      Feed(records_.del);
    }
    Feed(records_.commit);
  }

  const logreader::TransactionAssembler& assembler() const { return assembler_; }
  uint64_t changes() const { return changes_; }
  bool ok() const { return ok_; }

 private:
  void Feed(const fixtures::Bytes& bytes) {
    ++slot_;
    if (slot_ == 0) ++block_;
    ok_ = ok_ && logreader::ParseLogRecord(bytes, view_, error_) &&
          assembler_.Add(Lsn(0x30, block_, slot_), view_, error_);
  }

  Records records_;
  logreader::Catalog catalog_;
  logreader::TransactionAssembler assembler_;
  logreader::LogRecordView view_;
  std::string error_;
  uint32_t block_ = 1;
  uint16_t slot_ = 0;
  uint64_t changes_ = 0;
  bool ok_ = true;
};

}  // namespace

TEST_CASE("steady state: inserts into a full image cache allocate nothing") {
  logreader::UpdateResolverLimits limits;
  limits.max_rows = 1000;
  Feeder feeder(limits);
  uint32_t id = 0;
  for (; id < 3000; ++id) feeder.Transaction(id);  // warm-up: fills the cache, grows every buffer
  REQUIRE(feeder.ok());
  const uint64_t evicted_before = feeder.assembler().resolver().stats().images_evicted;
  const uint64_t before = test::Allocations();
  constexpr uint32_t kInserts = 50000;
  for (uint32_t n = 0; n < kInserts; ++n, ++id) feeder.Transaction(id);
  const uint64_t allocations = test::Allocations() - before;
  REQUIRE(feeder.ok());
  CHECK(allocations == 0);
  CHECK(feeder.changes() == id);
  CHECK(feeder.assembler().resolver().cached_rows() == 1000);
  CHECK(feeder.assembler().resolver().stats().images_evicted - evicted_before == kInserts);
}

TEST_CASE("steady state: the byte bound reuses entries too") {
  logreader::UpdateResolverLimits limits;
  limits.max_bytes = 64 * 1024;  // about 480 images of this row: the byte bound is reached first
  Feeder feeder(limits);
  uint32_t id = 0;
  for (; id < 3000; ++id) feeder.Transaction(id);
  REQUIRE(feeder.ok());
  const uint64_t before = test::Allocations();
  for (uint32_t n = 0; n < 20000; ++n, ++id) feeder.Transaction(id);
  CHECK(test::Allocations() - before == 0);
  REQUIRE(feeder.ok());
  CHECK(feeder.assembler().resolver().cached_bytes() <= limits.max_bytes);
  CHECK(feeder.assembler().resolver().cached_rows() > 400);
}

TEST_CASE("steady state: insert + delete transactions reuse erased entries") {
  logreader::UpdateResolverLimits limits;
  limits.max_rows = 1000;
  Feeder feeder(limits);
  uint32_t id = 0;
  for (; id < 3000; ++id) feeder.Transaction(id, id >= 10 ? int64_t{id} - 10 : -1);
  REQUIRE(feeder.ok());
  const uint64_t before = test::Allocations();
  for (uint32_t n = 0; n < 20000; ++n, ++id) feeder.Transaction(id, int64_t{id} - 10);
  CHECK(test::Allocations() - before == 0);
  REQUIRE(feeder.ok());
  CHECK(feeder.assembler().resolver().cached_rows() == 10);  // every other row was deleted
  CHECK(feeder.changes() == 2 * uint64_t{id} - 10);
}

TEST_CASE("the counter counts: a cache miss path that allocates is seen") {
  // Guards the test itself: without a bound the cache grows, and every new image allocates.
  Feeder feeder(logreader::UpdateResolverLimits{});
  uint32_t id = 0;
  for (; id < 100; ++id) feeder.Transaction(id);
  const uint64_t before = test::Allocations();
  for (uint32_t n = 0; n < 1000; ++n, ++id) feeder.Transaction(id);
  CHECK(test::Allocations() - before >= 1000);
}
