// Internal: the snapshot's checkpoint JSON, the snapshot phase of RunCapture and the stream filter
// that keeps a resumed snapshot exactly-once (engine/snapshot.h).
#pragma once

#include <simdjson.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sqltail/engine/capture.h"
#include "sqltail/engine/checkpoint.h"
#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/engine/snapshot.h"
#include "sqltail/kafka/transactional_producer.h"
#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/record_decoder.h"

namespace sqltail::engine {

// ,"snapshot":true|false,"snapshot_epochs":[{"lsn":"…","table":"dbo.t","key":[5]}] (nothing when empty).
void AppendSnapshotCheckpoint(const SnapshotCheckpoint& snapshot, std::string& out);
// Absent keys leave `out` empty; malformed ones are an error.
bool ParseSnapshotCheckpoint(simdjson::dom::element root, SnapshotCheckpoint& out, std::string& error);

// Runs or resumes the initial snapshot when the mode and the checkpoint call for it; `committed`
// follows every committed chunk. True when done, not needed, or stopped by `stop` (then
// committed.snapshot.running is still true and the caller must not stream). On failure `abortable`
// says whether the Kafka error was abortable: the caller may then replace the producer and call
// again, which resumes after the last committed chunk.
bool RunSnapshotPhase(const CaptureOptions& options, const logreader::Catalog& catalog, DebeziumEncoder& encoder,
                      kafka::TransactionalProducer& producer, const std::string& offsets_topic,
                      const std::string& checkpoint_key, bool have_checkpoint, const std::atomic<bool>& stop,
                      ServiceObserver& observer, const std::function<void(const std::string&)>& info,
                      CaptureStats& stats, Checkpoint& committed, std::string& error, bool& abortable);

// Produces a CREATE schema change event (docs/events.md "Schema changes") for each table of
// `catalog` (once per object, by name) into the open Kafka transaction of `producer`. False with
// `error` (and `abortable`, as for RunSnapshotPhase) when a produce fails.
bool ProduceSchemaCreates(const logreader::Catalog& catalog, DebeziumEncoder& encoder,
                          kafka::TransactionalProducer& producer, std::optional<logreader::Lsn> commit_lsn,
                          std::string_view snapshot, int64_t ts_ns, CaptureStats& stats, std::string& error,
                          bool& abortable);

// After a snapshot resumed at a later LSN: which changes of a committed transaction the stream
// still emits. Inactive (keeps everything) once the commit LSN passes the last epoch.
class SnapshotStreamFilter {
 public:
  SnapshotStreamFilter(const SnapshotCheckpoint& snapshot, const logreader::Catalog& catalog);
  // Decides for every change of `txn`; false with `error` when a key cannot be decoded.
  bool Prepare(const logreader::CommittedTransaction& txn, std::string& error);
  bool Keep(size_t change_index) const { return keep_.empty() || keep_[change_index] != 0; }
  // Index of the last kept change (== changes.size() when none is kept).
  size_t LastKept(size_t change_count) const;
  // Drops the epochs from `next` once its commit LSN has passed them.
  static void ClearPassed(Checkpoint& next);

 private:
  std::vector<SnapshotEpoch> epochs_;
  std::vector<char> keep_;  // per change of the prepared transaction; empty: all kept
  logreader::DecodedRecord decoded_;
  std::vector<int64_t> key_;
};

}  // namespace sqltail::engine
