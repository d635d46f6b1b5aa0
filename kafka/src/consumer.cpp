#include "sqltail/kafka/consumer.h"

#include <algorithm>
#include <array>
#include <utility>

#include "rdkafka_support.h"

namespace sqltail::kafka {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::string_view> Bytes(const void* data, size_t size) {
  if (data == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(data), size);
}

}  // namespace

std::optional<std::string_view> FindHeader(const MessageView& message, std::string_view name) {
  if (message.native == nullptr) return std::nullopt;
  rd_kafka_headers_t* headers = nullptr;
  auto* native = static_cast<rd_kafka_message_t*>(const_cast<void*>(message.native));
  if (rd_kafka_message_headers(native, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  std::string name_text(name);
  if (rd_kafka_header_get_last(headers, name_text.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return value == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(value), size);
}

void VisitHeaders(const MessageView& message,
                  const std::function<void(std::string_view name, std::optional<std::string_view> value)>& visit) {
  if (message.native == nullptr) return;
  rd_kafka_headers_t* headers = nullptr;
  auto* native = static_cast<rd_kafka_message_t*>(const_cast<void*>(message.native));
  if (rd_kafka_message_headers(native, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    visit(name, value == nullptr
                    ? std::nullopt
                    : std::optional<std::string_view>(std::string_view(static_cast<const char*>(value), size)));
  }
}

struct Consumer::State {
  Config config;
  detail::HandlePtr handle;
  // Messages whose views the caller may still hold; destroyed at the next poll.
  std::vector<rd_kafka_message_t*> held;
  RebalanceHandler on_rebalance;  // Subscribe's; empty: rebalances take librdkafka's offsets
  uint64_t rebalances = 0;        // counted, so PollBatch sees one happen during a call
  KafkaError rebalance_error;     // an assign that failed inside the callback, for the next poll

  static void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list,
                          void* opaque) {
    auto* state = static_cast<State*>(opaque);
    ++state->rebalances;
    const bool assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    std::vector<PartitionStart> partitions;
    partitions.reserve(static_cast<size_t>(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
      partitions.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
    }
    if (state->on_rebalance) state->on_rebalance(assigned, partitions);
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (assigned) {
      for (int i = 0; i < list->cnt && i < static_cast<int>(partitions.size()); ++i) {
        list->elems[i].offset = partitions[static_cast<size_t>(i)].offset;
      }
      result = rd_kafka_assign(handle, list);
    } else {
      result = rd_kafka_assign(handle, nullptr);
    }
    if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
      state->rebalance_error =
          detail::FromCode(result, detail::Where(assigned ? "rebalance assign" : "rebalance revoke", state->config));
    }
  }

  MessageView View(const rd_kafka_message_t& message) const {
    MessageView view;
    view.topic = message.rkt != nullptr ? std::string_view(rd_kafka_topic_name(message.rkt)) : std::string_view();
    view.partition = message.partition;
    view.offset = message.offset;
    view.key = Bytes(message.key, message.key_len);
    view.value = Bytes(message.payload, message.len);
    rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    int64_t timestamp = rd_kafka_message_timestamp(&message, &timestamp_type);
    view.timestamp_ms = timestamp_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : timestamp;
    view.native = &message;
    return view;
  }

  KafkaError MessageError(const rd_kafka_message_t& message) const {
    std::string extra;
    if (message.rkt != nullptr) {
      extra =
          "topic=" + std::string(rd_kafka_topic_name(message.rkt)) + ", partition=" + std::to_string(message.partition);
    }
    std::string where = detail::Where("consume", config, extra);
    if (message.err == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> reason{};
      rd_kafka_resp_err_t code = rd_kafka_fatal_error(handle.get(), reason.data(), reason.size());
      return detail::FromCode(code, where, reason.data()).SetFatal();
    }
    // Other consumer errors are reports (broker down, unknown partition...); librdkafka keeps trying.
    return detail::FromCode(message.err, where, rd_kafka_message_errstr(&message)).SetRetriable();
  }
};

Consumer::Consumer(const Config& config) : state_(std::make_unique<State>()) {
  state_->config = config;
  const std::string where = detail::Where("create consumer", config);
  // librdkafka 2.0 stops fetching a partition whose local queue is over queued.max.messages.kbytes
  // and looks again only about a second later (2.1 made that fetch.queue.backoff.ms). The applier
  // drains 64 MB (about 23,000 events with schemas) in a fraction of that second, so with the
  // library's default it sat idle most of a catch-up; 256 MB and 4 MiB fetches keep it fed.
  const std::map<std::string, std::string> defaults = {
      {"group.id", "sqltail-assign-only"},
      {"queued.max.messages.kbytes", "262144"},
      {"max.partition.fetch.bytes", "4194304"},
  };
  const std::map<std::string, std::string> forced = {
      {"isolation.level", "read_committed"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
  };
  detail::ConfPtr conf = detail::BuildConf(config, defaults, forced, where);
  rd_kafka_conf_set_opaque(conf.get(), state_.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &State::OnRebalance);
  state_->handle = detail::CreateHandle(RD_KAFKA_CONSUMER, std::move(conf), where);
  // One queue for messages and events, served by rd_kafka_consumer_poll.
  rd_kafka_poll_set_consumer(state_->handle.get());
  state_->held.reserve(1024);
}

Consumer::~Consumer() {
  // Closing leaves the group with a last revoke: the handler's owner may be gone by now.
  state_->on_rebalance = nullptr;
  ReleaseHeldMessages();
  rd_kafka_consumer_close(state_->handle.get());
}

void Consumer::ReleaseHeldMessages() {
  for (rd_kafka_message_t* message : state_->held)
    if (message != nullptr) rd_kafka_message_destroy(message);  // null: retained
  state_->held.clear();
}

RetainedMessage Consumer::Retain(const MessageView& message) {
  auto& held = state_->held;
  if (message.held_slot >= held.size() || held[message.held_slot] != message.native) {
    return RetainedMessage(message);  // not of the last poll (or retained already): nothing to own
  }
  held[message.held_slot] = nullptr;
  return RetainedMessage(message, const_cast<void*>(message.native));
}

RetainedMessage& RetainedMessage::operator=(RetainedMessage&& other) noexcept {
  if (this != &other) {
    if (owned_ != nullptr) rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(owned_));
    view_ = other.view_;
    owned_ = other.owned_;
    other.owned_ = nullptr;
  }
  return *this;
}

RetainedMessage::~RetainedMessage() {
  if (owned_ != nullptr) rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(owned_));
}

KafkaError Consumer::Assign(std::span<const PartitionStart> partitions) {
  std::string names;
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const PartitionStart& start : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), start.topic.c_str(), start.partition)->offset = start.offset;
    if (names.size() < 200) names += (names.empty() ? "" : ",") + start.topic + "/" + std::to_string(start.partition);
  }
  return detail::FromCode(rd_kafka_assign(state_->handle.get(), list.get()),
                          detail::Where("assign", state_->config, "partitions=" + names));
}

