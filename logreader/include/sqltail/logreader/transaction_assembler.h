// Groups the log records of each transaction and hands over its row changes at commit, in commit
// order; drops aborted transactions; a compensation record (CLR) cancels the change it undoes, also
// in a transaction that commits (rollback to a savepoint). Only changes to captured tables are buffered.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/log_record.h"
#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/update_resolver.h"

namespace sqltail::logreader {

enum class ChangeOp : char { kInsert = 'c', kUpdate = 'u', kDelete = 'd' };

// A column value of an update that the log determines without a base image.
struct KnownColumn {
  size_t column = 0;  // index into the layout's columns
  std::span<const uint8_t> before;
  std::span<const uint8_t> after;
};

struct RowChange {
  Lsn lsn;
  ChangeOp op = ChangeOp::kInsert;
  const CapturedTable* table = nullptr;
  // The row image (insert: after, delete: before, update: after); valid during the callback. Empty
  // for a partial update.
  std::span<const uint8_t> record;
  std::span<const uint8_t> before_record;  // update: the full before image (empty for a partial update)
  // An update without a base image: only `known_columns` have values; every other column is
  // unavailable (FieldState::kUnavailable), in both before and after.
  bool partial = false;
  std::span<const KnownColumn> known_columns;
};

// A transaction whose buffered changes pass the memory budget goes to a temporary file and is
// handed over at its commit in parts (CommittedTransaction::first_change / last_part).
struct SpillOptions {
  size_t memory_budget_bytes = 0;   // all open transactions' buffered bytes; 0: never spill
  std::string dir;                  // temporary files; empty: the system temp directory
  size_t part_max_changes = 10000;  // changes per commit-handler call for a spilled transaction
};

struct CommittedTransaction {
  TransactionId id;
  std::string name;  // [Transaction Name]: "INSERT", "user_transaction", ...
  Lsn begin_lsn;
  Lsn commit_lsn;
  uint8_t commit_time[8] = {};             // datetime layout, as logged
  std::vector<RowChange> changes;          // in log order
  std::vector<KnownColumn> known_columns;  // storage for the changes' known_columns
  // A transaction spilled to disk arrives in several calls, in order, with the same ids and LSNs:
  // changes[0] is change number first_change (0-based) of the transaction; last_part marks the end.
  // Any other transaction arrives in one call (first_change 0, last_part true).
  size_t first_change = 0;
  bool last_part = true;
};

// A committed transaction that may have changed captured tables: it wrote a system base table that
// describes tables and columns (Catalog::system_allocation_units), or its name is a DDL verb.
struct SchemaChangeCommit {
  TransactionId id;
  std::string_view name;  // [Transaction Name]
  Lsn begin_lsn;
  Lsn first_ddl_lsn;  // its first record on such a system table (its begin when only the name tells)
  Lsn commit_lsn;
  uint8_t commit_time[8] = {};  // datetime layout, as logged
  std::string_view reason;      // what marked it: "sys.syscolpars" or "transaction name ALTER TABLE"
  bool has_changes = false;     // it holds changes of captured tables (handed over next); set for the handler
};

struct AssemblerStats {
  uint64_t records = 0;
  uint64_t transactions_committed = 0;
  uint64_t transactions_aborted = 0;
  uint64_t changes_emitted = 0;
  uint64_t updates_emitted = 0;
  uint64_t partial_updates_emitted = 0;        // updates without a base image
  uint64_t unavailable_values = 0;             // columns emitted as unavailable (one per column per event)
  uint64_t changes_compensated = 0;            // buffered records cancelled by their CLRs
  uint64_t transactions_spilled = 0;           // transactions that went to disk (SpillOptions)
  uint64_t bytes_spilled = 0;                  // row bytes written to spill files
  uint64_t records_of_ended_transactions = 0;  // skipped after a resume (SkipUnknownThrough)
  uint64_t schema_change_transactions = 0;     // committed transactions that SchemaChangeCommit describes
  uint64_t rows_moved_by_page_splits = 0;      // captured rows a SplitPage system transaction inserted elsewhere
};

class TransactionAssembler {
 public:
  using CommitHandler = std::function<bool(const CommittedTransaction&, std::string& error)>;
  // At the commit of a schema-changing transaction, before its changes are handed over: first the
  // refresh brings the catalog up to date (a version from first_ddl_lsn); then the rows it wrote into
  // tables that are captured now are added to its changes; then the handler runs. The transaction's
  // changes from first_ddl_lsn on are handed over with the table versions in force at their LSNs.
  using SchemaChangeHandler = std::function<bool(const SchemaChangeCommit&, std::string& error)>;

  TransactionAssembler(const Catalog& catalog, CommitHandler on_commit, UpdateResolverLimits limits = {});
  ~TransactionAssembler();

