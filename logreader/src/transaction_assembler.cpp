#include "sqltail/logreader/transaction_assembler.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "byte_reader.h"

namespace sqltail::logreader {

struct TransactionAssembler::OpenTransaction {
  TransactionId id;
  Lsn begin_lsn;
  std::string name;
  bool seen_begin = false;
  bool has_compensation = false;
  Lsn first_compensation_lsn;
  struct Pending {
    Lsn lsn;
    ChangeOp op;
    const CapturedTable* table;
    size_t offset, size;  // into bytes
  };
  std::vector<Pending> changes;
  std::vector<uint8_t> bytes;  // copies of row images: the source's buffers are reused per row

  void Reset() {
    begin_lsn = Lsn();
    name.clear();
    seen_begin = has_compensation = false;
    first_compensation_lsn = Lsn();
    changes.clear();
    bytes.clear();
  }
};

TransactionAssembler::TransactionAssembler(const Catalog& catalog, CommitHandler on_commit)
    : catalog_(catalog), on_commit_(std::move(on_commit)) {}

TransactionAssembler::~TransactionAssembler() = default;

std::optional<Lsn> TransactionAssembler::OldestOpenBegin() const {
  std::optional<Lsn> oldest;
  for (const auto& txn : open_)
    if (!oldest || txn->begin_lsn < *oldest) oldest = txn->begin_lsn;
  return oldest;
}

namespace {

void Utf16ToAscii(std::span<const uint8_t> utf16, std::string& out) {
  // Transaction names are identifiers; keep ASCII, replace the rest (names are informational only).
  out.clear();
  for (size_t i = 0; i + 1 < utf16.size(); i += 2) {
    uint16_t unit = LoadLe16(utf16.data() + i);
    out.push_back(unit < 0x80 ? static_cast<char>(unit) : '?');
  }
}

}  // namespace

bool TransactionAssembler::Add(Lsn lsn, const LogRecordView& record, std::string& error) {
  ++stats_.records;
  auto op = record.op();
  if (op == LogOp::kBeginXact) {
    std::unique_ptr<OpenTransaction> txn;
    if (!pool_.empty()) {
      txn = std::move(pool_.back());
      pool_.pop_back();
    } else {
      txn = std::make_unique<OpenTransaction>();
    }
    txn->Reset();
    txn->id = record.transaction_id;
    txn->begin_lsn = lsn;
    txn->seen_begin = true;
    if (!record.elements.empty()) Utf16ToAscii(record.elements[0], txn->name);
    open_.push_back(std::move(txn));
    return true;
  }

  auto found =
      std::find_if(open_.begin(), open_.end(), [&](const auto& txn) { return txn->id == record.transaction_id; });
  if (op == LogOp::kCommitXact || op == LogOp::kAbortXact) {
    // The commit of a transaction that began before the first LSN read was emitted before the
    // checkpoint (restart LSN = oldest open begin), so it is nothing to do.
    if (found == open_.end()) return true;
    std::unique_ptr<OpenTransaction> txn = std::move(*found);
    open_.erase(found);
    buffered_bytes_ -= txn->bytes.size();
    bool ok = true;
    if (op == LogOp::kAbortXact) {
      ++stats_.transactions_aborted;
    } else {
      ++stats_.transactions_committed;
      if (txn->has_compensation && !txn->changes.empty()) {
        error = "transaction " + record.transaction_id.ToString() + " committed at " + lsn.ToString() +
                " after a partial rollback (compensation record at " + txn->first_compensation_lsn.ToString() +
                "); rollback to a savepoint is not supported yet, so its changes cannot be emitted exactly";
        ok = false;
      } else if (!txn->changes.empty()) {
        committed_.id = record.transaction_id;
        committed_.name = txn->name;
        committed_.begin_lsn = txn->begin_lsn;
        committed_.commit_lsn = lsn;
        std::memcpy(committed_.commit_time, record.xact_time, 8);
        committed_.changes.clear();
        for (const auto& change : txn->changes) {
          committed_.changes.push_back({change.lsn, change.op, change.table,
                                        std::span<const uint8_t>(txn->bytes.data() + change.offset, change.size)});
        }
        stats_.changes_emitted += committed_.changes.size();
        ok = on_commit_(committed_, error);
      }
    }
    txn->Reset();
    pool_.push_back(std::move(txn));
    return ok;
  }

  if (!record.has_row_part) return true;
  const CapturedTable* table = catalog_.FindByAllocationUnit(record.allocation_unit_id);
  if (table == nullptr) return true;  // not a captured table (system tables, other tables, indexes)
  auto ctx = static_cast<LogContext>(record.context);
  bool base_row = ctx == LogContext::kHeap || ctx == LogContext::kClustered || ctx == LogContext::kMarkAsGhost;
  if (!base_row) return true;

  if (found == open_.end()) {
    error = "log record " + lsn.ToString() + " (" + OperationName(record.operation) + ", " + table->QualifiedName() +
            ") belongs to transaction " + record.transaction_id.ToString() +
            ", which began before the first LSN read: its earlier changes are not in the log read";
    return false;
  }
  OpenTransaction& txn = **found;
  if (record.IsCompensation()) {
    if (!txn.has_compensation) txn.first_compensation_lsn = lsn;
    txn.has_compensation = true;
    return true;
  }
  ChangeOp change_op;
  switch (op) {
    case LogOp::kInsertRows:
      change_op = ChangeOp::kInsert;
      break;
    case LogOp::kDeleteRows:
      change_op = ChangeOp::kDelete;
      break;
    case LogOp::kModifyRow:
    case LogOp::kModifyColumns:
      error = "log record " + lsn.ToString() + ": " + OperationName(record.operation) + " on " +
              table->QualifiedName() + " (transaction " + record.transaction_id.ToString() +
              "): update decoding is not implemented yet; stopping rather than emitting an incomplete row";
      return false;
    default:
      return true;  // page-level operations (splits, ghost cleanup) are not user changes
  }
  if (record.elements.empty()) {
    error = "log record " + lsn.ToString() + ": " + OperationName(record.operation) + " on " + table->QualifiedName() +
            " has no row image (element 0)";
    return false;
  }
  auto image = record.elements[0];
  size_t offset = txn.bytes.size();
  txn.bytes.insert(txn.bytes.end(), image.begin(), image.end());
  buffered_bytes_ += image.size();
  txn.changes.push_back({lsn, change_op, table, offset, image.size()});
  return true;
}

std::string RenderDatetimeBytes(const uint8_t bytes[8]) {
  uint32_t ticks = LoadLe32(bytes);
  int32_t days = static_cast<int32_t>(LoadLe32(bytes + 4));
  // Civil date from days since 1900-01-01 (proleptic Gregorian; days_from_civil inverse).
  int64_t z = static_cast<int64_t>(days) + 693901;  // days since 0000-03-01 of 1900-01-01 is 693901
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  // 1/300 s ticks; SQL Server shows milliseconds rounded to .000/.003/.007.
  uint64_t ms_total = (static_cast<uint64_t>(ticks) * 10 + 1) / 3;
  uint64_t ms = ms_total % 1000, s = ms_total / 1000;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02llu:%02llu:%02llu.%03llu", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<unsigned long long>(s / 3600),
                static_cast<unsigned long long>((s / 60) % 60), static_cast<unsigned long long>(s % 60),
                static_cast<unsigned long long>(ms));
  return buf;
}

}  // namespace sqltail::logreader
