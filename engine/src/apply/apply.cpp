#include "sqltail/engine/apply.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <thread>

#include "postgres_target.h"
#include "schema_change.h"
#include "sqlite_target.h"
#include "sqlserver_target.h"
#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/engine/value_text.h"
#include "sqltail/kafka/admin.h"
#include "sqltail/kafka/consumer.h"
#include "sqltail/kafka/transactional_producer.h"
#include "transaction_order.h"

namespace sqltail::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kKafkaTimeout = std::chrono::seconds(30);

// Connect Decimal bytes (big-endian two's complement unscaled value) -> "-12.50".
bool DecimalText(std::string_view bytes, int scale, std::string& out) {
  if (bytes.empty() || bytes.size() > 16) return false;
  __int128 value = static_cast<int8_t>(bytes[0]);
  for (size_t i = 1; i < bytes.size(); ++i) value = value * 256 + static_cast<uint8_t>(bytes[i]);
  bool negative = value < 0;
  unsigned __int128 magnitude =
      negative ? -static_cast<unsigned __int128>(value) : static_cast<unsigned __int128>(value);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude > 0);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  out = negative ? "-" : "";
  out += digits.substr(0, digits.size() - static_cast<size_t>(scale));
  if (scale > 0) out += "." + digits.substr(digits.size() - static_cast<size_t>(scale));
  return true;
}

class Applier {
 public:
  Applier(const ApplyOptions& options, ApplyStats& stats) : options_(options), stats_(stats) {}

  bool Run(const std::atomic<bool>& stop, std::string& error, const std::function<void(const std::string&)>& log,
           ServiceObserver& observer) {
    observer_ = &observer;
    log_ = log;
    if (!ParseTimePrecisionMode(options_.time_precision_mode, type_modes_.time_precision_mode) ||
        !ParseDecimalHandlingMode(options_.decimal_handling_mode, type_modes_.decimal_handling_mode) ||
        !ParseBinaryHandlingMode(options_.binary_handling_mode, type_modes_.binary_handling_mode)) {
      error = "apply: apply.time_precision_mode, decimal_handling_mode or binary_handling_mode: unknown mode";
      return false;
    }
    if (!options_.route_regex.empty()) {
      try {
        route_.emplace(options_.route_regex, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        error = "apply: apply.route.regex: " + std::string(e.what());
        return false;
      }
    }
    if (options_.target_kind == "postgresql") {
      auto postgres = std::make_unique<PostgresTarget>();
      if (!postgres->Open(options_.postgres_conninfo, options_.postgres_schema, error)) return false;
      target_ = std::move(postgres);
    } else if (options_.target_kind == "sqlserver") {
      auto session = ConnectSqlServer(options_.sqlserver, error);
      if (!session) return false;
      auto sqlserver = std::make_unique<SqlServerTarget>(std::move(session), options_.postgres_schema);
      if (!sqlserver->Open(error)) return false;
      target_ = std::move(sqlserver);
    } else {
      auto sqlite = std::make_unique<SqliteTarget>();
      if (!sqlite->Open(options_.sqlite_path, error)) return false;
      target_ = std::move(sqlite);
    }
    ProgressMap progress;
    if (!target_->LoadProgress(progress, error)) return false;
    if (!LoadOwner(progress, error)) return false;
    dead_letter_ = options_.on_error == "dead-letter";
    if (dead_letter_ && !OpenDeadLetter(error)) return false;

    const bool parallel = options_.mode == "parallel";
    kafka::Config consumer_config = options_.kafka;
    if (parallel) {
      consumer_config.properties["group.id"] = options_.group_id;
      // roundrobin spreads the partitions of many one-partition topics over the instances (range
      // would give each whole topic to the first member).
      consumer_config.properties.try_emplace("partition.assignment.strategy", "roundrobin");
    }
    kafka::Consumer consumer(consumer_config);
    // The partitions read, at the committed progress: a rewind starts them there again, and it is
    // what each progress save expects to find stored.
    std::vector<kafka::PartitionStart>& starts = starts_;
    std::unique_ptr<TransactionOrder> order;
    if (!parallel) {
      for (const auto& topic : options_.topics) {
        const Found found = AddPartitions(consumer, "topic", topic, true, progress, starts, stop, error);
        if (found == Found::kFailed) return false;
        if (found == Found::kStopped) return true;
      }
      if (!OpenTransactionOrder(consumer, progress, starts, stop, order, error)) return false;
      if (stop.load()) return true;
      if (!OpenSchemaChangeTopic(consumer, progress, &starts, stop, error)) return false;
      if (stop.load()) return true;
      if (order && !schema_topic_.empty()) order->SetStandaloneTopic(schema_topic_);
      if (auto e = consumer.Assign(starts); !e.ok()) {
        error = "apply: " + e.ToString();
        return false;
      }
      if (log) log("applying " + std::to_string(starts.size()) + " partition(s) into " + target_->Describe());
    }
    ProgressSnapshot loop_progress;

    std::vector<kafka::MessageView> messages;
    std::vector<OrderedMessage> ordered;  // released by `order`, in source commit order
    struct Item {
      const kafka::MessageView* message;
      bool control;  // a transaction-topic event: progress only
      bool ends;     // ordered: the last of a source transaction
      const std::string* txn_id;
    };
    std::vector<Item> items;
    uint64_t streamed_seen = 0;                  // order->streamed_transactions() already logged
    std::string batch_txn_id, committed_txn_id;  // last source transaction in the open / last committed target txn
    bool in_transaction = false, at_boundary = true;
    size_t batch_events = 0;
    auto batch_started = Clock::now(), last_message = Clock::now();
    // (topic, partition, next offset) of the open target transaction; searched linearly (few
    // partitions) so a message costs no allocation.
    std::vector<Progress> batch_progress;
    auto note_progress = [&](const kafka::MessageView& m) { Note(batch_progress, m.topic, m.partition, m.offset + 1); };
    auto committed = [&](const std::vector<Progress>& done) {
      for (const auto& p : done)
        for (auto& s : starts)
          if (s.partition == p.partition && s.topic == p.topic) s.offset = p.next_offset;
    };

    // The target failed somewhere in the open transaction (a batching target may fail at commit, on
    // an earlier row): roll back, re-read from the committed progress, and apply each event of the
    // failed stretch in its own target transaction, so the bad one is known exactly.
    ApplyStats at_begin;  // the counts when the open target transaction began
    // Rolls the open target transaction back; its events are read (and counted) again.
    auto abandon = [&]() {
      target_->Rollback();
      stats_.events = at_begin.events, stats_.upserts = at_begin.upserts, stats_.deletes = at_begin.deletes,
      stats_.truncates = at_begin.truncates, stats_.schema_changes = at_begin.schema_changes;
      in_transaction = false;
      batch_events = 0;
      batch_progress.clear();
      at_boundary = true;
      careful_pending_.clear();
      if (order) order->Clear(committed_txn_id);
    };
    // Reads the partitions again from `starts`. Assigned by the group (parallel), they are moved.
    // Partitions paused while too much is held for commit order (see TransactionOrder::PartitionsToPause).
    std::vector<kafka::TopicPartition> paused, to_pause, changed;
    auto paused_since = Clock::now(), paused_told = Clock::now();
    auto resume_all = [&]() -> bool {
      if (paused.empty()) return true;
      if (auto e = consumer.Resume(paused); !e.ok()) {
        error = "apply: " + e.ToString();
        return false;
      }
      paused.clear();
      return true;
    };
    // Pauses what the order says cannot help, resumes what can again; warns while it lasts.
    auto update_paused = [&]() -> bool {
      order->PartitionsToPause(starts, to_pause);
      // What `from` has and `other` has not (a handful of partitions: a linear search).
      auto minus = [&](const std::vector<kafka::TopicPartition>& from,
                       const std::vector<kafka::TopicPartition>& other) -> const std::vector<kafka::TopicPartition>& {
        changed.clear();
        for (const auto& p : from)
          if (std::find(other.begin(), other.end(), p) == other.end()) changed.push_back(p);
        return changed;
      };
      auto e = consumer.Resume(minus(paused, to_pause));
      if (e.ok()) e = consumer.Pause(minus(to_pause, paused));
      if (!e.ok()) {
        error = "apply: " + e.ToString();
        return false;
      }
      const bool was_paused = !paused.empty();
      paused.swap(to_pause);
      const auto now = Clock::now();
      if (!was_paused) paused_since = now;
      const std::string seconds_paused =
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - paused_since).count());
      if (was_paused && paused.empty() && log_) log_("reading resumed after " + seconds_paused + " s paused");
      // Told when it starts and every 30 s while it lasts.
      if (!paused.empty() && (!was_paused || now - paused_told >= std::chrono::seconds(30))) {
        paused_told = now;
        if (log_) {
          log_("reading " + std::to_string(paused.size()) + " partition(s) paused for " + seconds_paused +
               " s: " + std::to_string(order->buffered()) + " events held for source commit order, past " +
               "apply.max_buffered_events (" + order->Waiting() + "); check that " + order->transaction_topic() +
               " is written (capture.provide_transaction_metadata)");
        }
      }
      return true;
    };
    auto rewind = [&](std::string_view why) -> bool {
      // What was paused reads again from `starts` (a resume after the move would reset it).
      if (!resume_all()) return false;
      auto e = parallel ? consumer.Seek(starts, kKafkaTimeout) : consumer.Assign(starts);
      if (!e.ok()) {
        error = "apply: rewinding " + std::string(why) + ": " + e.ToString();
        return false;
      }
      return true;
    };
    auto isolate = [&](const kafka::MessageView* failed) -> bool {
      // Merged, not replaced: a stretch still pending from an earlier failure stays careful.
      for (const auto& p : batch_progress) Note(careful_until_, p.topic, p.partition, p.next_offset);
      if (failed != nullptr) Note(careful_until_, failed->topic, failed->partition, failed->offset + 1);
      abandon();
      if (!rewind("after a failed target transaction")) return false;
      if (log_) log_("the target transaction failed (" + error + "); re-applying its events one at a time");
      return true;
    };
    // A progress save found another applier's progress. Transactional: two instances on one target,
    // stop. Parallel: the group gave a partition to another instance while this one held it (a
    // stall past the session timeout): its commit won, so read on from what it stored; the rebalance
    // that follows takes the partition away.
    auto progress_moved = [&]() -> bool {
      abandon();
      if (!parallel) {
        error = "apply: " + error +
                "; only one apply.mode = transactional instance may run per target (apply.mode = parallel shares)";
        return false;
      }
      if (log_) log_(error + "; reading on from the stored progress");
      ProgressMap stored;
      if (!target_->LoadProgress(stored, error)) return false;
      for (auto& s : starts) {
        auto it = stored.find({s.topic, s.partition});
        s.offset = it == stored.end() ? kafka::kOffsetBeginning : it->second;
      }
      return rewind("to the stored progress");
    };
    // After a failed commit: whose the failure is decides what follows.
    auto commit_failed = [&]() { return target_->TakeProgressMoved() ? progress_moved() : isolate(nullptr); };

