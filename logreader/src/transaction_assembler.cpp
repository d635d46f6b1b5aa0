#include "sqltail/logreader/transaction_assembler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "byte_reader.h"

namespace sqltail::logreader {

struct TransactionAssembler::Pending {
  Lsn lsn;
  ChangeOp op;
  const CapturedTable* table;
  size_t offset, size;                            // into bytes: the image (update: after)
  size_t before_offset = 0, before_size = 0;      // update: the before image
  size_t identity_offset = 0, identity_size = 0;  // update: the row identity (0 bytes: unknown)
  bool partial = false;
  size_t known_begin = 0, known_count = 0;  // partial update: into known
  size_t bytes_begin = 0;                   // bytes.size() before the change's first byte
};

struct TransactionAssembler::OpenTransaction {
  TransactionId id;
  Lsn begin_lsn;
  std::string name;
  bool seen_begin = false;
  // A CLR that matched no buffered record: the transaction cannot be emitted exactly if it commits.
  bool unmatched_compensation = false;
  Lsn unmatched_clr_lsn, unmatched_top_lsn;
  std::vector<Pending> changes;
  // The buffered records not compensated yet, in log order: a rollback (to a savepoint or of the
  // whole transaction) undoes them last first, one CLR each (log-internals §2.3).
  struct Undoable {
    Lsn lsn;
    Lsn previous_lsn;
    LogOp op;
    const CapturedTable* table;
    size_t change;  // index into changes
  };
  std::vector<Undoable> undoable;
  std::vector<KnownColumnBytes> known;  // offsets relative to bytes
  std::vector<uint8_t> bytes;           // copies of row images: the source's buffers are reused per row

  // A page split's system transaction (IsPageSplitTransactionName): its row records move rows
  // between pages and are never user changes.
  bool page_split = false;
  // A schema-changing transaction (SchemaChangeCommit) from first_ddl_lsn on.
  bool schema_change = false;
  Lsn first_ddl_lsn;
  std::string ddl_reason;
  // Inserts and deletes it made in allocation units no captured table owned when they were read
  // (a table it creates, or rebuilds into new units): kept apart, never spilled, and handed over at
  // its commit for the units the catalog then captures.
  struct SideChange {
    Lsn lsn, previous_lsn;
    LogOp log_op;
    uint64_t allocation_unit_id;
    size_t offset, size;  // into side_bytes
  };
  std::vector<SideChange> side;
  std::vector<uint8_t> side_bytes;
  // Units whose changes in it cannot be handed over exactly (an update, a compensation that matches
  // nothing kept, more than the side buffer holds): an error at its commit if the unit is captured then.
  struct UncapturedChange {
    uint64_t allocation_unit_id;
    Lsn lsn;
  };
  std::vector<UncapturedChange> uncaptured;

  // Spilled to disk (SpillOptions): the oldest changes are in a private temporary file.
  int spill_fd = -1;
  uint64_t spilled_changes = 0;

  ~OpenTransaction() { CloseSpill(); }
  void CloseSpill() {
    if (spill_fd >= 0) ::close(spill_fd);
    spill_fd = -1;
    spilled_changes = 0;
  }

