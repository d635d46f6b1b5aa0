// Updates: byte regions spliced onto the last known image of a row, columns the log does not
// determine reported as unavailable, rollbacks, key changes and combined records, on log records
// built by the fixture generator's encoders.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
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

logreader::Catalog TestCatalog(int index_id = 1) {
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.allocation_unit_id = kUnit;
  table.index_id = index_id;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  return catalog;
}

fixtures::Bytes Row(int64_t id, const std::string& text) {
  std::vector<fixtures::ColumnValue> values = {id, text};
  return fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
}

fixtures::Bytes Key(int64_t id) {
  fixtures::Bytes bytes;
  fixtures::AppendU32(bytes, static_cast<uint32_t>(id));
  return fixtures::ClusteredKeyInfo(std::span<const fixtures::Bytes>(&bytes, 1));
}

// Feeds generator-encoded records to an assembler and collects the event lines it emits.
class Harness {
 public:
  explicit Harness(int index_id = 1, logreader::UpdateResolverLimits limits = {})
      : catalog_(TestCatalog(index_id)),
        assembler_(
            catalog_,
            [this](const logreader::CommittedTransaction& txn, std::string& error) {
              for (const auto& change : txn.changes)
                if (!writer_.Append(txn, change, lines_, error)) return false;
              return true;
            },
            limits) {}

  Lsn Begin(uint32_t xact, std::string name = "user_transaction") {
    fixtures::BeginXactRecord r;
    r.transaction_id.low = xact;
    r.transaction_name = std::move(name);
    r.login_sid = {1};
    const Lsn lsn = Feed(fixtures::EncodeBeginXact(r));
    chain_[xact] = lsn;
    return lsn;
  }
  Lsn End(uint32_t xact, Lsn begin, bool commit = true) {
    fixtures::EndXactRecord r;
    r.operation = commit ? fixtures::LogOperation::kCommitXact : fixtures::LogOperation::kAbortXact;
    r.transaction_id.low = xact;
    r.begin_lsn = begin;
    return Feed(fixtures::EncodeEndXact(r));
  }
  Lsn Insert(uint32_t xact, uint16_t slot, const fixtures::Bytes& record) {
    fixtures::InsertRowsRecord r;
    r.transaction_id.low = xact;
    r.previous_lsn = chain_[xact];
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.record = record;
    r.lock_info = fixtures::InsertLockInfo(7);
    return Chain(xact, r.previous_lsn, Feed(fixtures::EncodeInsertRows(r)));
  }
  Lsn Delete(uint32_t xact, uint16_t slot, int64_t id, const fixtures::Bytes& record) {
    fixtures::DeleteRowsRecord r;
    r.transaction_id.low = xact;
    r.previous_lsn = chain_[xact];
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.record = record;
    r.key_info = Key(id);
    r.lock_info = fixtures::InsertLockInfo(7);
    return Chain(xact, r.previous_lsn, Feed(fixtures::EncodeDeleteRows(r)));
  }
  // A page split removing a moved row from the old page: LOP_DELETE_SPLIT (11), laid out here as a
  // DELETE_ROWS; sqltail reads only its operation and allocation unit [UNCONFIRMED layout].
  Lsn DeleteSplit(uint32_t xact, uint16_t slot, const fixtures::Bytes& record) {
    fixtures::DeleteRowsRecord r;
    r.transaction_id.low = xact;
    r.previous_lsn = chain_[xact];
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.record = record;
    fixtures::Bytes bytes = fixtures::EncodeDeleteRows(r);
    bytes[22] = 11;  // the operation byte of the header
    return Chain(xact, r.previous_lsn, Feed(std::move(bytes)));
  }
  // CLRs of an insert (a DELETE_ROWS) and of a delete (an INSERT_ROWS) undone by a rollback: flag
  // 0x0001, Previous LSN = the undone record's, Previous Page LSN = the undone record (vector 22B).
  Lsn CompensateInsert(uint32_t xact, Lsn undone, uint16_t slot, int64_t id, const fixtures::Bytes& record) {
    fixtures::DeleteRowsRecord r;
    r.flag_bits = fixtures::kCompensationFlagBits;
    r.transaction_id.low = xact;
    r.previous_lsn = previous_of_.at(undone);
    r.previous_page_lsn = undone;
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.record = record;
    r.key_info = Key(id);
    chain_[xact] = r.previous_lsn;
    return Feed(fixtures::EncodeDeleteRows(r));
  }
  Lsn CompensateDelete(uint32_t xact, Lsn undone, uint16_t slot, const fixtures::Bytes& record) {
    fixtures::InsertRowsRecord r;
    r.flag_bits = fixtures::kCompensationFlagBits;
    r.transaction_id.low = xact;
    r.previous_lsn = previous_of_.at(undone);
    r.previous_page_lsn = undone;
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.record = record;
    chain_[xact] = r.previous_lsn;
    return Feed(fixtures::EncodeInsertRows(r));
  }
  // An UPDATE from `before` to `after`, logged as the minimal region; returns the region too.
  Lsn Modify(uint32_t xact, uint16_t slot, int64_t id, const fixtures::Bytes& before, const fixtures::Bytes& after,
             fixtures::ByteRegion* logged = nullptr) {
    fixtures::ByteRegion region = fixtures::MinimalModifyRegion(before, after);
    fixtures::ModifyRowRecord r;
    r.transaction_id.low = xact;
    r.previous_lsn = chain_[xact];
    r.page = fixtures::PageId{1, page_};
    r.slot = slot;
    r.allocation_unit_id = kUnit;
    r.offset_in_row = region.offset;
    r.modify_size = static_cast<uint16_t>(region.before.size());
    r.before = region.before;
    r.after = region.after;
    r.key_info = with_key_element_ ? Key(id) : fixtures::Bytes{};
    r.lock_info = fixtures::InsertLockInfo(7);
    if (logged != nullptr) *logged = region;
    last_modify_lsn_ = Chain(xact, r.previous_lsn, Feed(fixtures::EncodeModifyRow(r)));
    last_modify_ = r;
    modifies_[last_modify_lsn_] = r;
    return last_modify_lsn_;
  }
  // The CLR of the last Modify (vector 22B shape), or of the Modify at `undone`.
  Lsn CompensateLastModify() { return CompensateModify(last_modify_lsn_); }
  Lsn CompensateModify(Lsn undone) {
    fixtures::ModifyRowRecord clr = modifies_.at(undone);
    clr.previous_page_lsn = undone;
    chain_[clr.transaction_id.low] = clr.previous_lsn;
    clr.flag_bits = fixtures::kCompensationFlagBits;
    clr.modify_size = static_cast<uint16_t>(clr.after.size());
    clr.row_flags = fixtures::kModifyRowCompensationRowFlags;
    clr.after = clr.before;
    clr.before.clear();
    clr.lock_info.clear();
    return Feed(fixtures::EncodeModifyRow(clr));
  }

