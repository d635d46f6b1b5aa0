// The live log source: the catalog query and fn_dblog over a TDS connection (FreeTDS db-lib), with
// reconnection, the log bounds of sys.dm_db_log_stats, and log backups (fn_dump_dblog) for the part of
// the log that is no longer active.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sqltail/logreader/log_source.h"
#include "sqltail/tds/connection.h"

namespace sqltail::logreader {

// The catalog query (docs/fixture-format.md "The catalog query").
extern const char* const kCatalogQuery;
// The log bounds: log_min_lsn and log_end_lsn of sys.dm_db_log_stats(DB_ID()).
extern const char* const kLogStatsQuery;
// The allocation units of the system base tables whose changes mark a schema change (table_name,
// allocation_unit_id).
extern const char* const kSystemAllocationUnitsQuery;

struct LiveSourceOptions {
  // After a dropped connection or a timeout: reconnect for up to this long (0: fail at once), waiting
  // reconnect_initial_ms, then doubling up to reconnect_backoff_max_ms between attempts.
  int reconnect_max_s = 300;
  int reconnect_initial_ms = 200;
  int reconnect_backoff_max_ms = 10'000;
  // sys.dm_db_log_stats is asked at most this often (and after each reconnect).
  int log_stats_interval_ms = 5'000;
  // A position older than the active log is read from msdb's log backups; false: stop with an error.
  bool read_log_backups = true;
  // Polled while waiting to reconnect; true gives up.
  std::function<bool()> should_stop;
  // One line per reconnect, switch between a backup and the active log, and unavailable statistic.
  std::function<void(const std::string&)> log;
};

// One log backup set (msdb.dbo.backupset type 'L'): it holds the records first_lsn <= LSN < last_lsn,
// in `files` (one per media family, in family order).
struct LogBackup {
  Lsn first_lsn;
  Lsn last_lsn;
  int position = 1;  // backupset.position: the backup set's number on its media
  std::vector<std::string> files;
};

// Builds the fn_dblog batch: TOP (max_rows) of the reader's columns from `from` (NULL when zero).
std::string FnDblogQuery(Lsn from, size_t max_rows);
// The same columns from a disk backup: fn_dump_dblog(from, NULL, N'DISK', position, file1, ..., file64).
std::string FnDumpDblogQuery(Lsn from, size_t max_rows, const LogBackup& backup);
// The log backups of `database` that end after `after` (msdb.dbo.backupset + backupmediafamily).
std::string LogBackupsQuery(const std::string& database, Lsn after);

// capture.log_safeguard = open_transaction: the batches the holder sends (tds-replay answers them).
// CREATE TABLE when missing; the check that accelerated database recovery is off (one row, adr_on);
// BEGIN TRANSACTION + UPDATE/INSERT of the slot's row + the begin LSN (one row: begin_lsn as
// nvarchar, trancount); SELECT @@TRANCOUNT; COMMIT.
std::string SafeguardCreateBatch(const LogHoldOptions& options);
extern const char* const kSafeguardAdrQuery;
std::string SafeguardHoldBatch(const LogHoldOptions& options, int slot);
extern const char* const kSafeguardCheckQuery;
extern const char* const kSafeguardReleaseBatch;
// A holder on connections of its own (opened on first use) to the server of `connect`.
std::unique_ptr<LogHolder> OpenLiveHolder(const tds::ConnectOptions& connect, const LogHoldOptions& options,
                                          std::function<void(const std::string&)> log);

// Connects (throws tds::TdsException with a one-line message on failure).
std::unique_ptr<LogSource> OpenLiveSource(const tds::ConnectOptions& options, LiveSourceOptions live = {});
// Reads only the given disk backup file(s) with fn_dump_dblog (logreader-dump --backup); the catalog
// comes from the connected database.
std::unique_ptr<LogSource> OpenBackupFileSource(const tds::ConnectOptions& options, LogBackup backup,
                                                LiveSourceOptions live = {});

}  // namespace sqltail::logreader