KafkaError Consumer::Subscribe(std::span<const std::string> topics, RebalanceHandler handler) {
  const std::string where = detail::Where("subscribe", state_->config);
  auto strategy = state_->config.properties.find("partition.assignment.strategy");
  if (strategy != state_->config.properties.end() && strategy->second.find("cooperative") != std::string::npos) {
    return KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, "_INVALID_ARG",
                      "partition.assignment.strategy " + strategy->second +
                          ": only eager strategies (range, roundrobin) are supported",
                      where);
  }
  state_->on_rebalance = std::move(handler);
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  return detail::FromCode(rd_kafka_subscribe(state_->handle.get(), list.get()), where);
}

KafkaError Consumer::Seek(std::span<const PartitionStart> partitions, std::chrono::milliseconds timeout) {
  if (partitions.empty()) return {};
  const std::string where = detail::Where("seek", state_->config);
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const PartitionStart& start : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), start.topic.c_str(), start.partition)->offset = start.offset;
  }
  rd_kafka_error_t* error = rd_kafka_seek_partitions(state_->handle.get(), list.get(), detail::TimeoutMs(timeout));
  if (error != nullptr) {
    KafkaError result = detail::FromCode(rd_kafka_error_code(error), where, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return result;
  }
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return detail::FromCode(list->elems[i].err, where,
                              std::string(list->elems[i].topic) + "/" + std::to_string(list->elems[i].partition));
    }
  }
  return {};
}

namespace {
KafkaError PauseOrResume(rd_kafka_t* handle, const Config& config, std::span<const TopicPartition> partitions,
                         bool pause) {
  if (partitions.empty()) return {};
  const std::string where = detail::Where(pause ? "pause" : "resume", config);
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& p : partitions)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition);
  const rd_kafka_resp_err_t code =
      pause ? rd_kafka_pause_partitions(handle, list.get()) : rd_kafka_resume_partitions(handle, list.get());
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) return detail::FromCode(code, where);
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return detail::FromCode(list->elems[i].err, where,
                              std::string(list->elems[i].topic) + "/" + std::to_string(list->elems[i].partition));
    }
  }
  return {};
}
}  // namespace