  std::vector<std::string> Lines() const {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < lines_.size()) {
      size_t end = lines_.find('\n', start);
      out.push_back(lines_.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  const std::string& error() const { return error_; }
  const logreader::TransactionAssembler& assembler() const { return assembler_; }
  void set_with_key_element(bool value) { with_key_element_ = value; }
  void set_page(uint32_t page) { page_ = page; }  // the data page the next records name
  void expect_error() { expect_error_ = true; }

 private:
  Lsn Chain(uint32_t xact, Lsn previous, Lsn lsn) {
    previous_of_[lsn] = previous;
    chain_[xact] = lsn;
    return lsn;
  }
  Lsn Feed(fixtures::Bytes bytes) {
    records_.push_back(std::move(bytes));
    Lsn lsn(0x25, 0x100, static_cast<uint16_t>(records_.size()));
    std::string parse_error;
    REQUIRE(logreader::ParseLogRecord(records_.back(), view_, parse_error));
    if (!assembler_.Add(lsn, view_, error_) && !expect_error_) FAIL_CHECK(error_);
    return lsn;
  }

  logreader::Catalog catalog_;
  logreader::EventLineWriter writer_;
  std::string lines_;
  logreader::TransactionAssembler assembler_;
  std::vector<fixtures::Bytes> records_;
  logreader::LogRecordView view_;
  fixtures::ModifyRowRecord last_modify_;
  Lsn last_modify_lsn_;
  std::map<Lsn, fixtures::ModifyRowRecord> modifies_;
  std::map<uint32_t, Lsn> chain_;   // each transaction's last record: the next one's Previous LSN
  std::map<Lsn, Lsn> previous_of_;  // each row record's Previous LSN
  bool with_key_element_ = true;
  bool expect_error_ = false;
  uint32_t page_ = 300;
  std::string error_;
};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("an update spliced onto the inserted image yields full before and after images") {
  Harness h;
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(1, "the first value of row one"));
  h.End(1, a);
  Lsn b = h.Begin(2);
  fixtures::ByteRegion region;
  h.Modify(2, 0, 1, Row(1, "the first value of row one"), Row(1, "the FIRST value of row one"), &region);
  CHECK(region.before.size() == 5);                                            // only the differing bytes are logged
  h.Modify(2, 0, 1, Row(1, "the FIRST value of row one"), Row(1, "shorter"));  // size change: combined
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 2);
  CHECK(Contains(lines[1], "\"op\":\"u\""));
  CHECK(Contains(lines[1],
                 "\"key\":{\"id\":1},\"before\":{\"id\":1,\"text\":\"the first value of row one\"},"
                 "\"after\":{\"id\":1,\"text\":\"shorter\"}}"));
  CHECK_FALSE(Contains(lines[1], "unavailable"));
  CHECK(h.assembler().resolver().stats().updates_spliced == 2);
  CHECK(h.assembler().stats().unavailable_values == 0);
}

