// Internal: RAII handles over librdkafka objects, configuration building and error conversion.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "sqltail/kafka/config.h"
#include "sqltail/kafka/kafka_error.h"

namespace sqltail::kafka::detail {

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};

using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// Builds a librdkafka configuration: `defaults`, then the user's properties, then `forced`.
// bootstrap.servers comes from config.bootstrap_servers unless the properties set it (or the hidden
// test.mock.num.brokers). Logging goes to spdlog. Throws KafkaException naming the bad property.
ConfPtr BuildConf(const Config& config, const std::map<std::string, std::string>& defaults,
                  const std::map<std::string, std::string>& forced, std::string_view where);

// Creates the client; throws KafkaException. Takes ownership of conf.
HandlePtr CreateHandle(rd_kafka_type_t type, ConfPtr conf, std::string_view where);

// "bootstrap=<servers>" plus optional extra "k=v" context.
std::string Where(std::string_view operation, const Config& config, std::string_view extra = {});

KafkaError FromCode(rd_kafka_resp_err_t code, std::string_view where, std::string_view message = {});
// Converts and destroys a rd_kafka_error_t (null = success), keeping librdkafka's flags.
KafkaError FromError(rd_kafka_error_t* error, std::string_view where);

int TimeoutMs(std::chrono::milliseconds timeout);

}  // namespace sqltail::kafka::detail
