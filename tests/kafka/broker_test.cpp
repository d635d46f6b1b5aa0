// Real-broker tests: read_committed visibility, aborts, ReadLastValue over transaction markers, fencing.
// Run only when SQLTAIL_KAFKA_BOOTSTRAP names a broker (scripts/kafka/broker.sh start); otherwise the
// program exits with 77, which ctest reports as skipped (SKIP_RETURN_CODE).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "sqltail/kafka/admin.h"
#include "sqltail/kafka/consumer.h"
#include "sqltail/kafka/kafka_error.h"
#include "sqltail/kafka/transactional_producer.h"

using namespace sqltail::kafka;
using namespace std::chrono_literals;

namespace {

std::string g_bootstrap;
// Topic and transactional.id names are unique per run, so the tests can rerun on the same broker.
std::string g_run_suffix;

Config BrokerConfig() {
  Config config;
  config.bootstrap_servers = g_bootstrap;
  return config;
}

std::string Unique(const std::string& name) { return name + "-" + g_run_suffix; }

void RequireOk(const KafkaError& error) {
  INFO(error.ToString());
  REQUIRE(error.ok());
}

std::string EnsureTopic(const std::string& base_name, int partitions, bool compacted) {
  TopicSpec spec;
  spec.name = Unique(base_name);
  spec.partitions = partitions;
  spec.replication_factor = 1;
  if (compacted) spec.configs["cleanup.policy"] = "compact";
  Admin admin(BrokerConfig());
  RequireOk(admin.EnsureTopics({&spec, 1}, 30s));
  return spec.name;
}

std::vector<std::string> ReadCommittedValues(const std::string& topic) {
  Consumer consumer(BrokerConfig());
  const PartitionStart start{topic, 0, kOffsetBeginning};
  REQUIRE(consumer.Assign({&start, 1}).ok());
  std::vector<std::string> values;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    PollResult polled = consumer.Poll(100ms);
    if (polled.kind == PollResult::Kind::kMessage) values.emplace_back(polled.message.value.value_or("<null>"));
    if (polled.kind == PollResult::Kind::kPartitionEnd) return values;
  }
  FAIL("partition end not reached");
  return values;
}

}  // namespace

TEST_CASE("ensure_topics_creates_compacted_topic") {
  TopicSpec specs[2];
  specs[0].name = Unique("ensure-compacted");
  specs[0].partitions = 1;
  specs[0].configs["cleanup.policy"] = "compact";
  specs[1].name = Unique("ensure-plain");
  specs[1].partitions = 3;
  Admin admin(BrokerConfig());
  RequireOk(admin.EnsureTopics(specs, 30s));
  RequireOk(admin.EnsureTopics(specs, 30s));  // existing topics are fine

  Consumer consumer(BrokerConfig());
  Result<std::vector<int32_t>> partitions = consumer.ListPartitions(specs[1].name, 5s);
  REQUIRE(partitions.ok());
  CHECK(partitions.value() == std::vector<int32_t>{0, 1, 2});
  // (The mock cluster auto-creates any topic asked for, so this is checked here only.)
  Result<std::vector<int32_t>> missing = consumer.ListPartitions(Unique("no-such-topic"), 5s);
  CHECK_FALSE(missing.ok());
  CHECK(missing.error().ToString().find("no-such-topic") != std::string::npos);
}

TEST_CASE("committed_visible_aborted_invisible") {
  const std::string topic = EnsureTopic("visibility", 1, false);
  TransactionalProducer producer(BrokerConfig(), Unique("visibility-producer"));
  RequireOk(producer.InitTransactions(30s));

  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce(topic, 0, "k", "committed-1"));
  RequireOk(producer.Produce(topic, 0, "k", "committed-2"));
  RequireOk(producer.CommitTransaction(30s));

  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce(topic, 0, "k", "aborted-1"));
  RequireOk(producer.Produce(topic, 0, "k", "aborted-2"));
  producer.Poll(200ms);  // let the aborted records reach the log, so filtering is really tested
  RequireOk(producer.AbortTransaction(30s));

  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce(topic, 0, "k", "committed-3"));
  RequireOk(producer.CommitTransaction(30s));

  CHECK(ReadCommittedValues(topic) == std::vector<std::string>{"committed-1", "committed-2", "committed-3"});
}