  // Feeds the record at `lsn`. Returns false with `error` (naming the LSN, table and what is
  // unsupported) when the record cannot be turned into exact changes; nothing is emitted for it then.
  bool Add(Lsn lsn, const LogRecordView& record, std::string& error);

  // Spill transactions to disk past a memory budget (off by default).
  void SetSpill(SpillOptions options);
  void SetCatalogRefresh(SchemaChangeHandler refresh) { refresh_catalog_ = std::move(refresh); }
  void SetSchemaChangeHandler(SchemaChangeHandler handler) { on_schema_change_ = std::move(handler); }

  // After a resume from a checkpoint: a record up to `lsn` of a transaction whose begin was not
  // read belongs to one that had ended when the checkpoint was taken (its restart LSN is the
  // oldest begin still open then), and is skipped. Past `lsn` such a record stays an error.
  void SkipUnknownThrough(Lsn lsn) { skip_unknown_through_ = lsn; }

  // The begin LSN of the oldest transaction still open, or nullopt when none is open. A transaction
  // that began at one of `ignore` and holds no change of a captured table is left out (the log
  // safeguard's own transactions, capture.log_safeguard = open_transaction).
  std::optional<Lsn> OldestOpenBegin(std::span<const Lsn> ignore = {}) const;
  // Whether a transaction that began at `begin` is open, and whether it holds changes of captured tables.
  bool IsOpen(Lsn begin, bool* has_changes = nullptr) const;
  size_t open_transactions() const { return open_.size(); }
  size_t buffered_bytes() const { return buffered_bytes_; }
  const AssemblerStats& stats() const { return stats_; }
  const UpdateResolver& resolver() const { return resolver_; }

 private:
  struct Pending;  // a buffered change
  struct OpenTransaction;
  // update_ into txn
  void AddUpdate(OpenTransaction& txn, Lsn lsn, Lsn previous_lsn, LogOp op, const CapturedTable& table);
  // A record of a page split's system transaction on a captured table: a row move, not a change.
  bool AddPageSplitRecord(const OpenTransaction& txn, Lsn lsn, const LogRecordView& record, const CapturedTable& table,
                          std::string& error);
  // A CLR: cancels the buffered change it undoes (rollback to a savepoint, or of the whole transaction).
  bool Compensate(OpenTransaction& txn, Lsn lsn, const LogRecordView& record, const CapturedTable& table,
                  std::string& error);
  void StartCommitted(const OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record);
  bool EmitPart(std::span<const Pending> changes, std::span<const KnownColumnBytes> known, const uint8_t* data,
                size_t first_change, bool last_part, std::string& error);
  // At the commit of a schema-changing transaction: the handler, then the check that no change of a
  // table it made captured was left behind.
  bool CommitSchemaChange(OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record, std::string& error);
  // A schema-changing transaction's row of a unit no captured table owns (OpenTransaction::side).
  void KeepUncaptured(OpenTransaction& txn, Lsn lsn, const LogRecordView& record);
  bool ResolveSideChanges(OpenTransaction& txn, Lsn commit_lsn, std::string& error);
  bool MaybeSpill(std::string& error);
  bool Spill(OpenTransaction& txn, bool keep_last, std::string& error);
  bool StreamSpilled(OpenTransaction& txn, Lsn commit_lsn, const LogRecordView& record, std::string& error);
  const Catalog& catalog_;
  CommitHandler on_commit_;
  SchemaChangeHandler refresh_catalog_;
  SchemaChangeHandler on_schema_change_;
  // While a schema-changing transaction is handed over: its changes from this LSN on take the table
  // version in force at their LSN (max: none).
  Lsn rebind_from_ = Lsn(UINT32_MAX, UINT32_MAX, UINT16_MAX);
  // Open transactions, searched linearly: there are few at a time, and a vector allocates nothing
  // per transaction once it has grown (a map would allocate a node for each).
  std::vector<std::unique_ptr<OpenTransaction>> open_;
  std::vector<std::unique_ptr<OpenTransaction>> pool_;  // reused buffers: no allocation per transaction
  CommittedTransaction committed_;
  size_t buffered_bytes_ = 0;
  AssemblerStats stats_;
  UpdateResolver resolver_;
  UpdateResult update_;  // reused per modify record
  Lsn skip_unknown_through_;
  SpillOptions spill_;
  std::string spill_buffer_;  // reused: one change's spill bytes
  std::vector<uint8_t> spill_read_;
  std::vector<Pending> part_changes_;  // a spilled transaction's part being handed over
  std::vector<KnownColumnBytes> part_known_;
  std::vector<uint8_t> part_bytes_;
};

}  // namespace sqltail::logreader
