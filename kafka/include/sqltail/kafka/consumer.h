// A read_committed consumer. The application stores its own progress (the applier keeps (topic,
// partition, offset) in the target database), so offsets are never committed to Kafka. Partitions
// come from Assign (no group membership; group.id defaults to "sqltail-assign-only", which
// librdkafka's consumer poll needs and never joins) or from Subscribe (the group named by group.id
// shares them). isolation.level=read_committed, enable.auto.commit=false and
// enable.partition.eof=true are forced. queued.max.messages.kbytes defaults to 262144
// and max.partition.fetch.bytes to 4194304 (a fed applier during catch-up, at up to about 300 MB
// more memory; see docs/benchmarks.md); both can be set with kafka.property.*.
//
// Offsets have gaps under read_committed (transaction markers and aborted records occupy offsets):
// resume from last consumed offset + 1, never count messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/kafka/config.h"
#include "sqltail/kafka/kafka_error.h"

namespace sqltail::kafka {

inline constexpr int64_t kOffsetBeginning = -2;  // librdkafka's RD_KAFKA_OFFSET_BEGINNING
inline constexpr int64_t kOffsetEnd = -1;        // RD_KAFKA_OFFSET_END

struct PartitionStart {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = kOffsetBeginning;  // the next offset to read, or kOffsetBeginning / kOffsetEnd
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
};

// Points into librdkafka's message; valid until the next Poll/PollBatch or the consumer's destruction.
struct MessageView {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string_view> key;    // nullopt = null key
  std::optional<std::string_view> value;  // nullopt = tombstone
  int64_t timestamp_ms = -1;              // -1 when the message has none
  const void* native = nullptr;           // the rd_kafka_message_t, for FindHeader
  std::size_t held_slot = 0;              // the consumer's bookkeeping (Consumer::Retain)
};

// A message kept valid past the next poll (Consumer::Retain); frees it when destroyed. One made from a
// bare view owns nothing (for tests and callers whose bytes live elsewhere).
class RetainedMessage {
 public:
  RetainedMessage() = default;
  explicit RetainedMessage(const MessageView& view, void* owned = nullptr) : view_(view), owned_(owned) {}
  RetainedMessage(RetainedMessage&& other) noexcept : view_(other.view_), owned_(other.owned_) {
    other.owned_ = nullptr;
  }
  RetainedMessage& operator=(RetainedMessage&& other) noexcept;
  RetainedMessage(const RetainedMessage&) = delete;
  RetainedMessage& operator=(const RetainedMessage&) = delete;
  ~RetainedMessage();
  const MessageView& view() const { return view_; }

