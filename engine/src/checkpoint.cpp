#include "sqltail/engine/checkpoint.h"

#include <simdjson.h>

#include "snapshot_checkpoint.h"
#include "sqltail/logreader/change_event.h"

namespace sqltail::engine {

std::string CheckpointKey(std::string_view topic_prefix, std::string_view database) {
  std::string key = "[\"sqltail\",{\"server\":";
  logreader::AppendJsonString(topic_prefix, key);
  key += ",\"database\":";
  logreader::AppendJsonString(database, key);
  key += "}]";
  return key;
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::string value = "{\"commit_lsn\":\"" + c.commit_lsn.ToString() + "\",\"change_lsn\":\"" +
                      c.change_lsn.ToString() + "\",\"event_serial_no\":" + std::to_string(c.event_serial_no) +
                      ",\"restart_lsn\":\"" + c.restart_lsn.ToString() + "\"";
  if (!c.read_lsn.IsZero()) value += ",\"read_lsn\":\"" + c.read_lsn.ToString() + "\"";
  if (c.split_events > 0) {
    value += ",\"split_commit_lsn\":\"" + c.split_commit_lsn.ToString() +
             "\",\"split_events\":" + std::to_string(c.split_events);
  }
  AppendSnapshotCheckpoint(c.snapshot, value);
  value += "}";
  return value;
}

std::optional<Checkpoint> ParseCheckpoint(std::string_view json, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) {
    error = "checkpoint is not JSON: " + std::string(json.substr(0, 200));
    return std::nullopt;
  }
  Checkpoint c;
  auto lsn_field = [&](const char* name, logreader::Lsn& out) {
    std::string_view text;
    if (root[name].get(text)) return false;
    auto lsn = logreader::Lsn::Parse(text);
    if (!lsn) return false;
    out = *lsn;
    return true;
  };
  uint64_t serial = 0;
  if (!lsn_field("commit_lsn", c.commit_lsn) || !lsn_field("change_lsn", c.change_lsn) ||
      !lsn_field("restart_lsn", c.restart_lsn) || root["event_serial_no"].get(serial)) {
    error =
        "checkpoint lacks commit_lsn, change_lsn, event_serial_no or restart_lsn: " + std::string(json.substr(0, 200));
    return std::nullopt;
  }
  c.event_serial_no = serial;
  if (root["read_lsn"].error() != simdjson::NO_SUCH_FIELD && !lsn_field("read_lsn", c.read_lsn)) {
    error = "checkpoint has an invalid read_lsn: " + std::string(json.substr(0, 200));
    return std::nullopt;
  }
  // Optional: present only while a split source transaction is partly emitted.
  uint64_t split_events = 0;
  auto split_error = root["split_events"].get(split_events);
  if (split_error != simdjson::NO_SUCH_FIELD) {
    if (split_error || split_events == 0 || !lsn_field("split_commit_lsn", c.split_commit_lsn) ||
        c.split_commit_lsn <= c.commit_lsn) {
      error = "checkpoint has an invalid split_events/split_commit_lsn pair: " + std::string(json.substr(0, 200));
      return std::nullopt;
    }
    c.split_events = split_events;
  }
  if (!ParseSnapshotCheckpoint(root, c.snapshot, error)) return std::nullopt;
  return c;
}

}  // namespace sqltail::engine