    auto commit = [&]() -> bool {
      if (!SaveProgressOf(batch_progress, error) || !target_->Commit(error)) return false;
      OwnerCommitted();
      committed(batch_progress);
      batch_progress.clear();
      if (!batch_txn_id.empty()) committed_txn_id = batch_txn_id;
      in_transaction = false;
      batch_events = 0;
      ++stats_.target_transactions;
      return true;
    };

    bool rebalance_failed = false;
    if (parallel) {
      // Runs inside PollBatch, between two loop passes (no event of the batch is half applied).
      auto on_rebalance = [&](bool assigned, std::vector<kafka::PartitionStart>& partitions) {
        if (!assigned) {
          // The partitions go: keep what is applied (whole source transactions), or leave it to the
          // next owner, which reads from the stored progress.
          if (in_transaction && !(at_boundary && commit())) {
            abandon();
            (void)target_->TakeProgressMoved();  // the next owner reads from what is stored either way
          }
          if (log_)
            log_("group " + options_.group_id + " takes back " + std::to_string(starts.size()) + " partition(s)");
          starts.clear();
          return;
        }
        ProgressMap stored;
        if (!target_->LoadProgress(stored, error)) {
          rebalance_failed = true;
          return;
        }
        for (auto& p : partitions) {
          auto it = stored.find({p.topic, p.partition});
          p.offset = it == stored.end() ? kafka::kOffsetBeginning : it->second;
        }
        starts = partitions;
        if (log_) {
          log_("group " + options_.group_id + " assigns " + std::to_string(starts.size()) +
               " partition(s): " + DescribePartitions(starts));
        }
      };
      if (!OpenSchemaChangeTopic(consumer, progress, nullptr, stop, error)) return false;
      if (stop.load()) return true;
      std::vector<std::string> subscribed = options_.topics;
      if (!schema_topic_.empty()) subscribed.push_back(schema_topic_);
      if (auto e = consumer.Subscribe(subscribed, on_rebalance); !e.ok()) {
        error = "apply: " + e.ToString();
        return false;
      }
      if (log) log("applying the partitions group " + options_.group_id + " assigns into " + target_->Describe());
    }
    observer.OnReady();

