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

namespace sqltail::engine {

struct ApplyOptions {
  kafka::Config kafka;
  std::vector<std::string> topics;             // the change-event topics to apply
  std::string target_kind = "sqlite";          // "sqlite" (the embedded default) or "postgresql"
  std::string sqlite_path;                     // sqlite: the database file
  std::vector<std::string> postgres_conninfo;  // postgresql: libpq connection strings, merged (later wins)
  std::string postgres_schema = "public";      // postgresql: schema of the tables and sqltail_progress
  std::string table_name_format = "${table}";  // target table name; ${schema}, ${table}, ${db} are replaced
  size_t batch_max_events = 20000;             // commit the target transaction after this many events...
  int batch_max_ms = 200;                      // ...or this long, at the next source-transaction boundary
  int stop_when_idle_ms = 0;                   // > 0: exit cleanly after this long without new events
};

struct ApplyStats {
  uint64_t events = 0;
  uint64_t upserts = 0;
  uint64_t deletes = 0;
  uint64_t target_transactions = 0;
};

bool RunApply(const ApplyOptions& options, const std::atomic<bool>& stop, ApplyStats& stats, std::string& error,
              const std::function<void(const std::string&)>& log = {}, ServiceObserver& observer = NoServiceObserver());

}  // namespace sqltail::engine
