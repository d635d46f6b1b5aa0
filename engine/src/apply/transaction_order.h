// Puts the events of several topics and partitions back into source commit order, whole source
// transactions at a time, using the Debezium transaction metadata topic (`<prefix>.transaction`).
//
// Kafka orders events per partition only; a source transaction that touches two tables lands in two
// topics, and a consumer interleaves partitions as fetches arrive. The capture writes BEGIN and END
// events on the single-partition transaction topic in commit order, in the same Kafka transaction as
// the data, and END says how many events each table got. So: transactions are taken in the order of
// the transaction topic; the data events of each are held until all of them that this applier reads
// have arrived (END's per-table counts, restricted to the topics read), then released ordered by
// `total_order`. Per partition, release order is offset order (a partition's events are in commit
// order), so the progress stored per partition always describes a prefix of whole transactions.
//
// Events that belong to no transaction (snapshot `r` events, events of producers without transaction
// metadata) are released as soon as nothing earlier of their partition is held. A tombstone belongs to
// its delete's transaction but is not counted in END; one read after its transaction was released is
// released on its own. Transaction ids are commit LSNs ("0000004c:00006999:0003", fixed width), so
// an id below the last released one is late, not future.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "sqltail/kafka/consumer.h"

namespace sqltail::engine {

struct OrderedMessage {
  kafka::RetainedMessage message;
  bool control = false;  // a transaction-topic event: progress only, nothing to apply
  bool ends = false;     // the last message of a source transaction (or a standalone event)
  std::string txn_id;    // set on the END that ends a source transaction
};

class TransactionOrder {
 public:
  // transaction_topic: the `<prefix>.transaction` topic; data_topics: the change-event topics read.
  // Data topic of a data collection `<db>.<schema>.<table>`: `<prefix>.<db>.<schema>.<table>`.
  TransactionOrder(std::string transaction_topic, const std::vector<std::string>& data_topics,
                   size_t max_buffered_events);
  // The `<prefix>` of a transaction topic (the name without ".transaction").
  static std::string TopicPrefix(std::string_view transaction_topic);

  // Events of `topic` (the schema change topic) belong to no transaction whatever their headers or
  // payload say: each is released as soon as nothing earlier of its partition is held.
  void SetStandaloneTopic(std::string topic) { standalone_topic_ = std::move(topic); }
  // Takes one polled message. False with `error` for an unreadable transaction event.
  bool Add(kafka::RetainedMessage message, std::string& error);
  // Moves every message that may be applied now, in order, to the end of `out`.
  void Drain(std::vector<OrderedMessage>& out);
  // Forgets everything held (after a rewind to the committed progress); ids up to the last committed
  // transaction's are late from now on.
  void Clear(std::string last_committed_id);
  // The id of the last transaction released (what a target commit after it covers).
  const std::string& last_released() const { return last_released_; }
  size_t buffered() const { return buffered_; }
  const std::string& transaction_topic() const { return transaction_topic_; }
  // While more than max_buffered_events are held, the assigned partitions whose reading cannot
  // release anything (call after Drain): their events would only be held too. Pausing them bounds
  // what is held to about max_buffered_events plus a poll per partition; empty within the bound.
  // A data partition runs on while it holds nothing (the head's missing events may be in it), the
  // transaction topic while the head's END is unknown.
  void PartitionsToPause(std::span<const kafka::PartitionStart> assigned,
                         std::vector<kafka::TopicPartition>& out) const;
  // Source transactions released as they arrived because they held more than max_buffered_events:
  // their events come out before their END, in total_order of what has arrived, not marked `ends`
  // (so the applier keeps one target transaction open), and the END then ends them.
  uint64_t streamed_transactions() const { return streamed_transactions_; }
  // The id of a transaction-topic event; empty when unreadable.
  std::string IdOf(const kafka::MessageView& control);
  // What the oldest held transaction waits for (for errors and the log).
  std::string Waiting() const;

 private:
  struct Txn;
  struct Entry {
    kafka::RetainedMessage message;
    Txn* txn = nullptr;     // null: standalone
    uint64_t order = 0;     // total_order (a tombstone: its delete's)
    bool released = false;  // moved out with its transaction; leaves the partition at the front
  };
  struct Txn {
    std::string id;
    std::vector<kafka::RetainedMessage> begin, end;  // transaction-topic events (BEGIN at most once)
    std::vector<Entry*> entries;
    uint64_t needed = 0;    // events of the read topics (from END)
    uint64_t received = 0;  // non-tombstone events held
    size_t live = 0;        // entries still held
    bool ended = false;
    bool queued = false;     // seen on the transaction topic: in queue_
    bool streaming = false;  // the head, released as it arrives (StreamHead)
  };
  // Per partition: what it holds, in offset order, and the transaction of its last data event (a
  // tombstone belongs to it). Few partitions: found by a linear search, no key built per message.
  struct Partition {
    std::string topic;
    int32_t partition = 0;
    std::deque<std::unique_ptr<Entry>> entries;
    std::string last_txn;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };

  Partition& PartitionFor(std::string_view topic, int32_t partition);
  std::unique_ptr<Entry> NewEntry();
  bool AddControl(kafka::RetainedMessage message, std::string& error);
  Txn& TxnFor(std::string_view id);
  bool Late(std::string_view id) const { return !last_released_.empty() && id <= last_released_; }
  void ReleaseTxn(Txn& txn, std::vector<OrderedMessage>& out);
  void StreamHead(Txn& head, std::vector<OrderedMessage>& out);
  void PopBefore(const Txn& head, std::vector<OrderedMessage>& out);
  void ReleaseEntries(Txn& txn, std::vector<OrderedMessage>& out);
  void PopReleasedFronts();
  void PopFront(std::deque<std::unique_ptr<Entry>>& entries, std::vector<OrderedMessage>& out);
  void Forget(Txn* txn);
  static bool Before(const Entry& entry, const Txn& head);

  std::string transaction_topic_, prefix_, standalone_topic_;
  std::unordered_set<std::string> data_topics_;
  size_t max_buffered_;
  size_t buffered_ = 0;
  std::unordered_map<std::string, std::unique_ptr<Txn>, StringHash, std::equal_to<>> txns_;
  std::deque<Txn*> queue_;                            // transaction-topic order
  std::deque<Partition> partitions_;                  // a deque: references stay valid as partitions are added
  std::vector<std::unique_ptr<Entry>> free_entries_;  // reused: no allocation per event in steady state
  std::string last_released_;
  uint64_t streamed_transactions_ = 0;
  std::vector<kafka::RetainedMessage> late_control_;  // transaction events of transactions already applied
  simdjson::dom::parser parser_;
};

}  // namespace sqltail::engine