TEST_CASE("read_last_value_stops_at_transaction_markers") {
  const std::string topic = EnsureTopic("checkpoints", 1, true);
  Config config = BrokerConfig();
  const std::string transactional_id = Unique("checkpoint-producer");
  {
    TransactionalProducer producer(config, transactional_id);
    RequireOk(producer.InitTransactions(30s));
    for (int i = 1; i <= 3; ++i) {
      RequireOk(producer.BeginTransaction());
      RequireOk(producer.Produce(topic, kUnassignedPartition, "reader", "lsn-" + std::to_string(i)));
      RequireOk(producer.Produce(topic, kUnassignedPartition, "other", "x"));
      RequireOk(producer.CommitTransaction(30s));
    }
    // The partition now ends in a commit marker.
    auto started = std::chrono::steady_clock::now();
    Result<std::optional<std::string>> last = ReadLastValue(config, topic, "reader", 20s);
    INFO(last.error().ToString());
    REQUIRE(last.ok());
    CHECK(last.value() == std::optional<std::string>("lsn-3"));
    CHECK(std::chrono::steady_clock::now() - started < 10s);

    // An aborted checkpoint must not count, and the abort marker must not make the read wait.
    RequireOk(producer.BeginTransaction());
    RequireOk(producer.Produce(topic, kUnassignedPartition, "reader", "lsn-aborted"));
    producer.Poll(200ms);
    RequireOk(producer.AbortTransaction(30s));
    last = ReadLastValue(config, topic, "reader", 20s);
    REQUIRE(last.ok());
    CHECK(last.value() == std::optional<std::string>("lsn-3"));

    Result<std::optional<std::string>> absent = ReadLastValue(config, topic, "nobody", 20s);
    REQUIRE(absent.ok());
    CHECK_FALSE(absent.value().has_value());

    // A transaction left open by a crashed instance (the producer is destroyed without commit).
    RequireOk(producer.BeginTransaction());
    RequireOk(producer.Produce(topic, kUnassignedPartition, "reader", "lsn-left-open"));
    producer.Poll(300ms);

    // Reading before InitTransactions: the open transaction holds the last stable offset back. The read
    // must neither return the uncommitted value nor wait past its timeout.
    auto before_init = std::chrono::steady_clock::now();
    Result<std::optional<std::string>> early = ReadLastValue(config, topic, "reader", 3s);
    MESSAGE("ReadLastValue with a transaction open: ",
            early.ok() ? early.value().value_or("<none>") : early.error().ToString());
    CHECK(std::chrono::steady_clock::now() - before_init < 6s);
    if (early.ok()) {
      CHECK(early.value() == std::optional<std::string>("lsn-3"));
    } else {
      CHECK(early.error().retriable());
    }
  }
  // Restart order: InitTransactions first (aborts the open transaction), then ReadLastValue.
  TransactionalProducer restarted(config, transactional_id);
  RequireOk(restarted.InitTransactions(30s));
  Result<std::optional<std::string>> last = ReadLastValue(config, topic, "reader", 20s);
  INFO(last.error().ToString());
  REQUIRE(last.ok());
  CHECK(last.value() == std::optional<std::string>("lsn-3"));

  // A tombstone deletes the key.
  RequireOk(restarted.BeginTransaction());
  RequireOk(restarted.Produce(topic, kUnassignedPartition, "reader", std::nullopt));
  RequireOk(restarted.CommitTransaction(30s));
  last = ReadLastValue(config, topic, "reader", 20s);
  REQUIRE(last.ok());
  CHECK_FALSE(last.value().has_value());
}

TEST_CASE("second_producer_fences_the_first") {
  const std::string topic = EnsureTopic("fencing", 1, false);
  const std::string transactional_id = Unique("fenced-producer");
  TransactionalProducer zombie(BrokerConfig(), transactional_id);
  RequireOk(zombie.InitTransactions(30s));
  RequireOk(zombie.BeginTransaction());
  RequireOk(zombie.Produce(topic, 0, "k", "from-zombie"));
  zombie.Poll(200ms);

  TransactionalProducer successor(BrokerConfig(), transactional_id);
  RequireOk(successor.InitTransactions(30s));

  KafkaError error = zombie.Produce(topic, 0, "k", "from-zombie-2");
  if (error.ok()) error = zombie.CommitTransaction(30s);
  INFO(error.ToString());
  REQUIRE_FALSE(error.ok());
  CHECK(error.fatal());
  CHECK(error.Action() == ErrorAction::kFatal);

  RequireOk(successor.BeginTransaction());
  RequireOk(successor.Produce(topic, 0, "k", "from-successor"));
  RequireOk(successor.CommitTransaction(30s));
  CHECK(ReadCommittedValues(topic) == std::vector<std::string>{"from-successor"});
}

int main(int argc, char** argv) {
  const char* bootstrap = std::getenv("SQLTAIL_KAFKA_BOOTSTRAP");
  if (bootstrap == nullptr || *bootstrap == '\0') {
    std::cout << "SQLTAIL_KAFKA_BOOTSTRAP not set: skipping real-broker tests "
                 "(start one with scripts/kafka/broker.sh start)\n";
    return 77;
  }
  g_bootstrap = bootstrap;
  g_run_suffix =
      std::to_string(::getpid()) + "-" + std::to_string(std::chrono::system_clock::now().time_since_epoch() / 1ms);
  spdlog::set_level(spdlog::level::warn);
  doctest::Context context(argc, argv);
  return context.run();
}
