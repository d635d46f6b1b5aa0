#include "sqltail/engine/capture.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <span>
#include <thread>

#include "open_transaction_safeguard.h"
#include "snapshot_checkpoint.h"
#include "sqltail/engine/checkpoint.h"
#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/kafka/admin.h"
#include "sqltail/kafka/consumer.h"
#include "sqltail/kafka/transactional_producer.h"
#include "sqltail/logreader/log_reader.h"

namespace sqltail::engine {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Header on the last event of each source transaction: the applier commits only at these
// boundaries, so a target transaction never holds part of a source transaction.
constexpr std::string_view kTxnEndHeader = "sqltail.txn.end";
// "<commit LSN> <total_order>" on every event of a streamed source transaction (docs/events.md).
constexpr std::string_view kTxnHeader = "sqltail.txn";
// Header naming the columns of an update that the log does not determine (docs/events.md).
constexpr std::string_view kUnavailableHeader = "sqltail.unavailable";

// Spill files are created only when a transaction passes the budget, possibly hours into a run:
// find out now whether the directory takes them.
bool CheckSpillDirectory(const std::string& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::path path = dir.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(dir);
  if (path.empty()) path = "/tmp";
  std::string probe = (path / "sqltail-txn-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    error = "capture: capture.spill_dir: cannot create a spill file in " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  ::unlink(probe.c_str());
  ::close(fd);
  return true;
}

}  // namespace

namespace {

// One run; `force_snapshot` takes a new snapshot whatever the checkpoint says. `position_lost` is
// set when the run failed because the log at its position is gone (LogSource::Health).
bool RunCaptureOnce(const CaptureOptions& options, logreader::LogSource& source, const std::atomic<bool>& stop,
                    CaptureStats& stats, std::string& error, const std::function<void(const std::string&)>& log,
                    ServiceObserver& observer, bool force_snapshot, bool& position_lost) {
  const std::chrono::milliseconds kKafkaTimeout(options.kafka_timeout_ms);
  auto info = [&](const std::string& message) {
    if (log) log(message);
  };

  logreader::Catalog catalog;
  if (!source.ReadCatalog(catalog, error)) return false;
  std::string database = options.database.empty() ? catalog.database : options.database;
  catalog.Filter(options.table_include, options.table_exclude);
  if (catalog.system_allocation_units().empty())
    info("warning: the system tables that mark a schema change are not known (" +
         (catalog.system_allocation_units_error.empty() ? std::string("the source does not list them")
                                                        : catalog.system_allocation_units_error) +
         "): only transactions named ALTER TABLE, CREATE TABLE or DROPOBJ are taken as schema changes "
         "(docs/operator-guide.md \"Schema changes in the log\")");
  if (catalog.tables().empty()) {
    error = "capture: no table of database '" + database + "' matches table.include/table.exclude";
    return false;
  }

  EncoderOptions encoder_options;
  encoder_options.topic_prefix = options.topic_prefix;
  encoder_options.database = database;
  encoder_options.schemas_enable = options.schemas_enable;
  encoder_options.time_precision_mode = options.time_precision_mode;
  encoder_options.decimal_handling_mode = options.decimal_handling_mode;
  encoder_options.binary_handling_mode = options.binary_handling_mode;
  encoder_options.off_row_values_unavailable = options.off_row_values_unavailable;
  DebeziumEncoder encoder(encoder_options);

  const std::string offsets_topic = options.topic_prefix + ".offsets";
  const std::string history_topic = options.topic_prefix + ".schema-history";
  const std::string checkpoint_key = CheckpointKey(options.topic_prefix, database);
  std::string transactional_id =
      options.transactional_id.empty() ? options.topic_prefix + "-" + database + "-capture" : options.transactional_id;

  std::vector<kafka::TopicSpec> topics;
  topics.push_back({offsets_topic, 1, options.topic_replication_factor, {{"cleanup.policy", "compact"}}});
  // Kept for ever (as Debezium's schema history topic): a restart replays it from the beginning.
  topics.push_back({history_topic,
                    1,
                    options.topic_replication_factor,
                    {{"cleanup.policy", "delete"}, {"retention.ms", "-1"}, {"retention.bytes", "-1"}}});
  for (const auto& table : catalog.tables()) {
    topics.push_back({encoder.TopicFor(*table), options.topic_partitions, options.topic_replication_factor, {}});
  }
  if (options.provide_transaction_metadata)
    topics.push_back({encoder.TransactionTopic(), 1, options.topic_replication_factor, {}});
  // One partition, as Debezium requires of its schema change topic: the changes stay in order.
  if (options.include_schema_changes)
    topics.push_back({encoder.SchemaChangeTopic(), 1, options.topic_replication_factor, {}});
  {
    kafka::Admin admin(options.kafka);
    if (auto e = admin.EnsureTopics(topics, kKafkaTimeout); !e.ok()) {
      error = "capture: " + e.ToString();
      return false;
    }
  }

  // Replaced after an abortable error (rewind): a new instance starts with clean idempotence state.
  auto producer = std::make_unique<kafka::TransactionalProducer>(options.kafka, transactional_id);
  // Abort what is open, then replace the producer: librdkafka 2.0.2's idempotent producer does not
  // recover a partition whose messages the broker rejected (the next transaction's messages to it
  // time out, and their abort, needing an epoch bump, never completes). The new instance's
  // InitTransactions also aborts the transaction on the broker if the abort here did not finish.
  auto replace_producer = [&](bool abort_open) -> bool {
    if (abort_open) {
      auto e = producer->AbortTransaction(std::min(kKafkaTimeout, std::chrono::milliseconds(10000)));
      if (e.Action() == kafka::ErrorAction::kFatal) {
        error = "capture: aborting the Kafka transaction: " + e.ToString();
        return false;
      }
    }
    producer.reset();
    producer = std::make_unique<kafka::TransactionalProducer>(options.kafka, transactional_id);
    // The broker may still be completing the abort (CONCURRENT_TRANSACTIONS, retriable).
    kafka::KafkaError init_error;
    for (int attempt = 0; attempt < 10; ++attempt) {
      init_error = producer->InitTransactions(kKafkaTimeout);
      if (init_error.Action() != kafka::ErrorAction::kRetry) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (!init_error.ok()) {
      error = "capture: re-initialising the transactional producer: " + init_error.ToString();
      return false;
    }
    return true;
  };
  constexpr int kMaxRewindsInRow = 10;
  // A condition that persists (a broker rejecting the messages) is retried more and more slowly.
  auto rewind_pause = [](int rewinds_in_row) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(rewinds_in_row, 6))));
  };
  // InitTransactions first: it aborts what a crashed predecessor left open, which would otherwise
  // hide the last checkpoint from the read_committed read below.
  if (auto e = producer->InitTransactions(kKafkaTimeout); !e.ok()) {
    error = "capture: " + e.ToString();
    return false;
  }
  auto stored = kafka::ReadLastValue(options.kafka, offsets_topic, checkpoint_key, kKafkaTimeout);
  if (!stored.ok()) {
    error = "capture: reading the checkpoint: " + stored.error().ToString();
    return false;
  }
  Checkpoint committed;  // the last checkpoint known to be committed in Kafka
  if (stored.value()) {
    auto parsed = ParseCheckpoint(*stored.value(), error);
    if (!parsed) {
      error = "capture: " + offsets_topic + ": " + error;
      return false;
    }
    committed = *parsed;
    // A forced snapshot (when_needed) does not resume there; the caller has said why already.
    if (!force_snapshot) {
      info("resuming after commit " + committed.commit_lsn.ToString() + " from restart LSN " +
           committed.restart_lsn.ToString());
    }
  } else {
    info("no checkpoint in " + offsets_topic + ": starting at the beginning of the log");
  }
  // The schema history: the catalog versions by LSN this capture has seen, so that a restart decodes
  // the records before a schema change with the layout before it (docs/events.md "The schema
  // history"). Without a checkpoint, or with a new snapshot, the catalog read now starts it afresh.
  logreader::Catalog startup_catalog;  // replaced by the history's; the encoder's cache points into it
  bool history_pending = true;         // the first version still to be written
  if (stored.value() && !force_snapshot) {
    auto history = kafka::ReadValues(options.kafka, history_topic, checkpoint_key, kKafkaTimeout);
    if (!history.ok()) {
      error = "capture: reading the schema history " + history_topic + ": " + history.error().ToString();
      return false;
    }
    if (!history.value().empty()) {
      auto rebuilt = logreader::Catalog::FromHistory(history.value(), catalog, error);
      if (!rebuilt) {
        error = "capture: " + history_topic + ": " + error;
        return false;
      }
      rebuilt->Filter(options.table_include, options.table_exclude);
      // Tables whose structure differs now: changed while the capture was stopped. The change is
      // applied where the log shows it (the catalog is read again at that commit).
      std::string changed;
      for (const logreader::CapturedTable* now : catalog.tables()) {
        const logreader::CapturedTable* known = rebuilt->FindByAllocationUnit(now->allocation_unit_id);
        if (known == nullptr || !known->SameStructure(*now))
          changed += (changed.empty() ? "" : ", ") + now->QualifiedName();
      }
      startup_catalog = std::move(catalog);
      catalog = std::move(*rebuilt);
      history_pending = false;
      info("schema history: " + std::to_string(history.value().size()) + " records, " +
           std::to_string(catalog.changes().size()) + " schema changes" +
           (changed.empty() ? std::string()
                            : "; changed since then (applied at their schema change in the log): " + changed));
    } else {
      info("schema history " + history_topic + " is empty: it starts with the catalog read now");
    }
  }
  // Taken now, before the log is read: a schema change before the first commit must not make it
  // into the first version. The generation tells a restart which first version is the latest.
  const std::vector<std::string> first_history =
      history_pending ? catalog.FirstHistoryRecords(std::to_string(NowUnixNanos())) : std::vector<std::string>();
  // capture.log_safeguard = open_transaction: the first transaction is held before the snapshot and
  // the stream, so the log from its begin on is kept from now.
  std::unique_ptr<logreader::LogHolder> holder;
  std::unique_ptr<OpenTransactionSafeguard> safeguard;
  if (options.log_safeguard == LogSafeguard::kOpenTransaction) {
    logreader::LogHoldOptions hold_options;
    hold_options.schema = options.safeguard_schema;
    hold_options.table = options.safeguard_table;
    hold_options.owner = options.topic_prefix;
    holder = source.OpenHolder(hold_options, error);
    if (!holder) {
      error = "capture.log_safeguard = open_transaction: " + error;
      return false;
    }
    safeguard = std::make_unique<OpenTransactionSafeguard>(
        *holder, options.safeguard_interval_ms, info, [&](const std::string& message) {
          ++stats.safeguard_failures;
          observer.OnError("safeguard");
          info("capture.log_safeguard = open_transaction: " + message);
        });
    safeguard->Tick(committed.restart_lsn, nullptr, true, Clock::now());
    if (safeguard->fatal()) {
      error = "capture: " + safeguard->fatal_error();
      return false;
    }
  }
  // The initial snapshot (snapshot.cpp), run or resumed before the stream when needed. An abortable
  // Kafka error resumes it after its last committed chunk, in process, as a restart would.
  for (int snapshot_rewinds = 0;; ++snapshot_rewinds) {
    bool abortable_snapshot_error = false;
    if (RunSnapshotPhase(options, catalog, encoder, *producer, offsets_topic, checkpoint_key,
                         stored.value().has_value() && !force_snapshot, stop, observer, info, stats, committed, error,
                         abortable_snapshot_error))
      break;
    if (!abortable_snapshot_error) return false;
    observer.OnError("kafka");
    if (snapshot_rewinds >= kMaxRewindsInRow) {
      error += " (" + std::to_string(kMaxRewindsInRow) + " aborted Kafka transactions in a row: giving up)";
      return false;
    }
    info(error + ": the Kafka transaction was aborted; resuming the snapshot after its last committed chunk");
    if (!replace_producer(false)) return false;  // the snapshot aborted its transaction
    ++stats.rewinds;
    rewind_pause(snapshot_rewinds + 1);
  }
  if (committed.snapshot.running) return true;  // stopped mid-snapshot: a restart resumes it
  SnapshotStreamFilter snapshot_filter(committed.snapshot, catalog);

  bool in_transaction = false;
  Clock::time_point transaction_started;
  size_t pending_events = 0;
  Checkpoint next = committed;
  std::unique_ptr<logreader::LogReader> reader;
  logreader::Lsn split_begin_lsn;  // begin LSN of the source transaction being split (next.split_events > 0)
  // The last source transaction emitted whole, as (begin, commit): for `next`, and for the
  // committed checkpoint (what sp_repldone may mark; unknown after a restart until one is emitted).
  struct Emitted {
    logreader::Lsn begin, commit;
    bool known = false;
  } next_emitted, committed_emitted;
  // Set when the failure being reported is abortable: the main loop then aborts and rewinds.
  bool abortable = false;
  int rewinds_in_row = 0;
  // Reports a failed Kafka call: sets `out` and notes whether the transaction can be aborted and re-run.
  auto kafka_failed = [&](const kafka::KafkaError& e, const std::string& what, std::string& out) {
    out = "capture: " + what + e.ToString();
    observer.OnError("kafka");
    abortable = e.Action() == kafka::ErrorAction::kAbortTransaction;
  };

  auto begin = [&]() -> bool {
    if (in_transaction) return true;
    if (auto e = producer->BeginTransaction(); !e.ok()) {
      error = "capture: " + e.ToString();
      return false;
    }
    in_transaction = true;
    transaction_started = Clock::now();
    return true;
  };
  // Schema history records into the open Kafka transaction (the first version, or a change's).
  auto produce_history = [&](const std::vector<std::string>& records, std::string& out_error) -> bool {
    for (const std::string& record : records) {
      if (auto e = producer->Produce(history_topic, 0, checkpoint_key, record); !e.ok()) {
        kafka_failed(e, "writing the schema history: ", out_error);
        return false;
      }
    }
    return true;
  };
  // Writes the checkpoint into the open transaction and commits it. Any failure ends the run: the
  // transaction is aborted and a restart resumes from the last committed checkpoint.
  auto commit = [&]() -> bool {
    // The first checkpoint carries the history's first version: both or neither are committed.
    if (history_pending && !produce_history(first_history, error)) return false;
    next.restart_lsn = reader->RestartLsn();
    next.read_lsn = reader->ReadThrough();
    // Inside a split transaction the assembler no longer holds it: re-read from its begin.
    if (next.split_events > 0 && split_begin_lsn < next.restart_lsn) next.restart_lsn = split_begin_lsn;
    std::string value = EncodeCheckpoint(next);
    if (auto e = producer->Produce(offsets_topic, 0, checkpoint_key, value); !e.ok()) {
      kafka_failed(e, "writing the checkpoint: ", error);
      return false;
    }
    kafka::KafkaError e;
    for (int attempt = 0; attempt < 5; ++attempt) {
      e = producer->CommitTransaction(kKafkaTimeout);
      if (e.ok() || e.Action() != kafka::ErrorAction::kRetry) break;
      observer.OnError("kafka");
    }
    if (!e.ok()) {
      // Abortable: the caller aborts and rewinds (the transaction stays open until then).
      kafka_failed(e, "committing the Kafka transaction: ", error);
      return false;
    }
    in_transaction = false;
    history_pending = false;
    committed = next;
    committed_emitted = next_emitted;
    pending_events = 0;
    rewinds_in_row = 0;
    ++stats.kafka_transactions;
    return true;
  };

  EncodedEvent event;
  int64_t last_commit_unix_ms = 0;  // source commit time of the last emitted transaction (metrics: lag)
  // Per-table event counters of the current transaction (data_collection_order); reused.
  // At the end of a transaction they are its per-table event counts (the END event's data_collections).
  std::vector<TableEventCount> table_order;
  auto next_table_order = [&](const logreader::CapturedTable* table) {
    for (auto& [t, n] : table_order)
      if (t == table) return ++n;
    table_order.push_back({table, 1});
    return uint64_t{1};
  };
  // One change event (and its tombstone) into the open Kafka transaction; `last` puts the end
  // marker on it (on the tombstone when there is one).
  auto produce_change = [&](const EncodedEvent& ev, const logreader::RowChange& change, bool last,
                            std::string& out_error) -> bool {
    const bool tombstone =
        change.op == logreader::ChangeOp::kDelete && options.tombstones_on_delete && !change.table->key_columns.empty();
    // sqltail.txn (commit order for the applier), sqltail.unavailable (columns the log does not
    // determine) when there are any, then the end marker on the transaction's last message.
    kafka::MessageHeader value_headers[3] = {
        {kTxnHeader, ev.txn_header}, {kUnavailableHeader, ev.unavailable}, {kTxnEndHeader, "1"}};
    kafka::MessageHeader tombstone_headers[2] = {{kTxnHeader, ev.txn_header}, {kTxnEndHeader, "1"}};
    size_t count = 0;
    kafka::MessageHeader chosen[3];
    if (!ev.txn_header.empty()) chosen[count++] = value_headers[0];
    if (!ev.unavailable.empty()) chosen[count++] = value_headers[1];
    if (last && !tombstone) chosen[count++] = value_headers[2];
    std::span<const kafka::MessageHeader> headers(chosen, count);
    std::optional<std::string_view> key;
    if (!ev.key.empty()) key = ev.key;
    // Events without a key (a table without a primary key) all go to partition 0, so that their
    // order is the table's order for every consumer; the partitioner would scatter them at random.
    const int32_t partition = key ? kafka::kUnassignedPartition : 0;
    if (auto e = producer->Produce(*ev.topic, partition, key, ev.value, headers); !e.ok()) {
      kafka_failed(e, "", out_error);
      return false;
    }
    ++pending_events;
    ++stats.events;
    const char op = static_cast<char>(change.op);
    observer.OnEvent(change.table->layout.schema, change.table->layout.table, std::string_view(&op, 1));
    if (tombstone) {
      const size_t first = ev.txn_header.empty() ? 1 : 0;
      headers = std::span<const kafka::MessageHeader>(tombstone_headers + first, (last ? 2 : 1) - first);
      if (auto e = producer->Produce(*ev.topic, kafka::kUnassignedPartition, key, std::nullopt, headers); !e.ok()) {
        kafka_failed(e, "", out_error);
        return false;
      }
    }
    return true;
  };
  // A transaction spilled to disk arrives in parts (CommittedTransaction::first_change/last_part).
  // Counters run across its parts, and the last event of a part that is not the last is held back:
  // only the next part tells whether it is the transaction's last event (the snapshot filter may
  // drop everything after it), which then carries the end marker.
  uint64_t order = 0;  // events of the current source transaction so far (total_order)
  struct HeldEvent {
    bool present = false;
    EncodedEvent event;
    logreader::RowChange change;  // only op and table are read
  } held;
  auto release_held = [&](bool last, std::string& out_error) -> bool {
    if (!held.present) return true;
    held.present = false;
    return produce_change(held.event, held.change, last, out_error);
  };
  auto on_commit = [&](const logreader::CommittedTransaction& txn, std::string& txn_error) -> bool {
    const size_t first = txn.first_change;  // number of txn.changes[0] in the whole transaction
    const size_t end_number = first + txn.changes.size();
    // Events of this transaction that a committed chunk already holds (split transaction).
    size_t skip = 0;
    if (next.split_events > 0) {
      if (txn.commit_lsn != next.split_commit_lsn || (txn.last_part && next.split_events >= end_number)) {
        txn_error = "capture: the checkpoint says " + std::to_string(next.split_events) +
                    " events of the transaction committed at " + next.split_commit_lsn.ToString() +
                    " were emitted, but the log yields the transaction committed at " + txn.commit_lsn.ToString() +
                    " with " + std::to_string(end_number) + " events next";
        return false;
      }
      skip = next.split_events;
    }
    if (!begin()) {
      txn_error = error;
      return false;
    }
    if (!snapshot_filter.Prepare(txn, txn_error)) return false;
    const size_t last_kept = snapshot_filter.LastKept(txn.changes.size());  // in this part
    int64_t now = NowUnixNanos();
    if (first == 0) {
      table_order.clear();
      order = 0;
      held.present = false;
    }
    if (options.provide_transaction_metadata && first == 0 && skip == 0) {
      // Transaction metadata goes into the same Kafka transaction as the data it describes.
      encoder.EncodeTransactionBegin(txn, event);
      if (auto e = producer->Produce(*event.topic, kafka::kUnassignedPartition, event.key, event.value); !e.ok()) {
        kafka_failed(e, "", txn_error);
        return false;
      }
    }
    for (size_t i = 0; i < txn.changes.size(); ++i) {
      const auto& change = txn.changes[i];
      const size_t number = first + i;
      if (!snapshot_filter.Keep(i)) continue;  // a later snapshot read holds it
      if (number < skip) {                     // emitted before: only the counters advance
        ++order;
        next_table_order(change.table);
        continue;
      }
      // An event follows the held one, so the held one is not the transaction's last.
      if (!release_held(false, txn_error)) return false;
      // A full Kafka transaction in the middle of a source transaction: commit what is emitted
      // with the position inside it, and go on in the next Kafka transaction.
      if (options.max_events_per_source_txn_chunk > 0 && number > 0 &&
          pending_events >= options.max_events_per_source_txn_chunk) {
        next.split_commit_lsn = txn.commit_lsn;
        next.split_events = number;
        split_begin_lsn = txn.begin_lsn;
        if (!commit() || !begin()) {
          txn_error = error;
          return false;
        }
        info("source transaction committed at " + txn.commit_lsn.ToString() + ": " + std::to_string(number) +
             (txn.last_part ? " of " + std::to_string(end_number) : std::string(" (spilled; total not known yet)")) +
             " events committed to Kafka");
      }
      if (!encoder.Encode(txn, change, ++order, next_table_order(change.table), now, event, txn_error)) return false;
      if (!txn.last_part && i == last_kept) {  // held back until the next part says whether it is the last
        std::swap(held.event, event);
        held.change.op = change.op;
        held.change.table = change.table;
        held.present = true;
        continue;
      }
      if (!produce_change(event, change, txn.last_part && i == last_kept, txn_error)) return false;
    }
    if (!txn.last_part) return true;
    // No event of the last part was kept: the held one is the transaction's last.
    if (!release_held(true, txn_error)) return false;
    if (options.provide_transaction_metadata) {
      encoder.EncodeTransactionEnd(txn, table_order, event);
      if (auto e = producer->Produce(*event.topic, kafka::kUnassignedPartition, event.key, event.value); !e.ok()) {
        kafka_failed(e, "", txn_error);
        return false;
      }
    }
    ++stats.transactions;
    if (first > 0) {
      const auto& assembled = reader->assembler().stats();
      info("source transaction committed at " + txn.commit_lsn.ToString() + ": " + std::to_string(end_number) +
           " changes were spilled to disk and handed over in parts (" + std::to_string(assembled.bytes_spilled >> 20) +
           " MB spilled so far)");
    }
    next.commit_lsn = txn.commit_lsn;
    next_emitted = {txn.begin_lsn, txn.commit_lsn, true};
    next.change_lsn = txn.changes.back().lsn;
    next.event_serial_no = 1;
    next.split_commit_lsn = logreader::Lsn();
    next.split_events = 0;
    SnapshotStreamFilter::ClearPassed(next);
    last_commit_unix_ms = DatetimeBytesToUnixNanos(txn.commit_time) / 1000000;
    // Whole source transactions only: this is a boundary, so the Kafka transaction may end here.
    if (pending_events >= options.txn_max_events && !commit()) {
      txn_error = error;
      return false;
    }
    return true;
  };

  if (options.txn_memory_budget_mb > 0 && !CheckSpillDirectory(options.spill_dir, error)) return false;
  // A schema change of captured tables (the reader has brought the catalog up to date): topics for
  // tables it made captured, and one event per table on the schema change topic, in the open Kafka
  // transaction before the transaction's own changes, so a consumer reads the new structure first.
  auto on_schema_change = [&](const logreader::SchemaChangeCommit& ddl, std::span<const logreader::TableChange> changes,
                              std::string& change_error) -> bool {
    if (changes.empty()) return true;
    std::vector<kafka::TopicSpec> new_topics;
    for (const auto& change : changes)
      if (change.kind != logreader::TableChangeKind::kDrop)
        new_topics.push_back(
            {encoder.TopicFor(*change.table), options.topic_partitions, options.topic_replication_factor, {}});
    if (!new_topics.empty()) {
      kafka::Admin admin(options.kafka);
      if (auto e = admin.EnsureTopics(new_topics, kKafkaTimeout); !e.ok()) {
        change_error =
            "capture: topics for the schema change committed at " + ddl.commit_lsn.ToString() + ": " + e.ToString();
        return false;
      }
    }
    std::string names;
    std::set<int64_t> described;  // one event per table, not per partition
    for (const auto& change : changes) {
      if (!described.insert(change.table->object_id).second) continue;
      names += (names.empty() ? "" : ", ") + std::string(logreader::TableChangeKindName(change.kind)) + " " +
               change.table->QualifiedName();
    }
    // A source transaction split across Kafka transactions is re-read from its begin after a
    // restart: its schema change went out with its first chunk.
    if (next.split_events > 0 && ddl.commit_lsn == next.split_commit_lsn) return true;
    info("schema change committed at " + ddl.commit_lsn.ToString() + " (" + std::string(ddl.reason) + "): " + names);
    if (!begin()) {
      change_error = error;
      return false;
    }
    if (!produce_history(catalog.HistoryRecords(changes), change_error)) return false;
    described.clear();
    const int64_t ts_ns = DatetimeBytesToUnixNanos(ddl.commit_time);
    for (const auto& change : changes) {
      if (!options.include_schema_changes) break;
      if (!described.insert(change.table->object_id).second) continue;
      encoder.EncodeSchemaChange(*change.table, logreader::TableChangeKindName(change.kind), ddl.commit_lsn, "false",
                                 ts_ns, event);
      if (auto e = producer->Produce(*event.topic, 0, event.key, event.value); !e.ok()) {
        kafka_failed(e, "schema change event for " + change.table->QualifiedName() + ": ", change_error);
        return false;
      }
      ++pending_events;
      ++stats.schema_changes;
    }
    // A schema change without captured changes is emitted by these records alone: the checkpoint
    // that commits them must say so, or a restart would write them again. (With changes, the commit
    // handler advances it after the last of them.)
    if (!ddl.has_changes) {
      next.commit_lsn = ddl.commit_lsn;
      next_emitted = {ddl.begin_lsn, ddl.commit_lsn, true};
    }
    return true;
  };

  // The reader, with spilling past the memory budget (capture.txn_memory_budget_mb).
  auto make_reader = [&]() {
    reader = std::make_unique<logreader::LogReader>(source, catalog, on_commit, options.image_cache);
    reader->SetSchemaChangeHandler(on_schema_change);
    logreader::SpillOptions spill;
    spill.memory_budget_bytes = options.txn_memory_budget_mb << 20;
    spill.dir = options.spill_dir;
    reader->SetSpill(std::move(spill));
    reader->Resume(committed.restart_lsn, committed.commit_lsn, committed.read_lsn);
    if (safeguard) reader->IgnoreTransactionsBegunAt(safeguard->IgnoredBegins());
  };
  make_reader();
  // Without a snapshot (snapshot_mode = never) the first start still describes the captured tables,
  // in a Kafka transaction of its own with the first checkpoint, so a restart does not repeat it.
  if (options.include_schema_changes && !stored.value().has_value() && !force_snapshot &&
      options.snapshot.mode == SnapshotMode::kNever) {
    // A failure ends the run (nothing is committed): a restart writes them again.
    bool schema_abortable = false;
    if (!begin()) return false;
    if (!ProduceSchemaCreates(catalog, encoder, *producer, std::nullopt, "true", NowUnixNanos(), stats, error,
                              schema_abortable)) {
      error = "capture: " + error;
      (void)producer->AbortTransaction(kKafkaTimeout);
      return false;
    }
    if (!commit()) return false;
    info("schema change events for " + std::to_string(stats.schema_changes) + " tables written to " +
         encoder.SchemaChangeTopic());
  }
  // After an abortable Kafka error: abort the Kafka transaction, drop what the reader assembled and
  // re-read the log from the last committed checkpoint, as a restart would, without restarting.
  auto rewind = [&]() -> bool {
    abortable = false;
    if (++rewinds_in_row > kMaxRewindsInRow) {
      error += " (" + std::to_string(kMaxRewindsInRow) + " aborted Kafka transactions in a row: giving up)";
      return false;
    }
    info(error + ": aborting the Kafka transaction and re-reading the log from restart LSN " +
         committed.restart_lsn.ToString());
    if (!replace_producer(in_transaction)) return false;
    in_transaction = false;
    pending_events = 0;
    next = committed;
    next_emitted = committed_emitted;
    held.present = false;
    make_reader();
    ++stats.rewinds;
    rewind_pause(rewinds_in_row);
    return true;
  };
  // capture.log_safeguard = repldone: between polls (never inside a result set of the log query),
  // mark the last transaction of the durable checkpoint as distributed, at most every interval.
  // A refusal does not stop the capture; it is logged and counted, as the log then grows.
  logreader::Lsn marked_commit;
  Clock::time_point last_mark_attempt;
  auto mark_captured = [&](bool force) {
    if (safeguard) {
      SafeguardLogView view;
      view.read_from = reader->ReadFrom();
      view.read_through = reader->ReadThrough();
      view.is_open = [&](logreader::Lsn begin, bool* has_changes) {
        return reader->assembler().IsOpen(begin, has_changes);
      };
      safeguard->Tick(committed.restart_lsn, &view, force, Clock::now());
      reader->IgnoreTransactionsBegunAt(safeguard->IgnoredBegins());
      stats.safeguard_holds = safeguard->counters().holds;
      stats.safeguard_releases = safeguard->counters().releases;
      stats.safeguard_reconnects = holder->Reconnects();
      return;
    }
    if (options.log_safeguard != LogSafeguard::kRepldone || !committed_emitted.known) return;
    if (committed_emitted.commit == marked_commit) return;
    const auto now = Clock::now();
    if (!force && now - last_mark_attempt < std::chrono::milliseconds(options.safeguard_interval_ms)) return;
    last_mark_attempt = now;
    std::string mark_error;
    if (source.MarkCaptured(committed_emitted.begin, committed_emitted.commit, mark_error)) {
      marked_commit = committed_emitted.commit;
      ++stats.safeguard_marks;
    } else {
      ++stats.safeguard_failures;
      observer.OnError("safeguard");
      info("capture.log_safeguard = repldone: " + mark_error + "; the log cannot be truncated past the last mark");
    }
  };
  observer.OnReady();
  ProgressSnapshot progress;

  auto idle_since = Clock::now();
  int backoff_ms = 1;
  while (!stop.load()) {
    size_t rows = 0;
    abortable = false;
    if (!reader->Poll(options.poll_batch_rows, rows, error)) {
      if (abortable) {
        if (!rewind()) return false;
        continue;
      }
      observer.OnError("source");
      if (in_transaction) (void)producer->AbortTransaction(kKafkaTimeout);
      position_lost = source.Health().position_lost;
      return false;
    }
    stats.log_rows += rows;
    auto now = Clock::now();
    bool due =
        in_transaction && (rows == 0 || now - transaction_started >= std::chrono::milliseconds(options.txn_max_ms));
    if (due && !commit()) {
      if (abortable && rewind()) continue;
      return false;
    }
    mark_captured(false);
    // The loop advanced: report it (this also feeds the systemd watchdog).
    progress.log_rows = stats.log_rows;
    progress.source_transactions = stats.transactions;
    progress.events = stats.events;
    progress.kafka_transactions = stats.kafka_transactions;
    progress.read_lsn = reader->position();
    progress.committed_lsn = committed.commit_lsn;
    progress.restart_lsn = committed.restart_lsn;
    progress.open_transactions = reader->assembler().open_transactions();
    progress.buffered_bytes = reader->assembler().buffered_bytes();
    const logreader::AssemblerStats& assembled = reader->assembler().stats();
    progress.partial_updates = assembled.partial_updates_emitted;
    progress.unavailable_values = assembled.unavailable_values + encoder.off_row_values_unavailable();
    stats.partial_updates = progress.partial_updates;
    stats.unavailable_values = progress.unavailable_values;
    progress.changes_compensated = assembled.changes_compensated;
    progress.rows_moved_by_page_splits = assembled.rows_moved_by_page_splits;
    progress.schema_change_transactions = assembled.schema_change_transactions;
    progress.transactions_spilled = assembled.transactions_spilled;
    progress.bytes_spilled = assembled.bytes_spilled;
    progress.last_commit_unix_ms = last_commit_unix_ms;
    progress.caught_up = rows == 0;
    const logreader::SourceHealth health = source.Health();
    progress.source_reconnects = health.reconnects;
    progress.backup_log_rows = health.backup_rows;
    progress.log_bounds_known = health.log_bounds_known;
    progress.log_min_lsn = health.log_min_lsn;
    progress.log_end_lsn = health.log_end_lsn;
    observer.OnProgress(progress);
    if (rows > 0) {
      idle_since = now;
      backoff_ms = 1;
      continue;
    }
    // Caught up. Advance the restart LSN through stretches without captured changes (heartbeat),
    // so a restart does not re-read them and the log can be truncated behind us.
    if (reader->RestartLsn() != committed.restart_lsn && (!begin() || !commit())) {
      if (abortable && rewind()) continue;
      return false;
    }
    if (options.stop_when_idle_ms > 0 && now - idle_since >= std::chrono::milliseconds(options.stop_when_idle_ms)) {
      info("no new log rows for " + std::to_string(options.stop_when_idle_ms) + " ms: stopping");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, std::max(1, options.poll_idle_max_ms));
  }
  observer.OnStopping();
  if (in_transaction && !commit()) return false;
  mark_captured(true);
  if (safeguard) {
    (void)safeguard->ReleaseAll();  // a failure is counted and logged
    stats.safeguard_releases = safeguard->counters().releases;
  }
  return true;
}

}  // namespace

bool RunCapture(const CaptureOptions& options, logreader::LogSource& source, const std::atomic<bool>& stop,
                CaptureStats& stats, std::string& error, const std::function<void(const std::string&)>& log,
                ServiceObserver& observer) {
  bool position_lost = false;
  if (RunCaptureOnce(options, source, stop, stats, error, log, observer, false, position_lost)) return true;
  if (!position_lost || options.snapshot.mode != SnapshotMode::kWhenNeeded || stop.load()) return false;
  // The changes between the checkpoint and the oldest log still readable are gone: read the tables
  // again and stream from there, as the first start did (Debezium's when_needed does the same).
  if (log) log(error + ": capture.snapshot_mode = when_needed: taking a new snapshot");
  error.clear();
  position_lost = false;
  return RunCaptureOnce(options, source, stop, stats, error, log, observer, true, position_lost);
}

}  // namespace sqltail::engine
