// A librdkafka transactional producer: every message belongs to a transaction that commits or aborts
// as a whole.
//
// Call order: InitTransactions once, then { BeginTransaction, Produce..., CommitTransaction } repeatedly.
// On an error, KafkaError::Action() says what to do:
//   kRetry            call the same function again (e.g. a commit that timed out);
//   kAbortTransaction AbortTransaction(), rewind the input to where this transaction began, begin again;
//   kFatal            destroy the producer (fenced by a newer instance with the same transactional.id,
//                     or an unrecoverable broker/protocol error); the process should restart.
// Delivery failures never vanish: if any message of the transaction failed delivery, CommitTransaction
// returns an abortable error instead of committing. A failed Produce call also asks for an abort, so a
// transaction never commits with a message missing.
//
// Defaults (overridable through Config::properties): linger.ms=20, batch.num.messages=10000,
// compression.type=lz4, queue.buffering.max.messages=500000. enable.idempotence and transactional.id
// are forced.
//
// Produce copies key, value and headers into librdkafka's own message allocation
// (RD_KAFKA_MSG_F_COPY), so the caller may reuse its buffers at once; the wrapper itself allocates
// nothing per message (topic handles are cached).
//
// Not thread-safe: one thread drives a producer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sqltail/kafka/config.h"
#include "sqltail/kafka/kafka_error.h"

namespace sqltail::kafka {

// Let the partitioner choose (by key hash; librdkafka's consistent_random).
inline constexpr int32_t kUnassignedPartition = -1;

struct MessageHeader {
  std::string_view name;
  std::optional<std::string_view> value;  // nullopt = null header value
};

class TransactionalProducer {
 public:
  // Throws KafkaException when the configuration is invalid.
  TransactionalProducer(const Config& config, std::string transactional_id);
  // Destroying the producer inside an open transaction leaves that transaction to the broker, which
  // aborts it on the next InitTransactions with this transactional.id or after transaction.timeout.ms.
  ~TransactionalProducer();
  TransactionalProducer(const TransactionalProducer&) = delete;
  TransactionalProducer& operator=(const TransactionalProducer&) = delete;

  // Registers the transactional.id with the coordinator, fences older instances and aborts (or
  // completes) whatever transaction a previous instance left open.
  [[nodiscard]] KafkaError InitTransactions(std::chrono::milliseconds timeout);
  [[nodiscard]] KafkaError BeginTransaction();
  // value == nullopt produces a tombstone. Waits (serving delivery reports) while the local queue is
  // full, up to queue_full_timeout; then returns a retriable error.
  [[nodiscard]] KafkaError Produce(std::string_view topic, int32_t partition, std::optional<std::string_view> key,
                                   std::optional<std::string_view> value, std::span<const MessageHeader> headers = {});
  // Flushes, checks delivery reports, commits.
  [[nodiscard]] KafkaError CommitTransaction(std::chrono::milliseconds timeout);
  [[nodiscard]] KafkaError AbortTransaction(std::chrono::milliseconds timeout);

  // Serves delivery reports and client callbacks; Produce and Commit call it, an idle caller may too.
  void Poll(std::chrono::milliseconds timeout);

  void set_queue_full_timeout(std::chrono::milliseconds timeout) { queue_full_timeout_ = timeout; }
  const std::string& transactional_id() const;
  // Messages of the current transaction that failed delivery so far.
  uint64_t failed_deliveries() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::chrono::milliseconds queue_full_timeout_{std::chrono::seconds(30)};
};

}  // namespace sqltail::kafka
