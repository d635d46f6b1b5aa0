// The applier: consumes change events (read_committed) and writes them into a target database,
// storing its Kafka progress in the same target transaction, so a crash loses and doubles nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sqltail/engine/service_observer.h"
#include "sqltail/kafka/config.h"
#include "sqltail/tds/connection.h"

namespace sqltail::engine {

struct ApplyOptions {
  kafka::Config kafka;
  std::vector<std::string> topics;  // the change-event topics to apply
  // "transactional": this instance reads every partition (manual assignment) and applies whole
  // source transactions in commit order. "parallel": the instances of consumer group `group_id`
  // share the partitions; order holds per partition (so per key), progress is per partition.
  std::string mode = "transactional";
  std::string group_id;
  std::string target_kind = "sqlite";          // "sqlite" (the embedded default), "postgresql" or "sqlserver"
  std::string sqlite_path;                     // sqlite: the database file
  std::vector<std::string> postgres_conninfo;  // postgresql: libpq connection strings, merged (later wins)
  std::string postgres_schema = "public";      // postgresql, sqlserver: schema of the tables and sqltail_progress
  tds::ConnectOptions sqlserver;               // sqlserver: the login (FreeTDS db-lib)
  std::string table_name_format = "${table}";  // target table name; ${schema}, ${table}, ${db} are replaced
  size_t batch_max_events = 20000;             // commit the target transaction after this many events...
  int batch_max_ms = 200;                      // ...or this long, at the next source-transaction boundary
  int stop_when_idle_ms = 0;                   // > 0: exit cleanly after this long without new events
  int64_t max_events_per_second = 0;           // > 0: read no faster (headroom for a busy target)
  // Source commit order across topics and partitions from Debezium's transaction metadata topic:
  // "auto" = <prefix>.transaction of the topics' common prefix when that topic exists; "none" = off
  // (each partition applied as it arrives); or the topic's name.
  std::string transaction_topic = "auto";
  size_t max_buffered_events = 1000000;  // events held for commit order before giving up (an error)

  // A bad event (unparsable, schema mismatch, constraint violation): "fail" stops naming it;
  // "dead-letter" writes it with the reason to dead_letter_topic and goes on.
  std::string on_error = "fail";
  std::string dead_letter_topic;
  // Routing like Kafka Connect's RegexRouter: a topic that matches route_regex entirely goes to the
  // table route_replacement ($1... are the groups); other topics use table_name_format.
  std::string route_regex, route_replacement;
  // Like ReplaceField: event field -> target column renames, and the fields kept (include, empty:
  // all) or left out (exclude); include/exclude name event fields, before renaming.
  std::vector<std::pair<std::string, std::string>> field_renames;
  std::vector<std::string> field_include, field_exclude;
  // Schema evolution, as Debezium's JDBC sink's schema.evolution (docs/operator-guide.md "Schema
  // evolution"): "basic" creates the tables and adds the columns (nullable) that schema change
  // events and change events describe and the target lacks, never dropping or changing one;
  // "none" leaves the target's structure alone (a table the target lacks is still created).
  std::string schema_evolution = "basic";
  // The capture's schema change topic, read with schema_evolution = basic: "auto" = the <prefix>
  // that the topics <prefix>.<db>.<schema>.<table> share, when that topic exists; "none"; or its name
  // (which is then also the prefix of the data topics its tables have).
  std::string schema_change_topic = "auto";
  // The capture's type mapping (its capture.time_precision_mode, decimal_handling_mode,
  // binary_handling_mode), by which the columns of schema change events are typed as its change
  // events type them.
  std::string time_precision_mode = "adaptive", decimal_handling_mode = "precise", binary_handling_mode = "bytes";
};

struct ApplyStats {
  uint64_t events = 0;
  uint64_t upserts = 0;
  uint64_t deletes = 0;
  uint64_t truncates = 0;
  uint64_t dead_lettered = 0;   // bad events written to the dead-letter topic
  uint64_t schema_changes = 0;  // schema change events read (not counted in `events`)
  uint64_t target_transactions = 0;
};

bool RunApply(const ApplyOptions& options, const std::atomic<bool>& stop, ApplyStats& stats, std::string& error,
              const std::function<void(const std::string&)>& log = {}, ServiceObserver& observer = NoServiceObserver());

}  // namespace sqltail::engine
