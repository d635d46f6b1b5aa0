#include "sqltail/kafka/admin.h"

#include <array>
#include <thread>
#include <vector>

#include "rdkafka_support.h"

namespace sqltail::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const { rd_kafka_AdminOptions_destroy(options); }
};

// Empty when metadata shows the topic with a leader for every partition, else why not.
std::string TopicNotReadyReason(const rd_kafka_metadata_t& metadata, const std::string& name) {
  for (int topic_idx = 0; topic_idx < metadata.topic_cnt; ++topic_idx) {
    const rd_kafka_metadata_topic_t& topic = metadata.topics[topic_idx];
    if (name != topic.topic) continue;
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) return rd_kafka_err2name(topic.err);
    if (topic.partition_cnt == 0) return "no partitions yet";
    for (int partition_idx = 0; partition_idx < topic.partition_cnt; ++partition_idx) {
      if (topic.partitions[partition_idx].leader < 0) {
        return "partition " + std::to_string(topic.partitions[partition_idx].id) + " has no leader";
      }
    }
    return {};
  }
  return "not in metadata";
}

}  // namespace

struct Admin::State {
  Config config;
  detail::HandlePtr handle;
};

Admin::Admin(const Config& config) : state_(std::make_unique<State>()) {
  state_->config = config;
  const std::string where = detail::Where("create admin client", config);
  state_->handle = detail::CreateHandle(RD_KAFKA_PRODUCER, detail::BuildConf(config, {}, {}, where), where);
}

Admin::~Admin() = default;

KafkaError Admin::EnsureTopics(std::span<const TopicSpec> topics, std::chrono::milliseconds timeout) {
  if (topics.empty()) return {};
  rd_kafka_t* handle = state_->handle.get();
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string names;
  for (const TopicSpec& spec : topics) names += (names.empty() ? "" : ",") + spec.name;
  const std::string where = detail::Where("create_topics", state_->config, "topics=" + names);

  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> new_topics;
  std::vector<rd_kafka_NewTopic_t*> new_topic_ptrs;
  std::array<char, 512> errstr{};
  for (const TopicSpec& spec : topics) {
    rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, spec.replication_factor,
                                                           errstr.data(), errstr.size());
    if (new_topic == nullptr) {
      return detail::FromCode(RD_KAFKA_RESP_ERR__INVALID_ARG, where, spec.name + ": " + errstr.data());
    }
    new_topics.emplace_back(new_topic);
    new_topic_ptrs.push_back(new_topic);
    for (const auto& [name, value] : spec.configs) {
      if (rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(new_topic, name.c_str(), value.c_str())) {
        return detail::FromCode(err, where, spec.name + ": config " + name + "=" + value);
      }
    }
  }

  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
      rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const int timeout_ms = detail::TimeoutMs(timeout);
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr.data(), errstr.size());
  // Let the controller finish creating the topics before it answers.
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, errstr.data(), errstr.size());

  detail::QueuePtr queue(rd_kafka_queue_new(handle));
  rd_kafka_CreateTopics(handle, new_topic_ptrs.data(), new_topic_ptrs.size(), options.get(), queue.get());
  detail::EventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) return detail::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, where).SetRetriable();
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get())) {
    return detail::FromCode(err, where, rd_kafka_event_error_string(event.get()))
        .SetRetriable(err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT);
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t result_count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &result_count);
  for (size_t result_idx = 0; result_idx < result_count; ++result_idx) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[result_idx]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* message = rd_kafka_topic_result_error_string(results[result_idx]);
    return detail::FromCode(err, where,
                            std::string(rd_kafka_topic_result_name(results[result_idx])) + ": " +
                                (message != nullptr ? message : rd_kafka_err2str(err)));
  }

  // CreateTopics returns when the controller has the topics; brokers learn them a little later.
  std::string not_ready;
  while (true) {
    const rd_kafka_metadata_t* raw_metadata = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 1, nullptr, &raw_metadata, 5000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      detail::MetadataPtr metadata(raw_metadata);
      not_ready.clear();
      for (const TopicSpec& spec : topics) {
        std::string reason = TopicNotReadyReason(*metadata, spec.name);
        if (!reason.empty()) {
          not_ready = spec.name + ": " + reason;
          break;
        }
      }
      if (not_ready.empty()) return {};
    } else {
      not_ready = std::string("metadata request failed: ") + rd_kafka_err2name(err);
    }
    if (Clock::now() >= deadline) {
      return detail::FromCode(RD_KAFKA_RESP_ERR__TIMED_OUT, where, "topics not ready in metadata: " + not_ready)
          .SetRetriable();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<ClusterMetadata> Admin::DescribeCluster(std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw_metadata = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(state_->handle.get(), 1, nullptr, &raw_metadata, detail::TimeoutMs(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return detail::FromCode(err, detail::Where("metadata", state_->config))
        .SetRetriable(err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT);
  }
  detail::MetadataPtr metadata(raw_metadata);
  ClusterMetadata out;
  for (int broker_idx = 0; broker_idx < metadata->broker_cnt; ++broker_idx) {
    const rd_kafka_metadata_broker_t& broker = metadata->brokers[broker_idx];
    out.brokers.push_back(std::to_string(broker.id) + "@" + (broker.host != nullptr ? broker.host : "?") + ":" +
                          std::to_string(broker.port));
  }
  for (int topic_idx = 0; topic_idx < metadata->topic_cnt; ++topic_idx) {
    if (metadata->topics[topic_idx].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      out.topics.emplace_back(metadata->topics[topic_idx].topic);
  }
  return out;
}

}  // namespace sqltail::kafka
