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
    size_t offset, size;                            // into bytes: the image (update: after)
    size_t before_offset = 0, before_size = 0;      // update: the before image
    size_t identity_offset = 0, identity_size = 0;  // update: the row identity (0 bytes: unknown)
    bool partial = false;
    size_t known_begin = 0, known_count = 0;  // partial update: into known
  };
  std::vector<Pending> changes;
  std::vector<KnownColumnBytes> known;  // offsets relative to bytes
  std::vector<uint8_t> bytes;           // copies of row images: the source's buffers are reused per row

  void Reset() {
    begin_lsn = Lsn();
    name.clear();
    seen_begin = has_compensation = false;
    first_compensation_lsn = Lsn();
    changes.clear();
    known.clear();
    bytes.clear();
  }

  size_t Append(std::span<const uint8_t> data) {
    size_t offset = bytes.size();
    bytes.insert(bytes.end(), data.begin(), data.end());
    return offset;
  }
};

TransactionAssembler::TransactionAssembler(const Catalog& catalog, CommitHandler on_commit, UpdateResolverLimits limits)
    : catalog_(catalog), on_commit_(std::move(on_commit)), resolver_(limits) {}

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
        committed_.known_columns.clear();
        const uint8_t* data = txn->bytes.data();
        for (const KnownColumnBytes& known : txn->known) {
          committed_.known_columns.push_back({known.column,
                                              {data + known.before_offset, known.before_size},
                                              {data + known.after_offset, known.after_size}});
        }
        for (const auto& change : txn->changes) {
          RowChange& out = committed_.changes.emplace_back();
          out.lsn = change.lsn;
          out.op = change.op;
          out.table = change.table;
          out.record = {data + change.offset, change.size};
          out.before_record = {data + change.before_offset, change.before_size};
          out.partial = change.partial;
          if (change.op == ChangeOp::kUpdate) ++stats_.updates_emitted;
          if (change.partial) {
            out.known_columns = {committed_.known_columns.data() + change.known_begin, change.known_count};
            ++stats_.partial_updates_emitted;
            size_t rendered = 0, known_rendered = 0;
            for (const auto& column : change.table->layout.columns) rendered += column.IsRendered() ? 1 : 0;
            for (const KnownColumn& known : out.known_columns)
              known_rendered += change.table->layout.columns[known.column].IsRendered() ? 1 : 0;
            stats_.unavailable_values += rendered - known_rendered;
          }
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

  // Row images change at each record's LSN whatever its transaction (CLRs included), so the
  // resolver sees every base-row record in log order.
  const bool is_modify = op == LogOp::kModifyRow || op == LogOp::kModifyColumns;
  if (!resolver_.Apply(*table, lsn, record, is_modify && !record.IsCompensation() ? &update_ : nullptr, error))
    return false;

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
      AddUpdate(txn, lsn, *table);
      return true;
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

void TransactionAssembler::AddUpdate(OpenTransaction& txn, Lsn lsn, const CapturedTable& table) {
  const UpdateResult& update = update_;
  if (update.complete && !txn.changes.empty()) {
    // Consecutive modify records of one row in one transaction (one statement touching the row
    // several times) combine: the first record's before, the last one's after.
    OpenTransaction::Pending& last = txn.changes.back();
    if (last.op == ChangeOp::kUpdate && !last.partial && last.table == &table && !update.identity.empty() &&
        last.identity_size == update.identity.size() &&
        std::equal(update.identity.begin(), update.identity.end(), txn.bytes.begin() + last.identity_offset)) {
      last.lsn = lsn;
      last.offset = txn.Append(update.after);
      last.size = update.after.size();
      buffered_bytes_ += update.after.size();
      return;
    }
  }
  OpenTransaction::Pending pending{lsn, ChangeOp::kUpdate, &table, 0, 0};
  size_t before = txn.bytes.size();
  pending.identity_offset = txn.Append(update.identity);
  pending.identity_size = update.identity.size();
  if (update.complete) {
    pending.before_offset = txn.Append(update.before);
    pending.before_size = update.before.size();
    pending.offset = txn.Append(update.after);
    pending.size = update.after.size();
  } else {
    pending.partial = true;
    const size_t base = txn.Append(update.bytes);
    pending.known_begin = txn.known.size();
    pending.known_count = update.known.size();
    for (KnownColumnBytes known : update.known) {
      known.before_offset += static_cast<uint32_t>(base);
      known.after_offset += static_cast<uint32_t>(base);
      txn.known.push_back(known);
    }
  }
  buffered_bytes_ += txn.bytes.size() - before;
  txn.changes.push_back(pending);
}

}  // namespace sqltail::logreader
