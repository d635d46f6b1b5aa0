#include "sqltail/logreader/log_reader.h"

#include <algorithm>

namespace sqltail::logreader {

LogReader::LogReader(LogSource& source, Catalog& catalog, TransactionAssembler::CommitHandler on_commit,
                     UpdateResolverLimits image_cache)
    : source_(source),
      catalog_(catalog),
      assembler_(
          catalog,
          [this, handler = std::move(on_commit)](const CommittedTransaction& txn, std::string& error) {
            if (txn.commit_lsn <= emitted_through_) return true;  // emitted before the checkpoint
            return handler(txn, error);
          },
          image_cache) {
  assembler_.SetCatalogRefresh(
      [this](const SchemaChangeCommit& commit, std::string& error) { return RefreshCatalog(commit, error); });
  assembler_.SetSchemaChangeHandler([this](const SchemaChangeCommit& commit, std::string& error) {
    // Versions of a commit emitted before the checkpoint count as reported too: a later commit
    // whose range holds them (interleaved DDL) must not report them again after a restart.
    unreported_.clear();
    for (const TableChange& change : catalog_.ChangesIn(commit.first_ddl_lsn, commit.commit_lsn))
      if (!std::binary_search(reported_versions_.begin(), reported_versions_.end(), change.lsn))
        unreported_.push_back(change);
    for (const TableChange& change : unreported_) {
      auto at = std::lower_bound(reported_versions_.begin(), reported_versions_.end(), change.lsn);
      if (at == reported_versions_.end() || *at != change.lsn) reported_versions_.insert(at, change.lsn);
    }
    if (commit.commit_lsn <= emitted_through_ || !on_schema_change_) return true;
    return on_schema_change_(commit, unreported_, error);
  });
}

bool LogReader::RefreshCatalog(const SchemaChangeCommit& commit, std::string& error) {
  // A catalog that knows versions from here on (a fixture's, or the schema history's after a
  // restart) is not read again: the source's catalog now is later than this commit.
  if (!catalog_.HasVersionIn(commit.first_ddl_lsn, commit.commit_lsn) &&
      catalog_.NewestVersionLsn() < commit.first_ddl_lsn) {
    // The catalog as it is now, from the first DDL record on. A later schema change of the same
    // table that committed before this read is then already in it (docs/operator-guide.md).
    Catalog fresh;
    if (!source_.ReadCatalog(fresh, error)) {
      error = "re-reading the catalog after the schema change committed at " + commit.commit_lsn.ToString() + " (" +
              std::string(commit.reason) + "): " + error;
      return false;
    }
    ++catalog_reads_;
    catalog_.Update(std::move(fresh), commit.first_ddl_lsn);
  }
  return true;
}

void LogReader::Resume(Lsn restart_lsn, Lsn emitted_through, Lsn read_through) {
  read_from_ = restart_lsn;
  emitted_through_ = emitted_through;
  read_through_ = std::max(read_through, emitted_through);
  assembler_.SkipUnknownThrough(read_through_);
  last_seen_ = Lsn();
  have_seen_ = false;
}

Lsn LogReader::RestartLsn() const {
  auto oldest = assembler_.OldestOpenBegin(ignored_begins_);
  if (oldest) return *oldest;
  return have_seen_ ? last_seen_ : read_from_;
}

bool LogReader::Poll(size_t max_rows, size_t& rows, std::string& error) {
  rows = 0;
  size_t delivered = 0;
  // The start bound is inclusive and always an LSN already seen (or the configured start), so the
  // first row of every batch after the first is the last one of the previous batch: skip it. One
  // extra row is asked for to make up for it.
  bool ok = source_.ReadLog(
      have_seen_ ? last_seen_ : read_from_, max_rows + (have_seen_ ? 1 : 0),
      [&](const LogRow& row, std::string& row_error) {
        if (have_seen_ && row.current_lsn <= last_seen_) return true;
        if (row.log_record_length >= 0 && static_cast<size_t>(row.log_record_length) != row.log_record.size()) {
          row_error = "log record " + row.current_lsn.ToString() + ": [Log Record] has " +
                      std::to_string(row.log_record.size()) + " bytes but [Log Record Length] says " +
                      std::to_string(row.log_record_length) + " (fn_dblog truncates records past 8,000 bytes)";
          return false;
        }
        std::string parse_error;
        if (!ParseLogRecord(row.log_record, record_, parse_error)) {
          row_error = "log record " + row.current_lsn.ToString() + ": " + parse_error;
          return false;
        }
        // The position moves before the commit handler runs, so a checkpoint taken inside it
        // restarts at this row (a commit whose transaction is then unknown, and so skipped).
        last_seen_ = row.current_lsn;
        have_seen_ = true;
        ++rows;
        if (!assembler_.Add(row.current_lsn, record_, row_error)) return false;
        return true;
      },
      delivered, error);
  return ok;
}

}  // namespace sqltail::logreader
