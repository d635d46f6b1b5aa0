// The initial snapshot (docs/architecture.md "The initial snapshot"): the captured tables read at a
// known LSN under snapshot isolation, chunked by key, as `op: r` events in the capture's Kafka
// transactions, before the stream continues from that LSN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/logreader/lsn.h"
#include "sqltail/tds/connection.h"

namespace sqltail::engine {

enum class SnapshotMode {
  kInitial,     // snapshot when there is no checkpoint (Debezium's default)
  kNever,       // stream from the start of the log (or the checkpoint), never read the tables
  kWhenNeeded,  // as kInitial, and again when the log at the checkpoint is gone (neither active nor backed up)
};
// "initial", "never", "when_needed"; false if unknown.
bool ParseSnapshotMode(std::string_view text, SnapshotMode& out);

struct SnapshotOptions {
  // The struct's default is kNever so that in-process callers stream only; the configuration key
  // capture.snapshot_mode defaults to "initial".
  SnapshotMode mode = SnapshotMode::kNever;
  size_t chunk_rows = 10000;        // rows per SELECT and per Kafka transaction
  int max_establish_attempts = 10;  // commits in the window between the two end-of-log reads: retry
  // The second connection the snapshot reads through (the source's connection options).
  std::optional<tds::ConnectOptions> connection;
};

// How far a snapshot got at one snapshot LSN: every captured table ordered before `table` is read
// whole, and of `table` the rows whose key is <= `key` (none when `key` is empty). `table` empty:
// every table is read. Tables are ordered by "schema.table" (byte order).
struct SnapshotEpoch {
  logreader::Lsn lsn;        // the snapshot LSN L of this attempt
  std::string table;         // "schema.table"
  std::vector<int64_t> key;  // integer key values, in key order
};

// Checkpoint part of a snapshot. Epochs are appended when a crashed snapshot resumes at a new,
// later LSN; the stream then drops a change committed in (epoch[j].lsn, epoch[j+1].lsn] unless its
// row lies in epoch j's prefix (the later read already holds it).
struct SnapshotCheckpoint {
  bool running = false;               // the snapshot is not complete: a restart resumes it
  std::vector<SnapshotEpoch> epochs;  // empty: no snapshot state
};

}  // namespace sqltail::engine