TEST_CASE("without a base image only the key (from element 2) is known; [text] is unavailable and counted") {
  Harness h;
  Lsn b = h.Begin(2);
  h.Modify(2, 4, 42, Row(42, "a value inserted before the log window"), Row(42, "a value updated in the log window"));
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(Contains(lines[0],
                 "\"key\":{\"id\":42},\"before\":{\"id\":42,\"text\":\"__sqltail_unavailable\"},"
                 "\"after\":{\"id\":42,\"text\":\"__sqltail_unavailable\"},\"unavailable\":[\"text\"]}"));
  CHECK(h.assembler().stats().partial_updates_emitted == 1);
  CHECK(h.assembler().stats().unavailable_values == 1);
  CHECK(h.assembler().resolver().stats().updates_without_base == 1);
}

TEST_CASE("a heap update without a base image: a fully covered NOT NULL fixed column is exact") {
  Harness h(/*index_id=*/0);
  Lsn b = h.Begin(2);
  // id 0x01000001 -> 0x02000002: the region covers bytes 4..7, the whole int.
  h.Modify(2, 4, 0, Row(0x01000001, "unchanged text value here"), Row(0x02000002, "unchanged text value here"));
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(Contains(lines[0], "\"before\":{\"id\":16777217,\"text\":\"__sqltail_unavailable\"}"));
  CHECK(
      Contains(lines[0], "\"after\":{\"id\":33554434,\"text\":\"__sqltail_unavailable\"},\"unavailable\":[\"text\"]"));
}

TEST_CASE("a region that covers part of a column leaves it unavailable, never a guessed value") {
  Harness h(/*index_id=*/0);
  Lsn b = h.Begin(2);
  h.Modify(2, 4, 0, Row(1, "unchanged text value here"), Row(6, "unchanged text value here"));  // 1 byte
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(Contains(lines[0], "\"unavailable\":[\"id\",\"text\"]"));
  CHECK(h.assembler().stats().unavailable_values == 2);
}

TEST_CASE("a rolled-back update emits nothing, and its CLR restores the cached image") {
  Harness h;
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(7, "original text of row seven"));
  h.End(1, a);
  Lsn b = h.Begin(2);
  h.Modify(2, 0, 7, Row(7, "original text of row seven"), Row(7, "rolled back"));
  h.CompensateLastModify();
  h.End(2, b, /*commit=*/false);
  Lsn c = h.Begin(3);
  h.Modify(3, 0, 7, Row(7, "original text of row seven"), Row(7, "original TEXT of row seven"));
  h.End(3, c);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 2);
  CHECK(Contains(lines[1],
                 "\"before\":{\"id\":7,\"text\":\"original text of row seven\"},"
                 "\"after\":{\"id\":7,\"text\":\"original TEXT of row seven\"}}"));
  CHECK(h.assembler().stats().transactions_aborted == 1);
}