 private:
  MessageView view_;
  void* owned_ = nullptr;  // rd_kafka_message_t
};

// The value of the last header named `name` (nullopt when absent; an empty view for a null value).
std::optional<std::string_view> FindHeader(const MessageView& message, std::string_view name);
// Calls `visit` for every header of the message, in order (value nullopt for a null header value).
void VisitHeaders(const MessageView& message,
                  const std::function<void(std::string_view name, std::optional<std::string_view> value)>& visit);

inline bool HasHeader(const MessageView& message, std::string_view name) {
  return FindHeader(message, name).has_value();
}

struct PollResult {
  enum class Kind {
    kNothing,       // the timeout passed
    kMessage,       // message is set
    kPartitionEnd,  // caught up: message.topic/partition set, message.offset = next offset to read
    kError,         // error is set; fatal() errors end the consumer, others are informational
  };
  Kind kind = Kind::kNothing;
  MessageView message;
  KafkaError error;
};

struct Watermarks {
  int64_t low = -1;   // first offset still stored
  int64_t high = -1;  // offset the next produced record gets (includes uncommitted and markers)
};

// A rebalance of a subscribed consumer (Consumer::Subscribe), seen inside Poll/PollBatch. Revoked:
// `partitions` go away once the handler returns (finish what uses them). Assigned: the handler sets
// each partition's start offset (kOffsetBeginning for a partition without stored progress).
using RebalanceHandler = std::function<void(bool assigned, std::vector<PartitionStart>& partitions)>;

class Consumer {
 public:
  explicit Consumer(const Config& config);  // throws KafkaException on invalid configuration
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the whole assignment.
  [[nodiscard]] KafkaError Assign(std::span<const PartitionStart> partitions);
  // Joins the consumer group (group.id) for `topics`; `handler` runs at each rebalance. Eager
  // rebalancing only (each rebalance revokes every partition, then assigns): a cooperative
  // partition.assignment.strategy is refused. Messages a PollBatch fetched before a rebalance in the
  // same call are dropped (their partitions restart where the handler says).
  [[nodiscard]] KafkaError Subscribe(std::span<const std::string> topics, RebalanceHandler handler);
  // Moves assigned partitions to the given offsets (messages fetched from the old position are
  // discarded); for a subscribed consumer, whose assignment belongs to the group.
  [[nodiscard]] KafkaError Seek(std::span<const PartitionStart> partitions, std::chrono::milliseconds timeout);
  // Stops fetching these partitions until Resume. Messages fetched but not yet polled are dropped:
  // after Resume, reading goes on with the message after the last one polled, so nothing is lost or
  // read twice. Resume only what is paused (a resume resets the fetch position). A new Assign
  // starts from its own offsets (resume what was paused before it).
  [[nodiscard]] KafkaError Pause(std::span<const TopicPartition> partitions);
  [[nodiscard]] KafkaError Resume(std::span<const TopicPartition> partitions);
  [[nodiscard]] PollResult Poll(std::chrono::milliseconds timeout);
  // Up to max_messages messages (fewer when timeout passes); partition-end events are skipped.
  // Views are valid until the next poll. Returns the first error met (messages before it are kept).
  [[nodiscard]] KafkaError PollBatch(std::chrono::milliseconds timeout, std::size_t max_messages,
                                     std::vector<MessageView>& messages);
  // Takes over a message of the last poll: it stays valid until the returned handle is destroyed.
  [[nodiscard]] RetainedMessage Retain(const MessageView& message);

  [[nodiscard]] Result<std::vector<int32_t>> ListPartitions(std::string_view topic, std::chrono::milliseconds timeout);
  [[nodiscard]] Result<Watermarks> QueryWatermarks(std::string_view topic, int32_t partition,
                                                   std::chrono::milliseconds timeout);

 private:
  void ReleaseHeldMessages();

  struct State;
  std::unique_ptr<State> state_;
};

// Returns the value of the last committed record with this key in `topic` (all partitions, read from
// the beginning with read_committed), or nullopt when there is none or the last one is a tombstone.
// Reading stops at each partition's end as librdkafka reports it (partition EOF, which under
// read_committed is the last stable offset), so trailing commit/abort markers do not make it wait.
//
// A transaction left open by a crashed producer holds the last stable offset back: records after it
// stay invisible until the broker aborts it (transaction.timeout.ms). ReadLastValue then returns the
// value as of the last stable offset (observed with librdkafka 2.0.2 and Kafka 3.9). So on restart
// call TransactionalProducer::InitTransactions with the reader's transactional.id FIRST (it fences the
// old instance and aborts its open transaction), THEN ReadLastValue. If the end is not reached within
// `timeout`, a retriable error is returned; it never waits longer.
[[nodiscard]] Result<std::optional<std::string>> ReadLastValue(
    const Config& config, std::string_view topic, std::string_view key,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Every non-null value stored under `key` in `topic`, in offset order (partitions in ascending
// order), as read_committed sees the topic up to its end now; the same contract as ReadLastValue.
[[nodiscard]] Result<std::vector<std::string>> ReadValues(const Config& config, std::string_view topic,
                                                          std::string_view key,
                                                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace sqltail::kafka
