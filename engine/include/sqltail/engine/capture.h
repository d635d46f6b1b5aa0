// The capture pipeline: log source -> committed transactions -> Debezium events -> Kafka
// transactions, each holding whole source transactions plus the checkpoint that covers them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/engine/service_observer.h"
#include "sqltail/engine/snapshot.h"
#include "sqltail/kafka/config.h"
#include "sqltail/logreader/log_source.h"
#include "sqltail/logreader/update_resolver.h"

namespace sqltail::engine {

// Who lets the log be truncated behind the capture (capture.log_safeguard).
enum class LogSafeguard {
  kNone,      // someone else: a Log Reader Agent, the CDC capture job, or no publication at all
  kRepldone,  // sqltail, exclusively: sp_repldone up to the last transaction of a durable checkpoint
  // sqltail holds a transaction open (on connections of its own) that began at or before the durable
  // restart LSN, rolled forward behind it (engine/src/open_transaction_safeguard.h)
  kOpenTransaction,
};

struct CaptureOptions {
  std::string topic_prefix = "sqltail";
  std::string database;  // source database (topic names, checkpoint key)
  std::vector<std::string> table_include, table_exclude;
  size_t poll_batch_rows = 50000;  // TOP (n) of each fn_dblog query
  int poll_idle_max_ms = 1000;     // idle backoff cap
  int stop_when_idle_ms = 0;       // > 0: exit cleanly after this long without new log rows
  kafka::Config kafka;
  std::string transactional_id;   // default "<prefix>-<database>-capture"
  size_t txn_max_events = 20000;  // commit the Kafka transaction after this many events...
  int txn_max_ms = 500;           // ...or this long after its first event
  // A source transaction is split across Kafka transactions so that none holds more than this many
  // events (0: never split); the checkpoint then records the position inside it.
  size_t max_events_per_source_txn_chunk = 100000;
  int topic_partitions = 1;
  int topic_replication_factor = -1;  // -1: broker default
  int kafka_timeout_ms = 60000;       // Kafka calls (init, topic creation, commit) give up after this
  bool tombstones_on_delete = true;
  bool schemas_enable = true;
  // BEGIN/END events on <prefix>.transaction. On by default (Debezium's default is off): sqltail apply
  // takes source commit order across topics from them.
  bool provide_transaction_metadata = true;
  bool include_schema_changes = true;  // CREATE/ALTER/DROP events on the topic <prefix> (docs/events.md)
  TimePrecisionMode time_precision_mode = TimePrecisionMode::kAdaptive;
  DecimalHandlingMode decimal_handling_mode = DecimalHandlingMode::kPrecise;
  BinaryHandlingMode binary_handling_mode = BinaryHandlingMode::kBytes;
  bool off_row_values_unavailable = false;  // capture.off_row_values (EncoderOptions)
  SnapshotOptions snapshot;                 // the initial snapshot (engine/snapshot.h)
  // Open source transactions may buffer this many bytes in memory; past it the largest goes to a
  // temporary file in spill_dir and is handed over in parts at its commit (0: never spill).
  size_t txn_memory_budget_mb = 256;
  // The update resolver's cache of the last image of each row, which makes complete update events
  // (capture.image_cache_rows, capture.image_cache_mb).
  logreader::UpdateResolverLimits image_cache;
  std::string spill_dir;  // empty: the system temporary directory
  LogSafeguard log_safeguard = LogSafeguard::kNone;
  int safeguard_interval_ms = 10000;  // kRepldone: mark at most this often; kOpenTransaction: check and roll forward
  // kOpenTransaction: the safeguard table (schema, table); its rows are keyed by topic_prefix. The
  // table is never captured (config.cpp adds it to table_exclude).
  std::string safeguard_schema = "dbo";
  std::string safeguard_table = "sqltail_truncation_safeguard";
};

struct CaptureStats {
  uint64_t log_rows = 0;
  uint64_t transactions = 0;
  uint64_t events = 0;
  uint64_t kafka_transactions = 0;
  uint64_t rewinds = 0;             // abortable Kafka errors: transaction aborted, log re-read from the last checkpoint
  uint64_t safeguard_marks = 0;     // sp_repldone calls the server accepted
  uint64_t safeguard_failures = 0;  // ... and refused (logged each time; no truncation past the last mark);
                                    // kOpenTransaction: every failed or lost hold, release or check
  uint64_t safeguard_holds = 0;     // kOpenTransaction: transactions held open
  uint64_t safeguard_releases = 0;  // ... and committed (rolled forward, or at stop)
  uint64_t safeguard_reconnects = 0;  // ... holder connections re-established after a loss
  uint64_t schema_changes = 0;        // schema change events produced (include_schema_changes)
  uint64_t partial_updates = 0;       // update events without a base image (sqltail.unavailable)
  uint64_t unavailable_values = 0;    // columns emitted as unavailable, one per column per event
};

// Runs until `stop` is set, the log stays idle for stop_when_idle_ms, or an error. An abortable Kafka
// error aborts the Kafka transaction and re-reads the log from the last committed checkpoint in
// process (with a growing pause; after 10 in a row without a commit it gives up). Returns false and
// sets `error` (one line naming what and where) on failure, including fatal and fenced Kafka errors;
// the last committed checkpoint is then where a restart resumes, so nothing is lost or doubled.
bool RunCapture(const CaptureOptions& options, logreader::LogSource& source, const std::atomic<bool>& stop,
                CaptureStats& stats, std::string& error, const std::function<void(const std::string&)>& log = {},
                ServiceObserver& observer = NoServiceObserver());

}  // namespace sqltail::engine
