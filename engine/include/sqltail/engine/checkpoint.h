// The capture checkpoint: written in the same Kafka transaction as the events it covers, on the
// compacted topic <prefix>.offsets in Kafka Connect's offset format (DESIGN.md "Checkpoints").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sqltail/engine/snapshot.h"
#include "sqltail/logreader/lsn.h"

namespace sqltail::engine {

struct Checkpoint {
  logreader::Lsn commit_lsn;  // commit LSN of the last emitted source transaction
  logreader::Lsn change_lsn;  // LSN of the last emitted change
  uint64_t event_serial_no = 0;
  logreader::Lsn restart_lsn;  // where a restart re-reads from: oldest open transaction's begin, or the position
  // The last LSN read when the checkpoint was taken: a transaction that began before restart_lsn
  // had ended there, so a restart skips its records up to it. JSON key "read_lsn"; a checkpoint
  // without it (written before it existed) parses with zero, and the commit LSN bounds the skip.
  logreader::Lsn read_lsn;
  // A source transaction larger than one Kafka transaction is emitted in chunks. After a chunk that
  // did not end it, split_events > 0 counts its events (changes, in log order) already emitted and
  // split_commit_lsn is its commit LSN; the fields above still describe the last transaction emitted
  // whole, and restart_lsn is at or before the split transaction's begin. JSON keys
  // "split_commit_lsn" and "split_events" appear only then (older checkpoints parse unchanged).
  logreader::Lsn split_commit_lsn;
  uint64_t split_events = 0;
  // Initial snapshot state (engine/snapshot.h): JSON keys "snapshot" and "snapshot_epochs" appear
  // only while a snapshot runs or its epochs still filter the stream.
  SnapshotCheckpoint snapshot;
};

// ["sqltail",{"server":"<prefix>","database":"<db>"}]
std::string CheckpointKey(std::string_view topic_prefix, std::string_view database);
std::string EncodeCheckpoint(const Checkpoint& checkpoint);
// Nullopt (and `error` set) when the value is not a checkpoint sqltail wrote.
std::optional<Checkpoint> ParseCheckpoint(std::string_view json, std::string& error);

}  // namespace sqltail::engine
