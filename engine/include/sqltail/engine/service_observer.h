// Hooks through which a daemon (systemd notify, watchdog, metrics) follows a capture or apply run.
// Every method is called from the run's own thread; the defaults do nothing, so a run without a
// service around it pays one virtual call per hook.
#pragma once

#include <cstdint>
#include <string_view>

#include "sqltail/logreader/lsn.h"

namespace sqltail::engine {

// The state of a run after one iteration of its main loop.
struct ProgressSnapshot {
  uint64_t log_rows = 0;                 // capture: fn_dblog rows read
  uint64_t source_transactions = 0;      // capture: committed source transactions emitted
  uint64_t events = 0;                   // change events produced (capture) or applied (apply)
  uint64_t kafka_transactions = 0;       // capture: committed Kafka transactions
  uint64_t target_transactions = 0;      // apply: committed target transactions
  uint64_t dead_lettered = 0;            // apply: bad events written to the dead-letter topic
  logreader::Lsn read_lsn;               // capture: the last LSN read
  logreader::Lsn committed_lsn;          // capture: commit LSN of the last checkpoint committed to Kafka
  logreader::Lsn restart_lsn;            // capture: where a restart begins reading
  uint64_t open_transactions = 0;        // capture: source transactions begun and not yet ended
  uint64_t buffered_bytes = 0;           // capture: bytes of changes held for open transactions
  int64_t last_commit_unix_ms = 0;       // source commit time of the last emitted transaction (0: none yet)
  bool caught_up = false;                // the last poll found nothing new
  uint64_t source_reconnects = 0;        // capture: connections to the source re-established
  uint64_t backup_log_rows = 0;          // capture: rows read from log backups (fn_dump_dblog)
  bool log_bounds_known = false;         // capture: the source reported its log bounds (sys.dm_db_log_stats)
  logreader::Lsn log_min_lsn;            // capture: the oldest LSN still in the active log
  logreader::Lsn log_end_lsn;            // capture: the last LSN written to the log
  uint64_t snapshot_rows = 0;            // capture: rows read by the initial snapshot in progress
  uint64_t snapshot_rows_estimated = 0;  // capture: its row estimate (sys.partitions); 0: no snapshot running
  // capture: what the log allowed (logreader::AssemblerStats, since the process started)
  uint64_t partial_updates = 0;             // update events without a base image of the row
  uint64_t unavailable_values = 0;          // columns emitted as unavailable (one per column per event)
  uint64_t changes_compensated = 0;         // changes cancelled by their CLRs (rollbacks to a savepoint)
  uint64_t rows_moved_by_page_splits = 0;   // captured rows a page split moved (not emitted)
  uint64_t schema_change_transactions = 0;  // committed transactions that changed a schema
  uint64_t transactions_spilled = 0;        // source transactions larger than the memory budget
  uint64_t bytes_spilled = 0;               // row bytes they wrote to spill files
};

class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;
  // Connected and initialised: the source is read, the producer or consumer is set up.
  virtual void OnReady() {}
  // One change event of `schema.table`; op is Debezium's "c", "u", "d" or "r".
  virtual void OnEvent(std::string_view /*schema*/, std::string_view /*table*/, std::string_view /*op*/) {}
  // An error that the run survived (a retried commit) or that ends it; kind is "kafka", "source" or "sink".
  virtual void OnError(std::string_view /*kind*/) {}
  // One iteration of the main loop finished: the loop is alive and has advanced.
  virtual void OnProgress(const ProgressSnapshot& /*snapshot*/) {}
  // Shutdown begins (stop requested or idle limit reached); the open transaction is finished next.
  virtual void OnStopping() {}
};

// The observer used when the caller passes none.
ServiceObserver& NoServiceObserver();

}  // namespace sqltail::engine