    // apply.max_events_per_second: a poll takes at most a tenth of a second's worth, and the loop
    // waits (in short steps, so a rebalance or a stop is not held up) until the rate allows more.
    const int64_t rate = options_.max_events_per_second;
    size_t poll_max = rate > 0 ? static_cast<size_t>(std::clamp<int64_t>(rate / 10, 1, 5000)) : 5000;
    // Ordered, a poll adds at most the bound to what is held before reading pauses.
    if (order) poll_max = std::min(poll_max, std::max<size_t>(options_.max_buffered_events, 1));
    const auto rate_started = Clock::now();
    const uint64_t rate_base = stats_.events;
    while (!stop.load()) {
      if (rate > 0) {
        const int64_t applied = static_cast<int64_t>(stats_.events) - static_cast<int64_t>(rate_base);
        const auto allowed_at =
            rate_started + std::chrono::microseconds(std::max<int64_t>(applied, 0) * 1000000 / rate);
        if (Clock::now() < allowed_at) {
          std::this_thread::sleep_for(
              std::min<Clock::duration>(allowed_at - Clock::now(), std::chrono::milliseconds(50)));
          // What is applied is committed meanwhile, not held open while waiting.
          if (in_transaction && at_boundary && !commit() && !commit_failed()) return false;
          continue;
        }
      }
      messages.clear();
      auto e = consumer.PollBatch(std::chrono::milliseconds(100), poll_max, messages);
      if (rebalance_failed) {
        error = "apply: reading the progress at a rebalance: " + error;
        observer.OnError("sink");
        return false;
      }
      if (!e.ok() && e.fatal()) {
        error = "apply: " + e.ToString();
        observer.OnError("kafka");
        if (in_transaction) target_->Rollback();
        return false;
      }
      auto now = Clock::now();
      bool rewound = false;
      items.clear();
      if (order) {
        ordered.clear();
        for (const auto& message : messages) {
          if (!order->Add(consumer.Retain(message), error)) {
            error = "apply: " + error;
            observer.OnError("kafka");
            if (in_transaction) target_->Rollback();
            return false;
          }
          // Past the bound a source transaction streams: release it now, not after the whole poll.
          if (order->buffered() > options_.max_buffered_events) order->Drain(ordered);
        }
        order->Drain(ordered);
        if (!update_paused()) {
          observer.OnError("kafka");
          if (in_transaction) target_->Rollback();
          return false;
        }
        if (order->streamed_transactions() != streamed_seen) {
          streamed_seen = order->streamed_transactions();
          if (log_)
            log_("a source transaction holds more than apply.max_buffered_events (" +
                 std::to_string(options_.max_buffered_events) +
                 ") events: applying it as it arrives, in one target transaction committed at its end");
        }
        for (const auto& o : ordered) items.push_back({&o.message.view(), o.control, o.ends, &o.txn_id});
      } else {
        for (const auto& message : messages) items.push_back({&message, false, false, nullptr});
      }
      for (const auto& item : items) {
        const kafka::MessageView& message = *item.message;
        // Where source transactions end: released so by the order, or sqltail's end marker. In
        // parallel mode the marker may be on a partition another instance reads: every event is one.
        // A schema change event stands alone and says nothing of the transactions around it.
        const bool schema_change = IsSchemaChange(message);
        auto boundary_after = [&]() {
          return order ? item.ends : parallel || (schema_change ? at_boundary : AtBoundaryAfter(message, at_boundary));
        };
        if (Careful(message)) {
          if (in_transaction) {
            // Another partition's events opened a batch meanwhile: the careful event must get its
            // own target transaction, so that batch is rolled back and re-read one at a time too.
            error = "a batch opened before a re-applied event of " + std::string(message.topic);
            if (!isolate(nullptr)) return false;
            rewound = true;
            break;
          }
          // Ordered, progress is saved only where a source transaction ends: a restart in the
          // middle of one must read all of it again to see it complete.
          if (!ApplyAlone(message, item.control, order ? item.ends : true, error)) {
            if (target_->TakeProgressMoved()) {
              if (!progress_moved()) return false;
              rewound = true;
              break;
            }
            observer.OnError("sink");
            error = "apply: " + error;
            return false;
          }
          committed(one_);
          if (item.ends && item.txn_id != nullptr && !item.txn_id->empty()) committed_txn_id = *item.txn_id;
          at_boundary = boundary_after();
          if (!item.control && !schema_change) ++stats_.events;
          continue;
        }
        if (!in_transaction) {
          if (!target_->Begin(error)) return false;
          in_transaction = true;
          batch_started = now;
          at_begin = stats_;
          dead_in_transaction_.clear();
          batch_txn_id.clear();
        }
        if (!item.control && !ApplyMessage(message, error)) {
          observer.OnError("sink");
          if (target_error_) {
            if (!isolate(&message)) return false;
            rewound = true;
            break;
          }
          // The event itself is bad; the target has not seen it.
          if (!dead_letter_) {
            // Stop here; what came before it is kept when it ends a source transaction.
            std::string bad = "apply: " + error;
            if (!at_boundary || !commit()) target_->Rollback();
            error = std::move(bad);
            return false;
          }
          if (!DeadLetter(message, error, error)) return false;
          // Re-applied one at a time if this transaction fails: not dead-lettered twice.
          dead_in_transaction_.push_back({std::string(message.topic), message.partition, message.offset});
        }
        note_progress(message);
        if (!item.control && !schema_change) {
          ++batch_events;
          ++stats_.events;
        }
        if (item.ends && item.txn_id != nullptr && !item.txn_id->empty()) batch_txn_id = *item.txn_id;
        at_boundary = boundary_after();
        // A full batch commits at once, not at the end of the poll: batch_max_events bounds it.
        if (at_boundary && batch_events >= options_.batch_max_events && !commit()) {
          if (!commit_failed()) return false;
          rewound = true;
          break;
        }
      }
      if (!messages.empty()) last_message = now;
      bool due = batch_events >= options_.batch_max_events ||
                 now - batch_started >= std::chrono::milliseconds(options_.batch_max_ms) || messages.empty();
      if (!rewound && in_transaction && at_boundary && due && !commit()) {
        if (!commit_failed()) return false;
      }
      // The loop advanced: report it (this also feeds the systemd watchdog).
      loop_progress.events = stats_.events;
      loop_progress.target_transactions = stats_.target_transactions;
      loop_progress.dead_lettered = stats_.dead_lettered;
      loop_progress.caught_up = messages.empty();
      observer.OnProgress(loop_progress);
      if (options_.stop_when_idle_ms > 0 && !in_transaction &&
          now - last_message >= std::chrono::milliseconds(options_.stop_when_idle_ms)) {
        if (log) log("no new events for " + std::to_string(options_.stop_when_idle_ms) + " ms: stopping");
        break;
      }
    }
    observer.OnStopping();
    // Stopping: keep whole source transactions only. An unfinished one is rolled back and re-read.
    if (in_transaction) {
      if (at_boundary) {
        if (commit()) return true;
        target_->Rollback();
        error = "apply: " + error;
        return false;
      }
      target_->Rollback();
    }
    return true;
  }

 private:
  struct Progress {
    std::string topic;
    int32_t partition;
    int64_t next_offset;
  };
  static void Note(std::vector<Progress>& list, std::string_view topic, int32_t partition, int64_t next_offset) {
    for (auto& p : list) {
      if (p.partition == partition && p.topic == topic) {
        p.next_offset = std::max(p.next_offset, next_offset);
        return;
      }
    }
    list.push_back({std::string(topic), partition, next_offset});
  }

  // sqltail marks the last event of each source transaction. A tombstone without the mark follows
  // its delete inside the transaction; events of other producers (Debezium) carry no marks, so each
  // is its own transaction.
  static bool AtBoundaryAfter(const kafka::MessageView& message, bool at_boundary) {
    if (kafka::HasHeader(message, "sqltail.txn.end")) return true;
    if (message.value) return !ProducedBySqltail(message);
    return at_boundary;
  }

  enum class Found { kYes, kMissing, kStopped, kFailed };
  // Adds the partitions of `topic` to `starts` at their stored progress. The capture creates its
  // topics; an applier started first waits for them (`wait`), else a missing topic is kMissing.
  Found AddPartitions(kafka::Consumer& consumer, std::string_view what, const std::string& topic, bool wait,
                      const ProgressMap& progress, std::vector<kafka::PartitionStart>& starts,
                      const std::atomic<bool>& stop, std::string& error) {
    auto partitions = consumer.ListPartitions(topic, kKafkaTimeout);
    auto missing = [&]() { return !partitions.ok() && partitions.error().name() == "UNKNOWN_TOPIC_OR_PART"; };
    if (!wait && missing()) return Found::kMissing;
    for (bool told = false; missing() && !stop.load(); told = true) {
      if (!told && log_) log_("waiting for " + std::string(what) + " " + topic + " to be created");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      partitions = consumer.ListPartitions(topic, kKafkaTimeout);
    }
    if (stop.load()) return Found::kStopped;
    if (!partitions.ok()) {
      error = "apply: " + std::string(what) + " " + topic + ": " + partitions.error().ToString();
      return Found::kFailed;
    }
    for (int32_t p : partitions.value()) {
      auto it = progress.find({topic, p});
      starts.push_back({topic, p, it == progress.end() ? kafka::kOffsetBeginning : it->second});
    }
    return Found::kYes;
  }

  // An END names its collections as <db>.<schema>.<table>, found as <prefix>.<collection> where the
  // transaction topic is <prefix>.transaction. If no data topic has that prefix, every END needs none
  // of the events read and each would be applied alone: atomicity lost without a word. Refuse that.
  bool NamesReadTopics(const std::string& topic, std::string& error) const {
    const std::string prefix = TransactionOrder::TopicPrefix(topic) + '.';
    for (const auto& name : options_.topics) {
      if (name.starts_with(prefix)) return true;
    }
    error = "apply: apply.transaction_topic '" + topic + "' maps its transactions' collections to topics " + prefix +
            "<db>.<schema>.<table>, and no topic in apply.topics starts with '" + prefix +
            "': source transactions would not be applied atomically. Name the capture's <prefix>.transaction "
            "topic, or set apply.transaction_topic = none";
    return false;
  }

  // apply.transaction_topic: finds the transaction topic, adds its partitions to `starts` and makes the
  // order stage. Without one (none; auto and no such topic) `order` stays null: each partition is
  // applied as it arrives, whole source transactions only where one partition holds them.
  bool OpenTransactionOrder(kafka::Consumer& consumer, const ProgressMap& progress,
                            std::vector<kafka::PartitionStart>& starts, const std::atomic<bool>& stop,
                            std::unique_ptr<TransactionOrder>& order, std::string& error) {
    std::string topic = options_.transaction_topic;
    if (topic == "none") return true;
    const bool automatic = topic == "auto";
    // One partition holds whole source transactions in commit order: its end markers suffice, unless
    // a transaction's last event is in a topic not read (name the transaction topic then).
    if (automatic && starts.size() <= 1) return true;
    auto unordered = [&](const std::string& why) {
      if (starts.size() > 1 && log_) {
        log_(why +
             ": each partition is applied as it arrives, so a source transaction spanning topics or "
             "partitions is not applied atomically in commit order (see apply.transaction_topic)");
      }
      return true;
    };
    if (automatic) {
      // Topics are named <prefix>.<db>.<schema>.<table>; the capture writes <prefix>.transaction.
      std::string prefix;
      for (const auto& name : options_.topics) {
        const std::string p = name.substr(0, name.find('.'));
        if (p == name || (!prefix.empty() && p != prefix)) return unordered("the topics share no <prefix>.");
        prefix = p;
      }
      topic = prefix + ".transaction";
    } else if (!NamesReadTopics(topic, error)) {
      return false;
    }
    const size_t first_added = starts.size();
    // auto: a capture without transaction metadata never creates the topic, so do not wait for it.
    const Found found = AddPartitions(consumer, "transaction topic", topic, !automatic, progress, starts, stop, error);
    if (found == Found::kFailed) return false;
    if (found == Found::kStopped) return true;
    if (found == Found::kMissing) {
      return unordered("no transaction topic " + topic + " (capture.provide_transaction_metadata = false?)");
    }
    order = std::make_unique<TransactionOrder>(topic, options_.topics, options_.max_buffered_events);
    if (log_) log_("source transactions in commit order from " + topic);
    // The stored progress ends right after the END of the last transaction applied: read it, so that
    // events of transactions up to it (a topic added later, one applied alone) are known as late.
    // The capture creates the transaction topic with one partition.
    if (starts.size() > first_added && starts[first_added].offset > 0) {
      const kafka::PartitionStart last{topic, starts[first_added].partition, starts[first_added].offset - 1};
      if (auto e = consumer.Assign(std::span(&last, 1)); !e.ok()) {
        error = "apply: " + e.ToString();
        return false;
      }
      for (auto deadline = Clock::now() + kKafkaTimeout; Clock::now() < deadline && !stop.load();) {
        auto polled = consumer.Poll(std::chrono::milliseconds(200));
        if (polled.kind == kafka::PollResult::Kind::kPartitionEnd) break;  // gone (retention): nothing known
        if (polled.kind != kafka::PollResult::Kind::kMessage || polled.message.topic != topic) continue;
        std::string id = order->IdOf(polled.message);
        if (log_ && !id.empty()) log_("last source transaction applied: " + id);
        order->Clear(std::move(id));
        break;
      }
    }
    return true;
  }

  // apply.schema_change_topic with apply.schema_evolution = basic: finds the capture's schema change
  // topic and adds its partition to `starts` (null: subscribed, the group assigns it). auto: the
  // <prefix> the topics share, skipped when missing (capture.include_schema_changes = false); a name
  // is waited for like the topics. schema_topic_ stays empty when none is read.
  bool OpenSchemaChangeTopic(kafka::Consumer& consumer, const ProgressMap& progress,
                             std::vector<kafka::PartitionStart>* starts, const std::atomic<bool>& stop,
                             std::string& error) {
    std::string topic = options_.schema_change_topic;
    if (options_.schema_evolution != "basic" || topic == "none") return true;
    const bool automatic = topic == "auto";
    if (automatic) {
      topic.clear();
      for (const auto& name : options_.topics) {
        const std::string p = name.substr(0, name.find('.'));
        if (p == name || (!topic.empty() && p != topic)) {
          if (log_) log_("the topics share no <prefix>.: no schema change topic read (apply.schema_change_topic)");
          return true;
        }
        topic = p;
      }
    }
    std::vector<kafka::PartitionStart> probe;
    const Found found = AddPartitions(consumer, "schema change topic", topic, !automatic, progress,
                                      starts != nullptr ? *starts : probe, stop, error);
    if (found == Found::kFailed) return false;
    if (found == Found::kStopped) return true;
    if (found == Found::kMissing) {
      if (log_) log_("no schema change topic " + topic + " (capture.include_schema_changes = false?): not read");
      return true;
    }
    schema_topic_ = topic;
    if (log_) log_("schema changes from " + topic + " (apply.schema_evolution = basic)");
    return true;
  }

  bool IsSchemaChange(const kafka::MessageView& message) const {
    return !schema_topic_.empty() && message.topic == schema_topic_;
  }

  // The committed progress of a partition read, as starts_ holds it (negative: none stored).
  int64_t StoredOffset(std::string_view topic, int32_t partition) const {
    for (const auto& s : starts_)
      if (s.partition == partition && s.topic == topic) return s.offset;
    return kafka::kOffsetBeginning;
  }

  static std::string DescribePartitions(const std::vector<kafka::PartitionStart>& partitions) {
    std::string out;
    for (const auto& p : partitions) {
      if (out.size() > 300) return out + ", ...";
      out += (out.empty() ? "" : ", ") + p.topic + "/" + std::to_string(p.partition) + "@" +
             (p.offset < 0 ? std::string("start") : std::to_string(p.offset));
    }
    return out;
  }

  // A message of the stretch being re-applied one event at a time.
  bool Careful(const kafka::MessageView& m) const {
    for (const auto& p : careful_until_)
      if (p.partition == m.partition && p.topic == m.topic) return m.offset < p.next_offset;
    return false;
  }

  // One event in its own target transaction, with its progress. A failure is the event's own: it
  // stops the run (on_error = fail) or goes to the dead-letter topic.
  // `save_progress` false: the event's progress is kept for the next call that saves (ordered apply
  // saves at source-transaction ends only); a control event (transaction topic) applies nothing.
  bool ApplyAlone(const kafka::MessageView& message, bool control, bool save_progress, std::string& error) {
    Note(careful_pending_, message.topic, message.partition, message.offset + 1);
    one_.clear();
    if (save_progress) one_.swap(careful_pending_);
    if (control && one_.empty()) return true;
    if (!target_->Begin(error)) return false;
    std::string reason;
    if ((control || ApplyMessage(message, reason)) && SaveProgressOf(one_, reason) && target_->Commit(reason)) {
      OwnerCommitted();
      ++stats_.target_transactions;
      return true;
    }
    target_->Rollback();
    // Another applier's progress (the caller sees TakeProgressMoved): the event is not bad.
    if (!dead_letter_ || control || target_->progress_moved()) {
      error = reason;
      return false;
    }
    bool already = false;
    for (const auto& d : dead_in_transaction_)
      already |= d.partition == message.partition && d.next_offset == message.offset && d.topic == message.topic;
    if (!already && !DeadLetter(message, reason, error)) return false;
    if (!target_->Begin(error) || !SaveProgressOf(one_, error) || !target_->Commit(error)) {
      target_->Rollback();
      return false;
    }
    OwnerCommitted();
    ++stats_.target_transactions;
    return true;
  }

  // Transactional: one instance per set of topics and target, decided on one row. Each target
  // transaction also moves (owner_.topic, 0) from the value this instance last saw to that plus one:
  // a version of the target's progress. Any commit of another instance moves it, so this one's next
  // save finds it moved and stops, whatever partitions either touched: whoever commits after the
  // other started owns the target. Per-partition progress alone could not decide that (two
  // instances whose saves touch different partitions each win some and both stop later), nor could
  // a claim at the first commit only (a claimer's view of partitions it had not saved yet could be
  // stale). Parallel mode has no owner row: owner_.topic stays empty.
  bool LoadOwner(const ProgressMap& progress, std::string& error) {
    owner_ = Owner{};
    if (options_.mode == "parallel") return true;
    std::vector<std::string> topics = options_.topics;
    std::sort(topics.begin(), topics.end());
    uint64_t hash = kFnvOffset;
    for (const auto& t : topics) hash = Fnv1a(Fnv1a(hash, t), "\n");
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016" PRIx64, hash);
    owner_.topic = std::string(kOwnerTopicPrefix) + hex;
    auto it = progress.find({owner_.topic, 0});
    if (it == progress.end()) return true;
    // The target's content is untrusted: a count of target transactions, so that one more fits.
    if (it->second < 0 || it->second == std::numeric_limits<int64_t>::max()) {
      error = "apply: sqltail_progress row " + owner_.topic + " holds " + std::to_string(it->second) +
              ", not a count of target transactions; with no instance running, delete that row";
      return false;
    }
    owner_.stored = it->second;
    return true;
  }
  int64_t OwnerNext() const { return owner_.stored < 0 ? 1 : owner_.stored + 1; }
  // The owner row and the given partitions' progress, each a compare-and-set in the open transaction.
  bool SaveProgressOf(const std::vector<Progress>& done, std::string& error) {
    if (!owner_.topic.empty() && !target_->SaveProgress(owner_.topic, 0, owner_.stored, OwnerNext(), error))
      return false;
    for (const auto& p : done)
      if (!target_->SaveProgress(p.topic, p.partition, StoredOffset(p.topic, p.partition), p.next_offset, error))
        return false;
    return true;
  }
  void OwnerCommitted() {
    if (!owner_.topic.empty()) owner_.stored = OwnerNext();
  }

  bool OpenDeadLetter(std::string& error) {
    if (options_.dead_letter_topic.empty()) {
      error = "apply: apply.on_error = dead-letter needs apply.dead_letter_topic";
      return false;
    }
    try {
      kafka::Admin admin(options_.kafka);
      const kafka::TopicSpec spec{options_.dead_letter_topic, 1, -1, {}};
      if (auto e = admin.EnsureTopics(std::span<const kafka::TopicSpec>(&spec, 1), kKafkaTimeout); !e.ok()) {
        error = "apply: dead-letter topic " + options_.dead_letter_topic + ": " + e.ToString();
        return false;
      }
      // One transactional.id per dead-letter topic and target: a restarted applier fences the old one.
      // Parallel instances share the target: each has its own id (a crashed one's open transaction
      // is aborted by the broker's transaction timeout, and its events are dead-lettered again).
      std::string id = "sqltail-apply-dlq-" + options_.dead_letter_topic + "-" + target_->Describe();
      if (options_.mode == "parallel") {
        std::array<char, 256> host{};
        ::gethostname(host.data(), host.size() - 1);
        id += "-" + std::string(host.data()) + "-" + std::to_string(::getpid());
      }
      dlq_ = std::make_unique<kafka::TransactionalProducer>(options_.kafka, id);
    } catch (const std::exception& e) {
      error = std::string("apply: dead-letter producer: ") + e.what();
      return false;
    }
    if (auto e = dlq_->InitTransactions(kKafkaTimeout); !e.ok()) {
      error = "apply: dead-letter producer: " + e.ToString();
      return false;
    }
    return true;
  }

  // Writes the original message (key, value, headers) plus the reason to the dead-letter topic and
  // waits until that Kafka transaction has committed. Only then may the progress pass the message:
  // a crash in between dead-letters it twice, never zero times.
  bool DeadLetter(const kafka::MessageView& message, const std::string& reason, std::string& error) {
    const std::string offset = std::to_string(message.offset), partition = std::to_string(message.partition);
    std::vector<kafka::MessageHeader> headers;
    kafka::VisitHeaders(message, [&](std::string_view name, std::optional<std::string_view> value) {
      headers.push_back({name, value});
    });
    const std::string where = DescribeOrigin({message.topic, message.partition, message.offset});
    std::string why = reason.rfind(where, 0) == 0 ? reason : where + ": " + reason;
    headers.push_back({"sqltail.dlq.reason", why});
    headers.push_back({"sqltail.dlq.topic", message.topic});
    headers.push_back({"sqltail.dlq.partition", partition});
    headers.push_back({"sqltail.dlq.offset", offset});
    for (int attempt = 0;; ++attempt) {
      kafka::KafkaError e = dlq_->BeginTransaction();
      if (e.ok())
        e = dlq_->Produce(options_.dead_letter_topic, kafka::kUnassignedPartition, message.key, message.value, headers);
      if (e.ok()) e = dlq_->CommitTransaction(kKafkaTimeout);
      if (e.ok()) break;
      if (e.Action() != kafka::ErrorAction::kFatal && attempt < 3) {
        (void)dlq_->AbortTransaction(kKafkaTimeout);  // the whole transaction again: one message
        continue;
      }
      error = "apply: writing " + where + " to dead-letter topic " + options_.dead_letter_topic + ": " + e.ToString();
      return false;
    }
    ++stats_.dead_lettered;
    observer_->OnError("dead-letter");
    if (log_) log_("dead-lettered to " + options_.dead_letter_topic + ": " + why);
    return true;
  }

  static bool ProducedBySqltail(const kafka::MessageView& message) {
    return message.value && message.value->find("\"version\":\"sqltail-") != std::string_view::npos;
  }

  // The target table of an event: the route when the topic matches apply.route.regex entirely (kept
  // per topic, so the regex runs once per topic), else table_name_format.
  const std::string& TableNameFor(std::string_view topic, std::string_view db, std::string_view schema,
                                  std::string_view table) {
    if (route_) {
      const std::string* routed = nullptr;
      for (const auto& [t, name] : routes_)
        if (t == topic) routed = &name;
      if (routed == nullptr) {
        const std::string topic_text(topic);
        std::smatch match;
        std::string name;
        if (std::regex_match(topic_text, match, *route_)) name = match.format(options_.route_replacement);
        routes_.emplace_back(topic_text, std::move(name));
        routed = &routes_.back().second;
      }
      if (!routed->empty()) return *routed;
    }
    std::string& name = table_name_;
    name = options_.table_name_format;
    auto replace = [&](std::string_view token, std::string_view value) {
      for (size_t at = name.find(token); at != std::string::npos; at = name.find(token, at + value.size()))
        name.replace(at, token.size(), value);
    };
    replace("${db}", db);
    replace("${schema}", schema);
    replace("${table}", table);
    return name;
  }

  bool Listed(const std::vector<std::string>& list, std::string_view field) const {
    for (const auto& f : list)
      if (f == field) return true;
    return false;
  }
  // apply.fields.include / exclude: whether the event field becomes a column.
  bool FieldKept(std::string_view field) const {
    if (!options_.field_include.empty() && !Listed(options_.field_include, field)) return false;
    return !Listed(options_.field_exclude, field);
  }

  // The value schema's "after" struct's fields; false when it has none.
  static bool AfterFields(simdjson::dom::element value_schema, simdjson::dom::array& out) {
    simdjson::dom::array envelope_fields;
    if (value_schema["fields"].get(envelope_fields)) return false;
    for (simdjson::dom::element f : envelope_fields) {
      std::string_view field_name;
      if (f["field"].get(field_name) || field_name != "after") continue;
      return !f["fields"].get(out);
    }
    return false;
  }

  // A hash of the fields' types: Connect type, logical name, and a decimal's precision and scale
  // (the parameters are looked up only for decimals, so this stays cheap per event).
  static uint64_t FieldTypesHash(simdjson::dom::array fields) {
    uint64_t hash = kFnvOffset;
    auto mix = [&](std::string_view text) {
      hash = Fnv1a(hash, text);
      hash = Fnv1a(hash, "\xff");  // separator: "ab","c" differs from "a","bc"
    };
    for (simdjson::dom::element f : fields) {
      std::string_view type, logical;
      if (!f["type"].get(type)) mix(type);
      if (f["name"].get(logical)) continue;
      mix(logical);
      if (logical != "org.apache.kafka.connect.data.Decimal") continue;
      DecimalParameters(f, [&](std::string_view, std::string_view text) {
        mix(text);
        return true;
      });
    }
    return hash;
  }

  // Calls visit(name, text) for each parameter of a decimal field that is given as a string (as
  // Connect gives them): the scale, then the precision. Stops when visit returns false, and says so.
  template <typename Visit>
  static bool DecimalParameters(simdjson::dom::element field, Visit&& visit) {
    simdjson::dom::element parameters;
    if (field["parameters"].get(parameters)) return true;
    for (std::string_view name : {"scale", "connect.decimal.precision"}) {
      std::string_view text;
      if (!parameters[name].get(text) && !visit(name, text)) return false;
    }
    return true;
  }

  // How a column of Connect type `type` (logical type `logical`) is stored.
  static void SetKind(TargetColumn& column, std::string_view type, std::string_view logical) {
    column.connect_type = std::string(type);
    if (logical == "org.apache.kafka.connect.data.Decimal") {
      column.kind = ValueKind::kDecimal;
    } else if (type == "int8" || type == "int16" || type == "int32" || type == "int64") {
      column.kind = ValueKind::kInteger;
    } else if (type == "float" || type == "double") {
      column.kind = ValueKind::kReal;
    } else if (type == "boolean") {
      column.kind = ValueKind::kBoolean;
    } else if (type == "bytes") {
      column.kind = ValueKind::kBytes;
    } else {
      column.kind = ValueKind::kText;
    }
  }

  // Adds the column of event field column.field to `out` as apply.fields.* say: renamed, or left
  // out (false with `error` for a key field).
  bool AddColumn(TargetColumn column, std::vector<TargetColumn>& out, std::string& error) const {
    column.name = column.field;
    for (const auto& [from, to] : options_.field_renames)
      if (from == column.field) column.name = to;
    if (!FieldKept(column.field)) {
      if (column.key) {
        error = "key field " + column.field + " is left out by apply.fields.include/exclude";
        return false;
      }
      return true;
    }
    for (const auto& other : out) {
      if (other.name == column.name) {
        error = "two fields become column " + column.name + " (apply.fields.rename)";
        return false;
      }
    }
    out.push_back(std::move(column));
    return true;
  }

  // Builds the target table from the value schema's "after" struct and the key schema. With
  // apply.schema_evolution = basic the stored table first gets the columns it lacks (EvolveTable):
  // events whose structure changed at the source land even before (or without) their schema change event.
  bool DefineFromSchema(simdjson::dom::element value_schema, const std::string& table_name,
                        const std::vector<std::string>& key_fields, const RowOrigin& origin, std::string& error) {
    simdjson::dom::array columns;
    if (!AfterFields(value_schema, columns)) {
      error = value_schema["fields"].error() ? "the value schema has no fields"
                                             : "the value schema has no \"after\" struct";
      return false;
    }
    std::vector<TargetColumn> out;
    for (simdjson::dom::element c : columns) {
      TargetColumn column;
      std::string_view name, type, logical;
      if (c["field"].get(name) || c["type"].get(type)) {
        error = "a field of the after struct lacks field/type";
        return false;
      }
      column.field = std::string(name);
      if (c["name"].get(logical)) logical = {};
      SetKind(column, type, logical);
      // The message is untrusted: each parameter a number, 0..1000 (PostgreSQL's limit).
      if (column.kind == ValueKind::kDecimal &&
          !DecimalParameters(c, [&](std::string_view parameter, std::string_view text) {
            int value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 1000) {
              error = "field " + column.field + ": decimal parameter " + std::string(parameter) + " '" +
                      std::string(text) + "' is not a number from 0 to 1000";
              return false;
            }
            (parameter == "scale" ? column.scale : column.precision) = value;
            return true;
          }))
        return false;
      for (const auto& k : key_fields) column.key |= k == column.field;
      if (!AddColumn(std::move(column), out, error)) return false;
    }
    if (options_.schema_evolution == "basic") {
      EvolveResult evolved;
      if (!target_->EvolveTable(table_name, out, origin, evolved, error)) {
        target_error_ = true;
        return false;
      }
      LogEvolved(table_name, evolved, origin, "a change event");
    }
    TargetTable* table = target_->DefineTable(table_name, std::move(out), error);
    if (table == nullptr) {
      target_error_ = true;
      return false;
    }
    table->event_fields = columns.size();
    table->event_types = FieldTypesHash(columns);
    return true;
  }

  void LogEvolved(const std::string& table, const EvolveResult& evolved, const RowOrigin& origin,
                  std::string_view by) const {
    if (!log_ || (!evolved.created && evolved.added.empty() && evolved.widened.empty())) return;
    std::string text = "schema evolution: table " + table;
    if (evolved.created) {
      text += " created";
    } else {
      if (!evolved.added.empty()) text += " gets column(s) ";
      for (size_t i = 0; i < evolved.added.size(); ++i) text += (i > 0 ? ", " : "") + evolved.added[i];
      if (!evolved.added.empty() && !evolved.widened.empty()) text += ",";
      if (!evolved.widened.empty()) text += " widens column(s) ";
      for (size_t i = 0; i < evolved.widened.size(); ++i) text += (i > 0 ? ", " : "") + evolved.widened[i];
    }
    log_(text + " (" + std::string(by) + ", " + DescribeOrigin(origin) + ")");
  }

  // A schema change event (docs/events.md "Schema changes"; docs/operator-guide.md "Schema
  // evolution"). Each table change of a table this applier applies (its data topic
  // <prefix>.<db>.<schema>.<table> is in apply.topics), routed and renamed as its change events
  // are: CREATE and ALTER give the target table the columns it lacks (EvolveTable: created when
  // missing, else nullable columns added, none dropped or changed), typed as the change events type
  // them under the capture's type mapping (apply.*_mode); DROP leaves the target as it is and is logged.
  //
  // Order: it is applied as it arrives (the order stage releases it on its own). That is safe for
  // what it does: adding nullable columns (or a table) before earlier events are written changes
  // none of them (they do not name the new columns). And a change event that arrives first (another
  // partition, read sooner) adds the columns it carries itself (DefineFromSchema), so the new
  // structure is in place before every event that follows the change at the source, whichever
  // partition is read first. Its progress is saved as any event's; a re-delivered event adds nothing.
  bool ApplySchemaChange(const kafka::MessageView& message, const RowOrigin& origin, std::string& error) {
    ++stats_.schema_changes;
    if (!ParseSchemaChangeEvent(parser_, *message.value, type_modes_, table_changes_, error)) return false;
    for (const EventTableChange& change : table_changes_) {
      const std::string data_topic = schema_topic_ + "." + change.db + "." + change.schema + "." + change.table;
      if (std::find(options_.topics.begin(), options_.topics.end(), data_topic) == options_.topics.end())
        continue;  // a table this applier does not apply
      const std::string name = TableNameFor(data_topic, change.db, change.schema, change.table);
      if (name.empty()) {
        error = "apply.route.replacement gives an empty table name";
        return false;
      }
      schema_table_ = name;
      current_table_ = schema_table_;
      if (change.type == "DROP") {
        if (log_)
          log_("schema change DROP of " + change.id + " (" + DescribeOrigin(origin) + "): table " + name +
               " is left as it is in the target");
        continue;
      }
      if (!change.column_error.empty()) {
        error = change.type + " " + change.id + ": " + change.column_error;
        return false;
      }
      std::vector<TargetColumn> out;
      for (const auto& c : change.columns) {
        TargetColumn column;
        column.field = c.name;
        SetKind(column, c.connect.type, c.connect.logical_name);
        column.precision = c.connect.precision;
        column.scale = c.connect.scale;
        column.key = c.key;
        if (!AddColumn(std::move(column), out, error)) return false;
      }
      EvolveResult evolved;
      if (!target_->EvolveTable(name, out, origin, evolved, error)) {
        target_error_ = true;
        return false;
      }
      LogEvolved(name, evolved, origin, change.type + " " + change.id);
    }
    return true;
  }

  // One JSON value as a FieldValue; bytes and decimals are decoded into the column's buffer.
  bool ToField(size_t index, const TargetColumn& column, simdjson::dom::element value, FieldValue& out,
               std::string& error) {
    out.text = {};
    switch (value.type()) {
      case simdjson::dom::element_type::NULL_VALUE:
        out.type = FieldValue::Type::kNull;
        return true;
      case simdjson::dom::element_type::BOOL:
        out.type = FieldValue::Type::kBool;
        out.boolean = value.get_bool().value();
        return true;
      case simdjson::dom::element_type::INT64:
        out.type = FieldValue::Type::kInteger;
        out.integer = value.get_int64().value();
        return true;
      case simdjson::dom::element_type::UINT64:
        out.type = FieldValue::Type::kInteger;
        out.integer = static_cast<int64_t>(value.get_uint64().value());
        return true;
      case simdjson::dom::element_type::DOUBLE:
        out.type = FieldValue::Type::kReal;
        out.real = value.get_double().value();
        return true;
      case simdjson::dom::element_type::STRING: {
        out.type = FieldValue::Type::kText;
        std::string_view text = value.get_string().value();
        if (column.kind == ValueKind::kBytes || column.kind == ValueKind::kDecimal) {
          std::string& bytes = decode_buffers_[index];
          if (!DecodeBase64(text, bytes)) {
            error = "column " + column.name + ": not base64";
            return false;
          }
          if (column.kind == ValueKind::kDecimal) {
            std::string& decimal = decimal_buffers_[index];
            if (!DecimalText(bytes, column.scale, decimal)) {
              error = "column " + column.name + ": not a Connect Decimal";
              return false;
            }
            out.text = decimal;
          } else {
            out.text = bytes;
          }
          return true;
        }
        // The parser's string buffer lives until the next parse: the target uses or copies it before.
        out.text = text;
        return true;
      }
      default:
        error = "column " + column.name + ": unexpected JSON value";
        return false;
    }
  }

  // The row's values in the table's column order, into row_ (only the key columns for a delete).
  bool ToRow(const TargetTable& table, simdjson::dom::object row, bool key_only, std::string& error) {
    const size_t columns = table.columns.size();
    row_.resize(columns);
    decode_buffers_.resize(std::max(decode_buffers_.size(), columns));
    decimal_buffers_.resize(std::max(decimal_buffers_.size(), columns));
    for (size_t i = 0; i < columns; ++i) {
      const auto& column = table.columns[i];
      row_[i] = FieldValue{};
      if (key_only && table.has_key && !column.key) continue;
      simdjson::dom::element value;
      if (row[column.field].get(value)) {
        error = "the row has no field '" + column.field + "'";
        return false;
      }
      if (!ToField(i, column, value, row_[i], error)) return false;
    }
    return true;
  }

  // unavailable_[i]: column i is named in the comma-separated `names`.
  bool MarkUnavailable(const TargetTable& table, std::string_view names, std::string& error) {
    unavailable_.assign(table.columns.size(), false);
    while (!names.empty()) {
      const size_t comma = names.find(',');
      const std::string_view name = names.substr(0, comma);
      names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
      bool found = false;
      for (size_t i = 0; i < table.columns.size(); ++i) {
        if (table.columns[i].field != name) continue;
        if (table.columns[i].key) {
          error = "header sqltail.unavailable names key column " + std::string(name);
          return false;
        }
        unavailable_[i] = found = true;
      }
      if (!found && FieldKept(name)) {
        error = "header sqltail.unavailable names column " + std::string(name) + ", which table " + table.name +
                " does not have";
        return false;
      }
    }
    return true;
  }

  // The configured topic name equal to `topic`: a view that outlives the message.
  std::string_view StableTopic(std::string_view topic) const {
    for (const auto& t : options_.topics)
      if (t == topic) return t;
    if (topic == schema_topic_) return schema_topic_;
    return topic;
  }

  bool ApplyMessage(const kafka::MessageView& message, std::string& error) {
    if (!message.value) return true;  // tombstone: the delete event before it did the work
    const RowOrigin origin{StableTopic(message.topic), message.partition, message.offset};
    // Errors of the target name the row themselves (a batching target may fail on an earlier row).
    target_error_ = described_ = false;
    current_table_ = {};
    if (!(IsSchemaChange(message) ? ApplySchemaChange(message, origin, error) : ApplyEvent(message, origin, error))) {
      if (!described_ && !target_error_) error = DescribeOrigin(origin) + ": " + Where(message) + error;
      return false;
    }
    return true;
  }

  // "table T, key K: " for an event the table's row did not describe (K: the Kafka key's payload).
  std::string Where(const kafka::MessageView& message) const {
    std::string out;
    if (!current_table_.empty()) out = "table " + std::string(current_table_) + ", ";
    out += "key ";
    if (!message.key) return out + "null: ";
    std::string_view key = *message.key;
    simdjson::dom::parser parser;
    simdjson::dom::element root, payload;
    std::string text;
    if (!parser.parse(key.data(), key.size()).get(root) && !root["payload"].get(payload)) {
      text = simdjson::minify(payload);
      key = text;
    }
    return out + std::string(key.substr(0, 200)) + ": ";
  }

  bool ApplyEvent(const kafka::MessageView& message, const RowOrigin& origin, std::string& error) {
    simdjson::dom::element root;
    if (auto err = parser_.parse(message.value->data(), message.value->size()).get(root)) {
      error = std::string("the value is not JSON: ") + simdjson::error_message(err);
      return false;
    }
    simdjson::dom::element payload = root;
    simdjson::dom::element schema;
    bool enveloped = !root["payload"].get(payload) && !root["schema"].get(schema);
    if (!enveloped) payload = root;
    std::string_view op, db, schema_name, table_name;
    if (payload["op"].get(op) || payload["source"]["db"].get(db) || payload["source"]["schema"].get(schema_name) ||
        payload["source"]["table"].get(table_name)) {
      error = "not a change event (no payload.op or payload.source.db/schema/table)";
      return false;
    }
    const std::string& name = TableNameFor(message.topic, db, schema_name, table_name);
    if (name.empty()) {
      error = "apply.route.replacement gives an empty table name";
      return false;
    }
    current_table_ = name;
    if (op == "t") {
      // No key and no rows: the table is truncated by name, defined in this run or not.
      if (!target_->Truncate(name, origin, error)) {
        target_error_ = true;
        return false;
      }
      ++stats_.truncates;
      observer_->OnEvent(schema_name, table_name, op);
      return true;
    }
    TargetTable* table = target_->FindTable(name);
    if (table != nullptr && enveloped) {
      // The source's structure changed (the event's after struct has other fields or field types
      // than the one the table was defined from): define it again from this event.
      simdjson::dom::array fields;
      if (AfterFields(schema, fields) &&
          (fields.size() != table->event_fields || FieldTypesHash(fields) != table->event_types)) {
        if (!target_->ForgetTable(name, error)) {
          target_error_ = true;
          return false;
        }
        table = nullptr;
      }
    }
    if (table == nullptr) {
      if (!enveloped) {
        error = "events without a schema (schemas.enable=false) cannot create table " + name;
        return false;
      }
      std::vector<std::string> key_fields;
      if (message.key) {
        simdjson::dom::element key_root;
        simdjson::dom::array key_schema_fields;
        if (!key_parser_.parse(message.key->data(), message.key->size()).get(key_root) &&
            !key_root["schema"]["fields"].get(key_schema_fields)) {
          for (simdjson::dom::element f : key_schema_fields) {
            std::string_view field;
            if (!f["field"].get(field)) key_fields.emplace_back(field);
          }
        }
      }
      if (!DefineFromSchema(schema, name, key_fields, origin, error)) {
        // EvolveTable's errors name the event already.
        if (error.rfind(DescribeOrigin(origin), 0) != 0) error = DescribeOrigin(origin) + ": " + Where(message) + error;
        described_ = true;
        return false;
      }
      table = target_->FindTable(name);
    }
    if (op == "c" || op == "r" || op == "u") {
      simdjson::dom::object after;
      if (payload["after"].get(after)) {
        error = "op '" + std::string(op) + "' without an after image";
        return false;
      }
      // Columns the log did not determine (header sqltail.unavailable, docs/events.md) keep their
      // current values in the target. A new row has none to keep: writing it would put placeholders
      // in the target, so it is a bad event (capture.off_row_values = unavailable makes them).
      const std::optional<std::string_view> unavailable = kafka::FindHeader(message, "sqltail.unavailable");
      const bool partial = unavailable && !unavailable->empty();
      if (partial && op != "u") {
        error = "op '" + std::string(op) +
                "' with columns the log did not hold (header sqltail.unavailable: " + std::string(*unavailable) +
                "): a new row cannot be written without them";
        return false;
      }
      if (op == "u" && !table->has_key && !partial) {
        // Without a key the row is found by its old values: one row equal to `before` goes, and
        // `after` comes in its place (an upsert of a keyless table only inserts).
        simdjson::dom::object before;
        if (payload["before"].get(before)) {
          error = "an update of a table without a key has no before image";
          return false;
        }
        if (!ToRow(*table, before, true, error)) return false;
        if (!target_->Delete(*table, row_, origin, error)) {
          target_error_ = true;
          return false;
        }
      }
      if (!ToRow(*table, after, false, error)) return false;
      if (partial) {
        if (!MarkUnavailable(*table, *unavailable, error)) return false;
        if (!target_->UpdateKnownColumns(*table, row_, unavailable_, origin, error)) {
          target_error_ = true;
          return false;
        }
      } else if (!target_->Upsert(*table, row_, origin, error)) {
        target_error_ = true;
        return false;
      }
      ++stats_.upserts;
      observer_->OnEvent(schema_name, table_name, op);
      return true;
    }
    if (op == "d") {
      simdjson::dom::object before;
      if (payload["before"].get(before)) {
        error = "delete without a before image";
        return false;
      }
      if (!ToRow(*table, before, true, error)) return false;
      if (!target_->Delete(*table, row_, origin, error)) {
        target_error_ = true;
        return false;
      }
      ++stats_.deletes;
      observer_->OnEvent(schema_name, table_name, op);
      return true;
    }
    error = "op '" + std::string(op) + "' is not supported yet";
    return false;
  }

  const ApplyOptions& options_;
  ApplyStats& stats_;
  std::unique_ptr<Target> target_;
  std::vector<kafka::PartitionStart> starts_;  // see Run
  simdjson::dom::parser parser_, key_parser_;
  std::vector<FieldValue> row_;
  std::vector<bool> unavailable_;                              // per column of the current event's table
  std::vector<std::string> decode_buffers_, decimal_buffers_;  // per column, reused
  bool target_error_ = false;                                  // the target failed (its transaction may be lost)
  bool described_ = false;  // the error already names topic, partition, offset, table and key
  std::string_view current_table_;
  std::string schema_table_;                     // current_table_ of a schema change event
  std::vector<EventTableChange> table_changes_;  // of the schema change event being applied, reused
  std::string schema_topic_;                     // the schema change topic read; empty: none
  struct Owner {
    std::string topic;                         // kOwnerTopicPrefix and the hash of apply.topics
    int64_t stored = kafka::kOffsetBeginning;  // the owner row as last loaded or committed (negative: none)
  } owner_;
  EncoderOptions type_modes_;  // the capture's type mapping (apply.*_mode)
  ServiceObserver* observer_ = &NoServiceObserver();
  std::function<void(const std::string&)> log_;
  std::optional<std::regex> route_;
  std::vector<std::pair<std::string, std::string>> routes_;  // topic -> routed table ("" = no match)
  std::string table_name_;                                   // table_name_format's result, reused
  bool dead_letter_ = false;
  std::unique_ptr<kafka::TransactionalProducer> dlq_;
  std::vector<Progress> careful_until_;        // per partition: apply events before this offset alone
  std::vector<Progress> one_;                  // the progress ApplyAlone saved
  std::vector<Progress> careful_pending_;      // ApplyAlone's progress not saved yet (ordered apply)
  std::vector<Progress> dead_in_transaction_;  // dead-lettered in the open transaction (next_offset = offset)
};

}  // namespace

bool RunApply(const ApplyOptions& options, const std::atomic<bool>& stop, ApplyStats& stats, std::string& error,
              const std::function<void(const std::string&)>& log, ServiceObserver& observer) {
  Applier applier(options, stats);
  return applier.Run(stop, error, log, observer);
}

}  // namespace sqltail::engine