KafkaError Consumer::Pause(std::span<const TopicPartition> partitions) {
  return PauseOrResume(state_->handle.get(), state_->config, partitions, true);
}

KafkaError Consumer::Resume(std::span<const TopicPartition> partitions) {
  return PauseOrResume(state_->handle.get(), state_->config, partitions, false);
}

PollResult Consumer::Poll(std::chrono::milliseconds timeout) {
  ReleaseHeldMessages();
  PollResult result;
  rd_kafka_message_t* message = rd_kafka_consumer_poll(state_->handle.get(), detail::TimeoutMs(timeout));
  if (message == nullptr) return result;
  state_->held.push_back(message);
  result.message = state_->View(*message);
  result.message.held_slot = state_->held.size() - 1;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    result.kind = PollResult::Kind::kMessage;
  } else if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    result.kind = PollResult::Kind::kPartitionEnd;
    result.message.key.reset();
    result.message.value.reset();
  } else {
    result.kind = PollResult::Kind::kError;
    result.error = state_->MessageError(*message);
  }
  return result;
}

KafkaError Consumer::PollBatch(std::chrono::milliseconds timeout, std::size_t max_messages,
                               std::vector<MessageView>& messages) {
  ReleaseHeldMessages();
  messages.clear();
  const Clock::time_point deadline = Clock::now() + timeout;
  while (messages.size() < max_messages) {
    // Wait for the first message only; after that take what is already fetched.
    std::chrono::milliseconds wait(0);
    if (messages.empty()) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (wait.count() < 0) wait = std::chrono::milliseconds(0);
    }
    const uint64_t rebalances = state_->rebalances;
    rd_kafka_message_t* message = rd_kafka_consumer_poll(state_->handle.get(), detail::TimeoutMs(wait));
    if (!state_->rebalance_error.ok()) {
      if (message != nullptr) state_->held.push_back(message);
      return std::exchange(state_->rebalance_error, KafkaError());
    }
    // Fetched before the rebalance: their partitions restart where the handler said.
    if (state_->rebalances != rebalances) messages.clear();
    if (message == nullptr) {
      if (!messages.empty() || Clock::now() >= deadline) break;
      continue;
    }
    state_->held.push_back(message);
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      messages.push_back(state_->View(*message));
      messages.back().held_slot = state_->held.size() - 1;
    } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      return state_->MessageError(*message);
    }
  }
  return {};
}

Result<std::vector<int32_t>> Consumer::ListPartitions(std::string_view topic_name, std::chrono::milliseconds timeout) {
  const std::string name(topic_name);
  const std::string where = detail::Where("list_partitions", state_->config, "topic=" + name);
  detail::TopicPtr topic(rd_kafka_topic_new(state_->handle.get(), name.c_str(), nullptr));
  if (!topic) return detail::FromCode(rd_kafka_last_error(), where);
  const rd_kafka_metadata_t* raw_metadata = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(state_->handle.get(), 0, topic.get(), &raw_metadata, detail::TimeoutMs(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return detail::FromCode(err, where)
        .SetRetriable(err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                      // A topic created a moment ago has no elected leader yet.
                      err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                      err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  }
  detail::MetadataPtr metadata(raw_metadata);
  if (metadata->topic_cnt != 1) return detail::FromCode(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, where);
  const rd_kafka_metadata_topic_t& topic_metadata = metadata->topics[0];
  if (topic_metadata.err != RD_KAFKA_RESP_ERR_NO_ERROR) return detail::FromCode(topic_metadata.err, where);
  if (topic_metadata.partition_cnt == 0) return detail::FromCode(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, where);
  std::vector<int32_t> partitions;
  partitions.reserve(topic_metadata.partition_cnt);
  for (int partition_idx = 0; partition_idx < topic_metadata.partition_cnt; ++partition_idx) {
    partitions.push_back(topic_metadata.partitions[partition_idx].id);
  }
  std::sort(partitions.begin(), partitions.end());
  return partitions;
}

Result<Watermarks> Consumer::QueryWatermarks(std::string_view topic_name, int32_t partition,
                                             std::chrono::milliseconds timeout) {
  const std::string name(topic_name);
  Watermarks watermarks;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
      state_->handle.get(), name.c_str(), partition, &watermarks.low, &watermarks.high, detail::TimeoutMs(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return detail::FromCode(err, detail::Where("query_watermarks", state_->config,
                                               "topic=" + name + ", partition=" + std::to_string(partition)))
        .SetRetriable(err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                      // A topic created a moment ago has no elected leader yet.
                      err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                      err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  }
  return watermarks;
}

}  // namespace sqltail::kafka