  void Reset() {
    CloseSpill();
    begin_lsn = Lsn();
    name.clear();
    seen_begin = unmatched_compensation = page_split = false;
    unmatched_clr_lsn = unmatched_top_lsn = Lsn();
    schema_change = false;
    first_ddl_lsn = Lsn();
    ddl_reason.clear();
    side.clear();
    side_bytes.clear();
    uncaptured.clear();
    changes.clear();
    undoable.clear();
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

std::optional<Lsn> TransactionAssembler::OldestOpenBegin(std::span<const Lsn> ignore) const {
  std::optional<Lsn> oldest;
  for (const auto& txn : open_) {
    const bool empty = txn->changes.empty() && txn->spilled_changes == 0;
    if (empty && std::find(ignore.begin(), ignore.end(), txn->begin_lsn) != ignore.end()) continue;
    if (!oldest || txn->begin_lsn < *oldest) oldest = txn->begin_lsn;
  }
  return oldest;
}

bool TransactionAssembler::IsOpen(Lsn begin, bool* has_changes) const {
  for (const auto& txn : open_) {
    if (txn->begin_lsn != begin) continue;
    if (has_changes) *has_changes = !txn->changes.empty() || txn->spilled_changes > 0;
    return true;
  }
  return false;
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

// [Transaction Name]s of DDL statements (log-internals.md section 6). A DDL statement inside a
// user_transaction is named by that, and only its system-table records tell.
bool IsDdlTransactionName(std::string_view name) {
  return name == "CREATE TABLE" || name == "ALTER TABLE" || name == "DROPOBJ";
}

// The system transaction SQL Server runs a page split in (log-internals.md section 2: "SplitPage",
// with the user transaction as its parent). It moves rows from a full page to a new one: it inserts
// them on the new page and removes them from the old one (LOP_DELETE_SPLIT). Which records carry
// the moved rows is [UNCONFIRMED] by a log sample; whatever they are, they are not user changes.
bool IsPageSplitTransactionName(std::string_view name) { return name == "SplitPage"; }

// A record that changes a row of a table's base rows (what a captured table's changes are made of).
bool ChangesBaseRow(const LogRecordView& record) {
  const auto ctx = static_cast<LogContext>(record.context);
  if (ctx != LogContext::kHeap && ctx != LogContext::kClustered && ctx != LogContext::kMarkAsGhost) return false;
  const LogOp op = record.op();
  return op == LogOp::kInsertRows || op == LogOp::kDeleteRows || op == LogOp::kModifyRow || op == LogOp::kModifyColumns;
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
    txn->page_split = IsPageSplitTransactionName(txn->name);
    if (IsDdlTransactionName(txn->name)) {
      txn->schema_change = true;
      txn->first_ddl_lsn = lsn;
      txn->ddl_reason = "transaction name " + txn->name;
    }
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
    if (op == LogOp::kCommitXact && txn->schema_change && !txn->unmatched_compensation) {
      ok = CommitSchemaChange(*txn, lsn, record, error);
      rebind_from_ = txn->first_ddl_lsn;
    }
    if (!ok) {
      ++stats_.transactions_committed;
    } else if (op == LogOp::kAbortXact) {
      ++stats_.transactions_aborted;
    } else {
      ++stats_.transactions_committed;
      if (txn->unmatched_compensation) {
        error = "transaction " + record.transaction_id.ToString() + " committed at " + lsn.ToString() +
                " after a compensation record at " + txn->unmatched_clr_lsn.ToString() +
                " that undoes no buffered change (the last uncompensated one is " +
                (txn->unmatched_top_lsn.IsZero() ? std::string("none") : txn->unmatched_top_lsn.ToString()) + ")" +
                (txn->spilled_changes > 0 ? std::string(" (earlier changes were spilled to disk past the memory budget "
                                                        "and cannot be compensated there)")
                                          : std::string()) +
                ", so its changes cannot be emitted exactly";
        ok = false;
      } else if (txn->spill_fd >= 0) {
        ok = StreamSpilled(*txn, lsn, record, error);
      } else if (!txn->changes.empty()) {
        StartCommitted(*txn, lsn, record);
        ok = EmitPart(txn->changes, txn->known, txn->bytes.data(), 0, true, error);
      }
    }
    rebind_from_ = Lsn(UINT32_MAX, UINT32_MAX, UINT16_MAX);
    txn->Reset();
    pool_.push_back(std::move(txn));
    return ok;
  }

  if (!record.has_row_part) return true;
  const CapturedTable* table = catalog_.FindByAllocationUnit(record.allocation_unit_id, lsn);
  if (table == nullptr) {  // not a captured table (system tables, other tables, indexes)
    if (found == open_.end()) return true;
    OpenTransaction& txn = **found;
    if (txn.page_split) return true;  // a split of a system table's page is no schema change
    if (const SystemAllocationUnit* unit = catalog_.FindSystemAllocationUnit(record.allocation_unit_id)) {
      if (!txn.schema_change) {
        txn.schema_change = true;
        txn.first_ddl_lsn = lsn;
        txn.ddl_reason = unit->name;
      }
    } else if (txn.schema_change && ChangesBaseRow(record)) {
      KeepUncaptured(txn, lsn, record);
    }
    return true;
  }
  auto ctx = static_cast<LogContext>(record.context);
  bool base_row = ctx == LogContext::kHeap || ctx == LogContext::kClustered || ctx == LogContext::kMarkAsGhost;
  if (!base_row) return true;

  // Row images change at each record's LSN whatever its transaction (CLRs included), so the
  // resolver sees every base-row record in log order.
  const bool is_modify = op == LogOp::kModifyRow || op == LogOp::kModifyColumns;
  if (!resolver_.Apply(*table, lsn, record, is_modify && !record.IsCompensation() ? &update_ : nullptr, error))
    return false;

  if (found == open_.end()) {
    if (lsn <= skip_unknown_through_) {
      ++stats_.records_of_ended_transactions;
      return true;
    }
    error = "log record " + lsn.ToString() + " (" + OperationName(record.operation) + ", " + table->QualifiedName() +
            ") belongs to transaction " + record.transaction_id.ToString() +
            ", which began before the first LSN read: its earlier changes are not in the log read";
    return false;
  }
  OpenTransaction& txn = **found;
  if (txn.page_split) return AddPageSplitRecord(txn, lsn, record, *table, error);
  if (record.IsCompensation()) return Compensate(txn, lsn, record, *table, error);
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
      AddUpdate(txn, lsn, record.previous_lsn, op, *table);
      return MaybeSpill(error);
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
  Pending& pending = txn.changes.emplace_back();
  pending.lsn = lsn;
  pending.op = change_op;
  pending.table = table;
  pending.offset = offset;
  pending.size = image.size();
  pending.bytes_begin = offset;
  pending.known_begin = txn.known.size();
  txn.undoable.push_back({lsn, record.previous_lsn, op, table, txn.changes.size() - 1});
  return MaybeSpill(error);
}

// A row moved by a page split keeps its clustered key, so the resolver (which saw the record above)
// goes on splicing updates onto its image; nothing is emitted. A split's insert or its undo is a
// move; any other change of a captured row in it is not what a split does, and stops the stream.
bool TransactionAssembler::AddPageSplitRecord(const OpenTransaction& txn, Lsn lsn, const LogRecordView& record,
                                              const CapturedTable& table, std::string& error) {
  const LogOp op = record.op();
  if (op == LogOp::kInsertRows || record.IsCompensation()) {
    if (op == LogOp::kInsertRows && !record.IsCompensation()) ++stats_.rows_moved_by_page_splits;
    return true;
  }
  if (op != LogOp::kDeleteRows && op != LogOp::kModifyRow && op != LogOp::kModifyColumns) return true;
  error = "log record " + lsn.ToString() + ": " + OperationName(record.operation) + " on " + table.QualifiedName() +
          " inside the page split transaction " + txn.id.ToString() + " (begun at " + txn.begin_lsn.ToString() +
          "): a split only moves rows, and sqltail cannot tell whether this is a user change " +
          "(docs/operator-guide.md, \"Page splits\")";
  return false;
}

namespace {

// The operation a CLR of each kind undoes: a DELETE_ROWS CLR removes an inserted row, an
// INSERT_ROWS CLR restores a deleted one, a MODIFY CLR writes back a modify's before bytes.
bool Undoes(LogOp clr, LogOp undone) {
  switch (clr) {
    case LogOp::kDeleteRows:
      return undone == LogOp::kInsertRows;
    case LogOp::kInsertRows:
      return undone == LogOp::kDeleteRows;
    case LogOp::kModifyRow:
    case LogOp::kModifyColumns:
      return undone == LogOp::kModifyRow || undone == LogOp::kModifyColumns;
    default:
      return false;
  }
}

// Whether the CLR `clr` compensates the kept record (unit, op, lsn, previous_lsn): the same
// allocation unit (a schema change inside the transaction may have put the two under different
// versions of the table), the matching kind of change, and the CLR naming the record (vector 22B):
// its Previous LSN is the record's Previous LSN, or its Previous Page LSN is the record's LSN when
// nothing else changed the page in between.
bool CompensatesRecord(const LogRecordView& clr, uint64_t unit, LogOp op, Lsn lsn, Lsn previous_lsn) {
  return clr.allocation_unit_id == unit && Undoes(clr.op(), op) &&
         (clr.previous_lsn == previous_lsn || clr.previous_page_lsn == lsn);
}

}  // namespace

bool TransactionAssembler::Compensate(OpenTransaction& txn, Lsn lsn, const LogRecordView& record,
                                      const CapturedTable& table, std::string& error) {
  // A rollback undoes the transaction's records last first, so a CLR compensates the newest record
  // not compensated yet (CompensatesRecord); otherwise the transaction is marked and fails at
  // commit (an abort drops it anyway).
  if (txn.undoable.empty() ||
      !CompensatesRecord(record, txn.undoable.back().table->allocation_unit_id, txn.undoable.back().op,
                         txn.undoable.back().lsn, txn.undoable.back().previous_lsn)) {
    if (!txn.unmatched_compensation) {
      txn.unmatched_compensation = true;
      txn.unmatched_clr_lsn = lsn;
      txn.unmatched_top_lsn = txn.undoable.empty() ? Lsn() : txn.undoable.back().lsn;
    }
    return true;
  }
  const size_t index = txn.undoable.back().change;
  txn.undoable.pop_back();
  ++stats_.changes_compensated;
  if (!txn.undoable.empty() && txn.undoable.back().change == index) {
    // Records of one row combined into one update, and only the last ones undone: the update's net
    // after image is the row as the CLR left it.
    Pending& change = txn.changes[index];
    const std::vector<uint8_t>* image = change.partial ? nullptr : resolver_.CachedImage(table, record);
    if (image == nullptr) {
      error = "log record " + lsn.ToString() + " (compensation, " + table.QualifiedName() +
              ") undoes part of the combined update ending at " + change.lsn.ToString() +
              " and the row's image is not known: its net effect cannot be emitted exactly";
      return false;
    }
    change.lsn = txn.undoable.back().lsn;
    const size_t before = txn.bytes.size();
    change.offset = txn.Append(*image);
    change.size = image->size();
    buffered_bytes_ += txn.bytes.size() - before;
    return true;
  }
  if (index + 1 != txn.changes.size()) {  // cannot happen: changes and undoable are in the same order
    error = "log record " + lsn.ToString() + ": compensation out of order";
    return false;
  }
  const Pending& change = txn.changes.back();
  buffered_bytes_ -= txn.bytes.size() - change.bytes_begin;
  txn.bytes.resize(change.bytes_begin);
  txn.known.resize(change.known_begin);
  txn.changes.pop_back();
  return true;
}

void TransactionAssembler::AddUpdate(OpenTransaction& txn, Lsn lsn, Lsn previous_lsn, LogOp op,
                                     const CapturedTable& table) {
  const UpdateResult& update = update_;
  if (update.complete && !txn.changes.empty()) {
    // Consecutive modify records of one row in one transaction (one statement touching the row
    // several times) combine: the first record's before, the last one's after.
    Pending& last = txn.changes.back();
    if (last.op == ChangeOp::kUpdate && !last.partial && last.table == &table && !update.identity.empty() &&
        last.identity_size == update.identity.size() &&
        std::equal(update.identity.begin(), update.identity.end(), txn.bytes.begin() + last.identity_offset)) {
      last.lsn = lsn;
      last.offset = txn.Append(update.after);
      last.size = update.after.size();
      buffered_bytes_ += update.after.size();
      txn.undoable.push_back({lsn, previous_lsn, op, &table, txn.changes.size() - 1});
      return;
    }
  }
  Pending pending{lsn, ChangeOp::kUpdate, &table, 0, 0};
  size_t before = txn.bytes.size();
  pending.bytes_begin = before;
  pending.known_begin = txn.known.size();
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
  txn.undoable.push_back({lsn, previous_lsn, op, &table, txn.changes.size() - 1});
}

void TransactionAssembler::KeepUncaptured(OpenTransaction& txn, Lsn lsn, const LogRecordView& record) {
  const uint64_t unit = record.allocation_unit_id;
  auto cannot = [&] {
    if (txn.uncaptured.size() < 8 && std::none_of(txn.uncaptured.begin(), txn.uncaptured.end(),
                                                  [&](const auto& u) { return u.allocation_unit_id == unit; }))
      txn.uncaptured.push_back({unit, lsn});
  };
  const LogOp op = record.op();
  if (record.IsCompensation()) {
    // As Compensate: the newest change kept.
    if (!txn.side.empty() && CompensatesRecord(record, txn.side.back().allocation_unit_id, txn.side.back().log_op,
                                               txn.side.back().lsn, txn.side.back().previous_lsn)) {
      txn.side_bytes.resize(txn.side.back().offset);
      txn.side.pop_back();
    } else {
      cannot();
    }
    return;
  }
  // A separate bound: these are neither spilled nor counted in the budget that drives spilling.
  const size_t cap = spill_.memory_budget_bytes > 0 ? spill_.memory_budget_bytes / 4 : size_t{64} << 20;
  if ((op != LogOp::kInsertRows && op != LogOp::kDeleteRows) || record.elements.empty() ||
      txn.side_bytes.size() + record.elements[0].size() > cap) {
    cannot();
    return;
  }
  const auto image = record.elements[0];
  txn.side.push_back({lsn, record.previous_lsn, op, unit, txn.side_bytes.size(), image.size()});
  txn.side_bytes.insert(txn.side_bytes.end(), image.begin(), image.end());
}

bool TransactionAssembler::ResolveSideChanges(OpenTransaction& txn, Lsn commit_lsn, std::string& error) {
  bool any = false;
  for (const auto& c : txn.side) any = any || catalog_.FindByAllocationUnit(c.allocation_unit_id, c.lsn) != nullptr;
  if (!any) return true;
  if (txn.spill_fd >= 0) {
    error = "transaction " + txn.id.ToString() + " (committed at " + commit_lsn.ToString() +
            ") makes a table captured and writes rows into it, and it was spilled to disk past the memory budget: "
            "those rows cannot be put in log order with the spilled changes (raise capture.txn_memory_budget_mb)";
    return false;
  }
  for (const auto& c : txn.side) {
    const CapturedTable* table = catalog_.FindByAllocationUnit(c.allocation_unit_id, c.lsn);
    if (table == nullptr) continue;
    Pending pending{c.lsn, c.log_op == LogOp::kInsertRows ? ChangeOp::kInsert : ChangeOp::kDelete, table, 0, 0};
    pending.bytes_begin = txn.bytes.size();
    pending.known_begin = txn.known.size();
    pending.offset = txn.Append(std::span<const uint8_t>(txn.side_bytes.data() + c.offset, c.size));
    pending.size = c.size;
    txn.changes.push_back(pending);
  }
  // Log order across tables (foreign keys in the target): by each change's LSN.
  std::stable_sort(txn.changes.begin(), txn.changes.end(),
                   [](const Pending& a, const Pending& b) { return a.lsn < b.lsn; });
  return true;
}

bool TransactionAssembler::CommitSchemaChange(OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record,
                                              std::string& error) {
  ++stats_.schema_change_transactions;
  SchemaChangeCommit commit;
  commit.id = txn.id;
  commit.name = txn.name;
  commit.begin_lsn = txn.begin_lsn;
  commit.first_ddl_lsn = txn.first_ddl_lsn;
  commit.commit_lsn = commit_lsn;
  std::memcpy(commit.commit_time, record.xact_time, 8);
  commit.reason = txn.ddl_reason;
  if (refresh_catalog_ && !refresh_catalog_(commit, error)) return false;
  for (const auto& u : txn.uncaptured) {
    const CapturedTable* table = catalog_.FindByAllocationUnit(u.allocation_unit_id, u.lsn);
    if (table == nullptr) continue;
    error = "log record " + u.lsn.ToString() + " changes " + table->QualifiedName() + " in transaction " +
            txn.id.ToString() + " (" + txn.ddl_reason + ", committed at " + commit_lsn.ToString() +
            "), which made it a captured table, and cannot be handed over exactly (an update, a rollback to a "
            "savepoint, or more rows than the side buffer holds, in the transaction that creates or rebuilds the "
            "table): its rows would be missing";
    return false;
  }
  if (!ResolveSideChanges(txn, commit_lsn, error)) return false;
  commit.has_changes = !txn.changes.empty() || txn.spilled_changes > 0;
  return !on_schema_change_ || on_schema_change_(commit, error);
}

void TransactionAssembler::StartCommitted(const OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record) {
  committed_.id = record.transaction_id;
  committed_.name = txn.name;
  committed_.begin_lsn = txn.begin_lsn;
  committed_.commit_lsn = commit_lsn;
  std::memcpy(committed_.commit_time, record.xact_time, 8);
}

bool TransactionAssembler::EmitPart(std::span<const Pending> changes, std::span<const KnownColumnBytes> known,
                                    const uint8_t* data, size_t first_change, bool last_part, std::string& error) {
  committed_.first_change = first_change;
  committed_.last_part = last_part;
  committed_.changes.clear();
  committed_.known_columns.clear();
  for (const KnownColumnBytes& k : known) {
    committed_.known_columns.push_back(
        {k.column, {data + k.before_offset, k.before_size}, {data + k.after_offset, k.after_size}});
  }
  for (const auto& change : changes) {
    RowChange& out = committed_.changes.emplace_back();
    out.lsn = change.lsn;
    out.op = change.op;
    out.table = change.table;
    // A change after a schema change in the same transaction was buffered under the version in
    // force when it was read; the catalog now knows the one in force at its LSN. (A partial update's
    // known columns are indices into the layout it was resolved with, so it keeps that one.)
    if (!(change.lsn < rebind_from_) && !change.partial) {
      if (const CapturedTable* now = catalog_.FindByAllocationUnit(change.table->allocation_unit_id, change.lsn))
        out.table = now;
    }
    out.record = {data + change.offset, change.size};
    out.before_record = {data + change.before_offset, change.before_size};
    out.partial = change.partial;
    if (change.op == ChangeOp::kUpdate) ++stats_.updates_emitted;
    if (change.partial) {
      out.known_columns = {committed_.known_columns.data() + change.known_begin, change.known_count};
      ++stats_.partial_updates_emitted;
      size_t rendered = 0, known_rendered = 0;
      for (const auto& column : change.table->layout.columns) rendered += column.IsRendered() ? 1 : 0;
      for (const KnownColumn& k : out.known_columns)
        known_rendered += change.table->layout.columns[k.column].IsRendered() ? 1 : 0;
      stats_.unavailable_values += rendered - known_rendered;
    }
  }
  stats_.changes_emitted += committed_.changes.size();
  return on_commit_(committed_, error);
}

// Spill file: per change, its Pending (offsets relative to the change's own bytes), its known
// column entries (likewise), the byte count (u64) and the bytes. The file is created in the spill
// directory and unlinked at once, so only this process can read it; it goes when the descriptor closes.
namespace {

bool WriteAll(int fd, const std::string& buffer, std::string& error) {
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = std::string("spill file: write failed: ") + std::strerror(errno);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

template <class T>
void AppendPod(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

}  // namespace

void TransactionAssembler::SetSpill(SpillOptions options) { spill_ = std::move(options); }

namespace {

// What an open transaction holds in memory: row bytes plus per-change bookkeeping (for small rows
// the bookkeeping is as large as the rows).
template <class Txn, class PendingT, class UndoableT>
size_t Footprint(const Txn& txn) {
  return txn.bytes.size() + txn.known.size() * sizeof(KnownColumnBytes) + txn.changes.size() * sizeof(PendingT) +
         txn.undoable.size() * sizeof(UndoableT);
}

}  // namespace

bool TransactionAssembler::MaybeSpill(std::string& error) {
  if (spill_.memory_budget_bytes == 0 || buffered_bytes_ <= spill_.memory_budget_bytes / 2) return true;
  // The largest open transaction goes to disk, all but its last change (which a following record
  // of the same row may still combine with).
  size_t total = 0, largest_size = 0;
  OpenTransaction* largest = nullptr;
  for (const auto& txn : open_) {
    const size_t size = Footprint<OpenTransaction, Pending, OpenTransaction::Undoable>(*txn);
    total += size;
    if (largest == nullptr || size > largest_size) {
      largest = txn.get();
      largest_size = size;
    }
  }
  if (total <= spill_.memory_budget_bytes || largest == nullptr || largest->changes.size() < 2) return true;
  return Spill(*largest, /*keep_last=*/true, error);
}

bool TransactionAssembler::Spill(OpenTransaction& txn, bool keep_last, std::string& error) {
  const size_t count = txn.changes.size() - (keep_last ? 1 : 0);
  if (count == 0) return true;
  if (txn.spill_fd < 0) {
    std::error_code ignored;
    std::filesystem::path dir(spill_.dir);
    if (dir.empty()) dir = std::filesystem::temp_directory_path(ignored);
    if (dir.empty()) dir = "/tmp";
    std::string path = (dir / "sqltail-txn-XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0) {
      error = "transaction " + txn.id.ToString() + " is larger than the memory budget (" +
              std::to_string(spill_.memory_budget_bytes) + " bytes) and cannot be spilled: creating a file in " +
              dir.string() + " failed: " + std::strerror(errno);
      return false;
    }
    ::unlink(path.c_str());
    txn.spill_fd = fd;
    ++stats_.transactions_spilled;
  }
  std::string& out = spill_buffer_;
  const size_t end_bytes = count < txn.changes.size() ? txn.changes[count].bytes_begin : txn.bytes.size();
  size_t written = 0;
  for (size_t i = 0; i < count; ++i) {
    Pending change = txn.changes[i];
    const size_t begin = change.bytes_begin;
    const size_t end = i + 1 < count ? txn.changes[i + 1].bytes_begin : end_bytes;
    auto rebase = [begin](size_t& offset, size_t size) { offset = size == 0 ? 0 : offset - begin; };
    rebase(change.offset, change.size);
    rebase(change.before_offset, change.before_size);
    change.identity_offset = change.identity_size = 0;  // only for combining with the last change
    const size_t known_begin = change.known_begin;
    change.known_begin = 0;
    change.bytes_begin = 0;
    out.clear();
    AppendPod(out, change);
    for (size_t k = 0; k < change.known_count; ++k) {
      KnownColumnBytes known = txn.known[known_begin + k];
      known.before_offset -= static_cast<uint32_t>(begin);
      known.after_offset -= static_cast<uint32_t>(begin);
      AppendPod(out, known);
    }
    AppendPod(out, static_cast<uint64_t>(end - begin));
    out.append(reinterpret_cast<const char*>(txn.bytes.data() + begin), end - begin);
    if (!WriteAll(txn.spill_fd, out, error)) {
      error = "transaction " + txn.id.ToString() + ": " + error;
      return false;
    }
    written += end - begin;
  }
  stats_.bytes_spilled += written;
  txn.spilled_changes += count;
  // What stays in memory (the last change) moves to the front.
  const size_t known_end = count < txn.changes.size() ? txn.changes[count].known_begin : txn.known.size();
  txn.bytes.erase(txn.bytes.begin(), txn.bytes.begin() + static_cast<std::ptrdiff_t>(end_bytes));
  txn.known.erase(txn.known.begin(), txn.known.begin() + static_cast<std::ptrdiff_t>(known_end));
  for (KnownColumnBytes& known : txn.known) {
    known.before_offset -= static_cast<uint32_t>(end_bytes);
    known.after_offset -= static_cast<uint32_t>(end_bytes);
  }
  txn.changes.erase(txn.changes.begin(), txn.changes.begin() + static_cast<std::ptrdiff_t>(count));
  for (Pending& change : txn.changes) {
    auto rebase = [end_bytes](size_t& offset, size_t size) { offset = size == 0 ? 0 : offset - end_bytes; };
    rebase(change.offset, change.size);
    rebase(change.before_offset, change.before_size);
    rebase(change.identity_offset, change.identity_size);
    change.bytes_begin -= end_bytes;
    change.known_begin -= known_end;
  }
  // Spilled changes cannot be compensated any more: a CLR for one will find no match (an error at
  // commit, never a wrong event).
  std::erase_if(txn.undoable, [count](const OpenTransaction::Undoable& u) { return u.change < count; });
  for (OpenTransaction::Undoable& u : txn.undoable) u.change -= count;
  buffered_bytes_ -= written;
  return true;
}

bool TransactionAssembler::StreamSpilled(OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record,
                                         std::string& error) {
  buffered_bytes_ += txn.bytes.size();  // the commit already took them off; Spill does it again
  if (!Spill(txn, /*keep_last=*/false, error)) return false;
  if (::lseek(txn.spill_fd, 0, SEEK_SET) != 0) {
    error = "transaction " + txn.id.ToString() + ": spill file: seek failed: " + std::strerror(errno);
    return false;
  }
  StartCommitted(txn, commit_lsn, record);
  // Read back in parts of at most part_max_changes changes (and about a quarter of the budget).
  const size_t part_bytes_cap = std::max<size_t>(spill_.memory_budget_bytes / 4, 1 << 16);
  const size_t part_changes_cap = std::max<size_t>(spill_.part_max_changes, 1);
  std::vector<uint8_t>& file = spill_read_;  // buffered reads
  size_t file_at = 0, file_end = 0;
  auto read = [&](void* to, size_t size) {
    auto* dest = static_cast<uint8_t*>(to);
    while (size > 0) {
      if (file_at == file_end) {
        file.resize(1 << 20);
        ssize_t n;
        do {
          n = ::read(txn.spill_fd, file.data(), file.size());
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return false;
        file_at = 0;
        file_end = static_cast<size_t>(n);
      }
      const size_t take = std::min(size, file_end - file_at);
      std::memcpy(dest, file.data() + file_at, take);
      dest += take;
      file_at += take;
      size -= take;
    }
    return true;
  };
  uint64_t emitted = 0;
  while (emitted < txn.spilled_changes) {
    part_changes_.clear();
    part_known_.clear();
    part_bytes_.clear();
    while (emitted + part_changes_.size() < txn.spilled_changes && part_changes_.size() < part_changes_cap &&
           part_bytes_.size() < part_bytes_cap) {
      Pending change;
      uint64_t size = 0;
      if (!read(&change, sizeof change)) break;
      const size_t base = part_bytes_.size();
      change.offset += change.size == 0 ? 0 : base;
      change.before_offset += change.before_size == 0 ? 0 : base;
      change.known_begin = part_known_.size();
      bool ok = true;
      for (size_t k = 0; ok && k < change.known_count; ++k) {
        KnownColumnBytes known;
        ok = read(&known, sizeof known);
        known.before_offset += static_cast<uint32_t>(base);
        known.after_offset += static_cast<uint32_t>(base);
        part_known_.push_back(known);
      }
      if (!ok || !read(&size, sizeof size) || size > (uint64_t{1} << 32)) {
        error = "transaction " + txn.id.ToString() + ": spill file: short or corrupt read";
        return false;
      }
      part_bytes_.resize(base + size);
      if (!read(part_bytes_.data() + base, size)) {
        error = "transaction " + txn.id.ToString() + ": spill file: short read";
        return false;
      }
      part_changes_.push_back(change);
    }
    if (part_changes_.empty()) {
      error = "transaction " + txn.id.ToString() + ": spill file: short read";
      return false;
    }
    const size_t first = emitted;
    emitted += part_changes_.size();
    if (!EmitPart(part_changes_, part_known_, part_bytes_.data(), first, emitted == txn.spilled_changes, error))
      return false;
  }
  // Part buffers are kept for the next spilled transaction, but not beyond the budget's size.
  if (part_bytes_.capacity() > part_bytes_cap * 2) std::vector<uint8_t>().swap(part_bytes_);
  return true;
}

}  // namespace sqltail::logreader
