// Test helper: sets the whole configuration of one topic (librdkafka's non-incremental AlterConfigs:
// keys not given return to the broker's defaults). Starts in milliseconds where Kafka's JVM tools
// take seconds, so a test can change a topic while a capture streams.
//
// topic_config BOOTSTRAP TOPIC [name=value ...]     (no name=value: every key back to its default)
#include <librdkafka/rdkafka.h>

#include <array>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: topic_config BOOTSTRAP TOPIC [name=value ...]\n");
    return 2;
  }
  std::array<char, 512> errstr{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "topic_config: %s\n", errstr.data());
    return 2;
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (handle == nullptr) {
    std::fprintf(stderr, "topic_config: %s\n", errstr.data());
    return 2;
  }
  rd_kafka_ConfigResource_t* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, argv[2]);
  for (int i = 3; i < argc; ++i) {
    std::string entry = argv[i];
    auto eq = entry.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "topic_config: '%s' is not name=value\n", argv[i]);
      return 2;
    }
    rd_kafka_ConfigResource_set_config(resource, entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str());
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(handle);
  rd_kafka_AlterConfigs(handle, &resource, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  int status = 0;
  if (event == nullptr) {
    std::fprintf(stderr, "topic_config: no AlterConfigs answer within 30 s\n");
    status = 1;
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "topic_config: %s\n", rd_kafka_event_error_string(event));
    status = 1;
  } else {
    size_t count = 0;
    const rd_kafka_ConfigResource_t** results =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(event), &count);
    for (size_t i = 0; i < count; ++i) {
      if (rd_kafka_ConfigResource_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::fprintf(stderr, "topic_config: %s: %s\n", argv[2], rd_kafka_ConfigResource_error_string(results[i]));
        status = 1;
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_ConfigResource_destroy(resource);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(handle);
  return status;
}
