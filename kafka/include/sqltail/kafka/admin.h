// Topic administration: create what is missing, wait until the cluster's metadata shows it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sqltail/kafka/config.h"
#include "sqltail/kafka/kafka_error.h"

namespace sqltail::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = -1;                 // -1: the broker's default.replication.factor
  std::map<std::string, std::string> configs;  // e.g. {"cleanup.policy", "compact"}
};

// What one metadata request returned (sqltail check).
struct ClusterMetadata {
  std::vector<std::string> brokers;  // "id@host:port"
  std::vector<std::string> topics;   // every topic the client may see
};

class Admin {
 public:
  explicit Admin(const Config& config);  // throws KafkaException on invalid configuration
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates the topics that do not exist (an existing topic is left as it is, whatever its settings),
  // then waits until metadata lists every topic with a leader for each partition.
  // librdkafka's mock cluster does not implement CreateTopics; create mock topics directly.
  [[nodiscard]] KafkaError EnsureTopics(std::span<const TopicSpec> topics, std::chrono::milliseconds timeout);

  // One metadata request for all topics: the brokers answer, nothing is created or changed.
  [[nodiscard]] Result<ClusterMetadata> DescribeCluster(std::chrono::milliseconds timeout);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sqltail::kafka