TEST_CASE("a key change is a delete and an insert in the same transaction, emitted as such") {
  Harness h;
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(1, "row one"));
  h.End(1, a);
  Lsn b = h.Begin(2);
  h.Delete(2, 0, 1, Row(1, "row one"));
  h.Insert(2, 1, Row(100, "row one"));
  h.End(2, b);
  // The new key's image is cached: an update of it splices.
  Lsn c = h.Begin(3);
  h.Modify(3, 1, 100, Row(100, "row one"), Row(100, "row 100"));
  h.End(3, c);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 4);
  CHECK(Contains(lines[1],
                 "\"op\":\"d\",\"schema\":\"dbo\",\"table\":\"test_table\",\"key\":{\"id\":1},"
                 "\"before\":{\"id\":1,\"text\":\"row one\"},\"after\":null}"));
  CHECK(Contains(lines[2], "\"op\":\"c\""));
  CHECK(Contains(lines[2], "\"key\":{\"id\":100}"));
  CHECK(Contains(lines[1], "\"transaction_id\":\"0000:00000002\""));
  CHECK(Contains(lines[2], "\"transaction_id\":\"0000:00000002\""));
  CHECK(Contains(lines[3], "\"after\":{\"id\":100,\"text\":\"row 100\"}"));
  // The deleted key has no image any more: updating it now cannot splice.
  Lsn d = h.Begin(4);
  h.Modify(4, 0, 1, Row(1, "row one"), Row(1, "row uno"));
  h.End(4, d);
  CHECK(Contains(h.Lines().back(), "\"unavailable\":[\"text\"]"));
}

TEST_CASE("a cached image that does not hold the region's before bytes is dropped, not spliced") {
  Harness h;
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(3, "what the reader saw"));
  h.End(1, a);
  Lsn b = h.Begin(2);
  h.Modify(2, 0, 3, Row(3, "something else entirely"), Row(3, "something new entirely"));
  h.End(2, b);
  CHECK(Contains(h.Lines().back(), "\"unavailable\":[\"text\"]"));
  CHECK(h.assembler().resolver().stats().base_mismatches == 1);
  CHECK(h.assembler().resolver().cached_rows() == 0);
}

TEST_CASE("the image cache is bounded: the least recently used image is evicted") {
  logreader::UpdateResolverLimits limits;
  limits.max_rows = 1;
  Harness h(1, limits);
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(1, "row one text"));
  h.Insert(1, 1, Row(2, "row two text"));
  h.End(1, a);
  CHECK(h.assembler().resolver().cached_rows() == 1);
  CHECK(h.assembler().resolver().stats().images_evicted == 1);
  Lsn b = h.Begin(2);
  h.Modify(2, 0, 1, Row(1, "row one text"), Row(1, "row ONE text"));
  h.Modify(2, 1, 2, Row(2, "row two text"), Row(2, "row TWO text"));
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 4);
  CHECK(Contains(lines[2], "\"unavailable\":[\"text\"]"));
  CHECK(Contains(lines[3], "\"after\":{\"id\":2,\"text\":\"row TWO text\"}}"));
}

TEST_CASE("a modify whose row cannot be named drops every cached image of its table") {
  Harness h;
  Lsn a = h.Begin(1);
  h.Insert(1, 0, Row(1, "row one text"));
  h.Insert(1, 1, Row(2, "row two text"));
  h.End(1, a);
  CHECK(h.assembler().resolver().cached_rows() == 2);
  Lsn b = h.Begin(2);
  h.set_with_key_element(false);  // element 2 empty: the clustered row is unknown
  h.Modify(2, 0, 1, Row(1, "row one text"), Row(1, "row ONE text"));
  h.set_with_key_element(true);
  h.Modify(2, 1, 2, Row(2, "row two text"), Row(2, "row TWO text"));
  h.End(2, b);
  CHECK(h.assembler().resolver().cached_rows() == 0);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 4);
  CHECK(Contains(lines[2], "\"key\":{\"id\":\"__sqltail_unavailable\"}"));
  CHECK(Contains(lines[2], "\"unavailable\":[\"id\",\"text\"]"));
  CHECK(Contains(lines[3], "\"unavailable\":[\"text\"]"));
}

TEST_CASE("heap rows are identified by their RID and spliced the same way") {
  Harness h(/*index_id=*/0);
  Lsn a = h.Begin(1);
  h.Insert(1, 3, Row(1, "heap row text"));
  h.End(1, a);
  Lsn b = h.Begin(2);
  h.Modify(2, 3, 1, Row(1, "heap row text"), Row(1, "heap row, longer text"));
  h.Delete(2, 3, 1, Row(1, "heap row, longer text"));
  h.End(2, b);
  auto lines = h.Lines();
  REQUIRE(lines.size() == 3);
  CHECK(Contains(lines[1], "\"after\":{\"id\":1,\"text\":\"heap row, longer text\"}}"));
  CHECK(Contains(lines[2], "\"op\":\"d\""));
  CHECK(h.assembler().resolver().cached_rows() == 0);
}

