#include "sqltail/kafka/transactional_producer.h"

#include <array>
#include <functional>
#include <unordered_map>

#include "rdkafka_support.h"

namespace sqltail::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct TopicNameHash {
  using is_transparent = void;  // lookups by string_view without building a std::string
  std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};

std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

}  // namespace

struct TransactionalProducer::State {
  Config config;
  std::string transactional_id;
  detail::HandlePtr handle;
  // Declared after handle so the topic handles are destroyed first.
  std::unordered_map<std::string, detail::TopicPtr, TopicNameHash, std::equal_to<>> topics;
  uint64_t failed_deliveries = 0;
  KafkaError first_delivery_error;

  std::string Where(std::string_view operation, std::string_view extra = {}) const {
    std::string context = "transactional.id=" + transactional_id;
    if (!extra.empty()) {
      context += ", ";
      context += extra;
    }
    return detail::Where(operation, config, context);
  }

  // The producer's fatal error, if librdkafka raised one (fenced, unrecoverable idempotence state...).
  KafkaError FatalError(std::string_view operation) const {
    std::array<char, 512> reason{};
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(handle.get(), reason.data(), reason.size());
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    return detail::FromCode(code, Where(operation), reason.data()).SetFatal();
  }

  void ResetDeliveryErrors() {
    failed_deliveries = 0;
    first_delivery_error = KafkaError();
  }

  rd_kafka_topic_t* Topic(std::string_view name) {
    auto found = topics.find(name);
    if (found != topics.end()) return found->second.get();
    std::string owned(name);
    rd_kafka_topic_t* topic = rd_kafka_topic_new(handle.get(), owned.c_str(), nullptr);
    if (topic == nullptr) return nullptr;
    topics.emplace(std::move(owned), detail::TopicPtr(topic));
    return topic;
  }

  static void OnDelivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* state = static_cast<State*>(opaque);
    if (state->failed_deliveries++ == 0) {
      std::string extra = "topic=" + std::string(rd_kafka_topic_name(message->rkt)) +
                          ", partition=" + std::to_string(message->partition);
      state->first_delivery_error = detail::FromCode(message->err, state->Where("delivery", extra));
    }
  }
};

