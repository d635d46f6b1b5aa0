// Reads the log from a source in batches, parses every record, and feeds the transaction assembler;
// keeps the position and the restart LSN a checkpoint needs.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/log_record.h"
#include "sqltail/logreader/log_source.h"
#include "sqltail/logreader/transaction_assembler.h"

namespace sqltail::logreader {

class LogReader {
 public:
  // Called at a schema-changing commit once the catalog is up to date, with the changes of captured
  // tables it made (often none: DDL on other tables), before the transaction's own changes are
  // handed over; not for one emitted before the checkpoint.
  using SchemaChangeHandler =
      std::function<bool(const SchemaChangeCommit&, std::span<const TableChange>, std::string& error)>;

  // `catalog` gains a version at each schema change: re-read from the source at the commit, unless
  // it already has one there (a fixture's catalog.json holds them all).
  // `image_cache` bounds the update resolver's cache of row images (capture.image_cache_*).
  LogReader(LogSource& source, Catalog& catalog, TransactionAssembler::CommitHandler on_commit,
            UpdateResolverLimits image_cache = {});
  void SetSchemaChangeHandler(SchemaChangeHandler handler) { on_schema_change_ = std::move(handler); }
  // Catalog reads at schema changes so far.
  uint64_t catalog_reads() const { return catalog_reads_; }

  // Resume after a checkpoint: re-read from `restart_lsn` (inclusive) and hand over only the
  // transactions that commit after `emitted_through` (the commit LSN of the last emitted one).
  // `read_through` is the position when the checkpoint was taken: a transaction that began before
  // `restart_lsn` had ended by then, so its records up to there are skipped (zero: up to
  // `emitted_through`, which is always at or before that position).
  void Resume(Lsn restart_lsn, Lsn emitted_through, Lsn read_through = Lsn());

  // Reads up to max_rows rows after the current position. `rows` counts the rows that were new.
  bool Poll(size_t max_rows, size_t& rows, std::string& error);

  // The last LSN read (zero before the first row).
  Lsn position() const { return last_seen_; }
  // The last LSN read, or before the first row the position given to Resume: what a checkpoint
  // taken now records as its read_through.
  Lsn ReadThrough() const { return have_seen_ ? last_seen_ : read_through_; }
  // Where a restart must begin reading: the begin LSN of the oldest open transaction, or the position.
  // Transactions that began at an LSN given to IgnoreTransactionsBegunAt and hold no captured change
  // are left out.
  Lsn RestartLsn() const;
  // capture.log_safeguard = open_transaction: the begin LSNs of the safeguard's own transactions,
  // which write only the safeguard table (never captured) and stay open on purpose.
  void IgnoreTransactionsBegunAt(std::vector<Lsn> begins) { ignored_begins_ = std::move(begins); }
  // Where this reader began reading (the restart LSN given to Resume).
  Lsn ReadFrom() const { return read_from_; }
  const TransactionAssembler& assembler() const { return assembler_; }
  void SetSpill(SpillOptions options) { assembler_.SetSpill(std::move(options)); }

 private:
  bool RefreshCatalog(const SchemaChangeCommit& commit, std::string& error);

  LogSource& source_;
  Catalog& catalog_;
  SchemaChangeHandler on_schema_change_;
  uint64_t catalog_reads_ = 0;
  TransactionAssembler assembler_;
  LogRecordView record_;
  Lsn read_from_;
  Lsn last_seen_;
  bool have_seen_ = false;
  Lsn emitted_through_;
  Lsn read_through_;
  std::vector<Lsn> ignored_begins_;
  // The catalog versions (by their first LSN) already handed to the schema change handler. Two DDL
  // transactions that interleave share the re-read made at the first commit, whose versions then
  // fall in both transactions' ranges: they are reported once, at the first commit.
  std::vector<Lsn> reported_versions_;
  std::vector<TableChange> unreported_;  // reused
};

}  // namespace sqltail::logreader