TEST_CASE("rollback to a savepoint: CLRs cancel the undone insert, delete and update; the rest commits") {
  Harness h;
  const auto row7 = Row(7, "row seven as inserted");
  const auto row8 = Row(8, "row eight as inserted");
  const auto row9 = Row(9, "row nine as inserted");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, row7);
  h.Insert(1, 1, row8);
  h.Insert(1, 2, row9);
  h.End(1, a);
  // BEGIN TRAN; UPDATE 7; SAVE TRAN s; UPDATE 8; DELETE 9; INSERT 10; ROLLBACK TRAN s; COMMIT
  Lsn b = h.Begin(2);
  Lsn kept = h.Modify(2, 0, 7, row7, Row(7, "row SEVEN as updated"));
  Lsn undone_update = h.Modify(2, 1, 8, row8, Row(8, "row eight, rolled back"));
  Lsn undone_delete = h.Delete(2, 2, 9, row9);
  Lsn undone_insert = h.Insert(2, 3, Row(10, "row ten, rolled back"));
  h.CompensateInsert(2, undone_insert, 3, 10, Row(10, "row ten, rolled back"));
  h.CompensateDelete(2, undone_delete, 2, row9);
  h.CompensateModify(undone_update);
  Lsn commit = h.End(2, b);
  // The CLRs restored the cached images: later updates of 8 and 9 splice onto the originals.
  Lsn c = h.Begin(3);
  h.Modify(3, 1, 8, row8, Row(8, "row EIGHT as inserted"));
  h.Modify(3, 2, 9, row9, Row(9, "row NINE as inserted"));
  h.End(3, c);
  REQUIRE(h.error().empty());
  auto lines = h.Lines();
  REQUIRE(lines.size() == 6);
  CHECK(Contains(lines[3], "\"commit_lsn\":\"" + commit.ToString() + "\",\"change_lsn\":\"" + kept.ToString()));
  CHECK(Contains(lines[3], "\"op\":\"u\""));
  CHECK(Contains(lines[3], "\"after\":{\"id\":7,\"text\":\"row SEVEN as updated\"}"));
  CHECK(Contains(lines[4], "\"before\":{\"id\":8,\"text\":\"row eight as inserted\"}"));
  CHECK(Contains(lines[5], "\"before\":{\"id\":9,\"text\":\"row nine as inserted\"}"));
  CHECK(h.assembler().stats().changes_compensated == 3);
  CHECK(h.assembler().stats().partial_updates_emitted == 0);
}

TEST_CASE("rollback to a savepoint inside one row's combined update emits the net effect") {
  Harness h;
  const auto v1 = Row(7, "first version of the row");
  const auto v2 = Row(7, "second version of the row");
  const auto v3 = Row(7, "third version, rolled back");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, v1);
  h.End(1, a);
  Lsn b = h.Begin(2);
  Lsn kept = h.Modify(2, 0, 7, v1, v2);
  h.Modify(2, 0, 7, v2, v3);
  h.CompensateLastModify();
  h.End(2, b);
  REQUIRE(h.error().empty());
  auto lines = h.Lines();
  REQUIRE(lines.size() == 2);
  CHECK(Contains(lines[1], "\"change_lsn\":\"" + kept.ToString()));
  CHECK(Contains(lines[1],
                 "\"before\":{\"id\":7,\"text\":\"first version of the row\"},"
                 "\"after\":{\"id\":7,\"text\":\"second version of the row\"}}"));
}

TEST_CASE("rolling back every change of a committed transaction emits nothing") {
  Harness h;
  const auto row7 = Row(7, "row seven as inserted");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, row7);
  h.End(1, a);
  Lsn b = h.Begin(2);
  h.Modify(2, 0, 7, row7, Row(7, "row seven, rolled back"));
  h.CompensateLastModify();
  h.End(2, b);
  REQUIRE(h.error().empty());
  CHECK(h.Lines().size() == 1);
  CHECK(h.assembler().stats().transactions_committed == 2);
}