TransactionalProducer::TransactionalProducer(const Config& config, std::string transactional_id)
    : state_(std::make_unique<State>()) {
  state_->config = config;
  state_->transactional_id = std::move(transactional_id);
  const std::string where = state_->Where("create producer");
  const std::map<std::string, std::string> defaults = {
      {"linger.ms", "20"},
      {"batch.num.messages", "10000"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.messages", "500000"},
      // Bounds the memory of undelivered messages (librdkafka's default is 1 GB): a capture produces
      // a large source transaction faster than the broker acknowledges it; Produce then waits.
      {"queue.buffering.max.kbytes", "65536"},
  };
  const std::map<std::string, std::string> forced = {
      {"transactional.id", state_->transactional_id},
      {"enable.idempotence", "true"},
  };
  detail::ConfPtr conf = detail::BuildConf(config, defaults, forced, where);
  rd_kafka_conf_set_opaque(conf.get(), state_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &State::OnDelivery);
  state_->handle = detail::CreateHandle(RD_KAFKA_PRODUCER, std::move(conf), where);
}

TransactionalProducer::~TransactionalProducer() = default;

const std::string& TransactionalProducer::transactional_id() const { return state_->transactional_id; }

uint64_t TransactionalProducer::failed_deliveries() const { return state_->failed_deliveries; }

void TransactionalProducer::Poll(std::chrono::milliseconds timeout) {
  rd_kafka_poll(state_->handle.get(), detail::TimeoutMs(timeout));
}

KafkaError TransactionalProducer::InitTransactions(std::chrono::milliseconds timeout) {
  return detail::FromError(rd_kafka_init_transactions(state_->handle.get(), detail::TimeoutMs(timeout)),
                           state_->Where("init_transactions"));
}

KafkaError TransactionalProducer::BeginTransaction() {
  state_->ResetDeliveryErrors();
  return detail::FromError(rd_kafka_begin_transaction(state_->handle.get()), state_->Where("begin_transaction"));
}

KafkaError TransactionalProducer::Produce(std::string_view topic_name, int32_t partition,
                                          std::optional<std::string_view> key, std::optional<std::string_view> value,
                                          std::span<const MessageHeader> headers) {
  rd_kafka_t* handle = state_->handle.get();
  rd_kafka_topic_t* topic = state_->Topic(topic_name);
  auto where = [&] {
    return state_->Where("produce", "topic=" + std::string(topic_name) + ", partition=" + std::to_string(partition));
  };
  if (topic == nullptr) {
    return detail::FromCode(rd_kafka_last_error(), where()).SetTxnRequiresAbort();
  }
  const Clock::time_point deadline = Clock::now() + queue_full_timeout_;
  while (true) {
    // librdkafka takes ownership of the header list only when the call succeeds.
    rd_kafka_headers_t* header_list = nullptr;
    if (!headers.empty()) {
      header_list = rd_kafka_headers_new(headers.size());
      for (const MessageHeader& header : headers) {
        rd_kafka_header_add(header_list, header.name.data(), static_cast<ssize_t>(header.name.size()),
                            header.value ? header.value->data() : nullptr,
                            header.value ? static_cast<ssize_t>(header.value->size()) : 0);
      }
    }
    // RD_KAFKA_MSG_F_COPY: librdkafka copies the payload into its message allocation (the key is always
    // copied), so the caller's buffers are free on return.
    // (The RD_KAFKA_V_* macros cast their arguments unparenthesised, so pass plain variables.)
    const void* key_data = key ? key->data() : nullptr;
    const size_t key_size = key ? key->size() : 0;
    void* value_data = value ? const_cast<char*>(value->data()) : nullptr;  // not modified: F_COPY
    const size_t value_size = value ? value->size() : 0;
    rd_kafka_resp_err_t err =
        rd_kafka_producev(handle, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key_data, key_size),
                          RD_KAFKA_V_VALUE(value_data, value_size), RD_KAFKA_V_HEADERS(header_list), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_poll(handle, 0);  // serve delivery reports without waiting
      return {};
    }
    if (header_list != nullptr) rd_kafka_headers_destroy(header_list);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
      // Queue full: deliver what is queued, then try again.
      rd_kafka_poll(handle, 10);
      continue;
    }
    if (KafkaError fatal = state_->FatalError("produce"); !fatal.ok()) return fatal;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return detail::FromCode(err, where(), "local producer queue still full after the queue-full timeout")
          .SetRetriable();
    }
    // The message is not in the transaction; committing would silently drop it.
    return detail::FromCode(err, where()).SetTxnRequiresAbort();
  }
}

KafkaError TransactionalProducer::CommitTransaction(std::chrono::milliseconds timeout) {
  rd_kafka_t* handle = state_->handle.get();
  const Clock::time_point deadline = Clock::now() + timeout;
  // Flush first so every delivery report of this transaction has been seen before deciding to commit.
  rd_kafka_resp_err_t flushed = rd_kafka_flush(handle, detail::TimeoutMs(timeout));
  if (KafkaError fatal = state_->FatalError("commit_transaction"); !fatal.ok()) return fatal;
  if (state_->failed_deliveries > 0) {
    const KafkaError& first = state_->first_delivery_error;
    return KafkaError(first.code(), first.name(),
                      std::to_string(state_->failed_deliveries) +
                          " message(s) of the transaction failed delivery; first in " + first.where() + ": " +
                          first.message(),
                      state_->Where("commit_transaction"))
        .SetTxnRequiresAbort();
  }
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return detail::FromCode(flushed, state_->Where("commit_transaction"),
                            "messages still in flight when the commit timeout passed")
        .SetRetriable();
  }
  return detail::FromError(rd_kafka_commit_transaction(handle, detail::TimeoutMs(Remaining(deadline))),
                           state_->Where("commit_transaction"));
}

KafkaError TransactionalProducer::AbortTransaction(std::chrono::milliseconds timeout) {
  KafkaError error = detail::FromError(rd_kafka_abort_transaction(state_->handle.get(), detail::TimeoutMs(timeout)),
                                       state_->Where("abort_transaction"));
  if (error.ok()) {
    rd_kafka_poll(state_->handle.get(), 0);  // purged messages report here; they belong to the aborted transaction
    state_->ResetDeliveryErrors();
  }
  return error;
}

}  // namespace sqltail::kafka
