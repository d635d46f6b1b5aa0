// The capture checkpoint: written in the same Kafka transaction as the events it covers, on the
// compacted topic <prefix>.offsets in Kafka Connect's offset format (DESIGN.md "Checkpoints").
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sqltail/logreader/lsn.h"

namespace sqltail::engine {

struct Checkpoint {
  logreader::Lsn commit_lsn;  // commit LSN of the last emitted source transaction
  logreader::Lsn change_lsn;  // LSN of the last emitted change
  uint64_t event_serial_no = 0;
  logreader::Lsn restart_lsn;  // where a restart re-reads from: oldest open transaction's begin, or the position
};

// ["sqltail",{"server":"<prefix>","database":"<db>"}]
std::string CheckpointKey(std::string_view topic_prefix, std::string_view database);
std::string EncodeCheckpoint(const Checkpoint& checkpoint);
// Nullopt (and `error` set) when the value is not a checkpoint sqltail wrote.
std::optional<Checkpoint> ParseCheckpoint(std::string_view json, std::string& error);

}  // namespace sqltail::engine