// A page split during an update: the user transaction's row grows, SQL Server moves half the page
// to a new one in a SplitPage system transaction nested in it, then goes on with the update.
TEST_CASE("a page split during an update moves rows without emitting them; updates of moved rows still splice") {
  Harness h;
  const auto row1 = Row(1, "row one as inserted"), row2 = Row(2, "row two as inserted"),
             row3 = Row(3, "row three as inserted");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, row1);
  h.Insert(1, 1, row2);
  h.Insert(1, 2, row3);
  h.End(1, a);

  Lsn b = h.Begin(2);
  Lsn split = h.Begin(3, "SplitPage");
  h.set_page(301);  // rows 2 and 3 move to the new page, slots 0 and 1
  h.Insert(3, 0, row2);
  h.Insert(3, 1, row3);
  h.set_page(300);
  h.DeleteSplit(3, 1, row2);
  h.End(3, split);
  h.Modify(2, 0, 1, row1, Row(1, "row one, now a good deal longer than before"));
  h.set_page(301);
  h.Modify(2, 1, 3, row3, Row(3, "row three, changed on its new page"));
  h.End(2, b);

  REQUIRE(h.error().empty());
  auto lines = h.Lines();
  REQUIRE(lines.size() == 5);  // three inserts, two updates: nothing for the split
  for (size_t i = 0; i < 3; ++i) CHECK(Contains(lines[i], "\"op\":\"c\""));
  CHECK(Contains(lines[3], "\"op\":\"u\""));
  CHECK(Contains(lines[3],
                 "\"before\":{\"id\":1,\"text\":\"row one as inserted\"},"
                 "\"after\":{\"id\":1,\"text\":\"row one, now a good deal longer than before\"}}"));
  CHECK(Contains(lines[4],
                 "\"before\":{\"id\":3,\"text\":\"row three as inserted\"},"
                 "\"after\":{\"id\":3,\"text\":\"row three, changed on its new page\"}}"));
  for (const auto& line : lines) CHECK_FALSE(Contains(line, "unavailable"));
  CHECK(h.assembler().stats().rows_moved_by_page_splits == 2);
  CHECK(h.assembler().stats().changes_emitted == 5);
  CHECK(h.assembler().stats().unavailable_values == 0);
  CHECK(h.assembler().open_transactions() == 0);
}

TEST_CASE("a page split inside a transaction that rolls back: the moves stay, the update is undone") {
  Harness h;
  const auto row1 = Row(1, "row one as inserted"), row2 = Row(2, "row two as inserted");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, row1);
  h.Insert(1, 1, row2);
  h.End(1, a);
  Lsn b = h.Begin(2);
  Lsn split = h.Begin(3, "SplitPage");
  h.set_page(301);
  h.Insert(3, 0, row2);
  h.End(3, split);  // a system transaction commits on its own
  h.Modify(2, 0, 2, row2, Row(2, "row two, rolled back"));
  h.CompensateLastModify();
  h.End(2, b, false);
  // Row 2's image is the one the split moved, restored by the CLR: a later update splices.
  Lsn c = h.Begin(4);
  h.Modify(4, 0, 2, row2, Row(2, "row two, for good"));
  h.End(4, c);
  REQUIRE(h.error().empty());
  auto lines = h.Lines();
  REQUIRE(lines.size() == 3);
  CHECK(Contains(
      lines[2],
      "\"before\":{\"id\":2,\"text\":\"row two as inserted\"},\"after\":{\"id\":2,\"text\":\"row two, for good\"}}"));
  CHECK(h.assembler().stats().rows_moved_by_page_splits == 1);
}

TEST_CASE("a delete of a captured row inside a SplitPage transaction is an error naming it, never dropped") {
  Harness h;
  const auto row1 = Row(1, "row one as inserted");
  Lsn a = h.Begin(1);
  h.Insert(1, 0, row1);
  h.End(1, a);
  Lsn split = h.Begin(2, "SplitPage");
  h.expect_error();
  Lsn del = h.Delete(2, 0, 1, row1);
  CHECK(Contains(h.error(), "log record " + del.ToString() + ": LOP_DELETE_ROWS on dbo.test_table"));
  CHECK(Contains(h.error(), "inside the page split transaction 0000:00000002 (begun at " + split.ToString() + ")"));
  CHECK(h.Lines().size() == 1);
}
