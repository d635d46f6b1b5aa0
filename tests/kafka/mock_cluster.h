// Test helper: an in-process librdkafka mock cluster (librdkafka 2.0.2's rdkafka_mock.h).
// The mock speaks the transactional protocol but writes no commit/abort markers, so read_committed
// filtering and fencing are only tested against a real broker (kafka_broker_test).
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <stdexcept>
#include <string>

namespace sqltail::kafka::testing {

// Kafka protocol API keys (librdkafka keeps its RD_KAFKAP_* names in a private header).
inline constexpr int16_t kApiProduce = 0;
inline constexpr int16_t kApiInitProducerId = 22;
inline constexpr int16_t kApiAddPartitionsToTxn = 24;
inline constexpr int16_t kApiEndTxn = 26;

class MockCluster {
 public:
  explicit MockCluster(int broker_count = 1) {
    std::array<char, 256> errstr{};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr.data(), errstr.size());
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
    if (owner_ == nullptr) throw std::runtime_error(errstr.data());
    cluster_ = rd_kafka_mock_cluster_new(owner_, broker_count);
    if (cluster_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(owner_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstrap_servers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  rd_kafka_mock_cluster_t* get() const { return cluster_; }

  void CreateTopic(const std::string& name, int partitions) {
    if (rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("mock topic create failed: " + name);
    }
  }

 private:
  rd_kafka_t* owner_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

}  // namespace sqltail::kafka::testing
