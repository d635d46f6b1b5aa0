// Transactional producer, consumer and error classification on librdkafka's mock cluster.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mock_cluster.h"
#include "sqltail/kafka/admin.h"
#include "sqltail/kafka/consumer.h"
#include "sqltail/kafka/kafka_error.h"
#include "sqltail/kafka/transactional_producer.h"

using namespace sqltail::kafka;
using namespace std::chrono_literals;
using sqltail::kafka::testing::MockCluster;

namespace {

// Injected failures are expected here; keep librdkafka's retry chatter out of the test output.
const bool kQuietLogs = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

Config MockConfig(const MockCluster& cluster) {
  Config config;
  config.bootstrap_servers = cluster.bootstrap_servers();
  config.properties["linger.ms"] = "5";
  return config;
}

// Reads every message of the assigned partitions until each reported its end.
std::vector<std::pair<std::string, std::string>> ReadAll(const Config& config, const std::string& topic,
                                                         std::vector<int32_t> partitions) {
  Consumer consumer(config);
  std::vector<PartitionStart> starts;
  for (int32_t partition : partitions) starts.push_back({topic, partition, kOffsetBeginning});
  REQUIRE(consumer.Assign(starts).ok());
  std::vector<std::pair<std::string, std::string>> messages;
  std::size_t ended = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ended < partitions.size() && std::chrono::steady_clock::now() < deadline) {
    PollResult polled = consumer.Poll(100ms);
    if (polled.kind == PollResult::Kind::kMessage) {
      messages.emplace_back(std::string(polled.message.key.value_or("")),
                            std::string(polled.message.value.value_or("<tombstone>")));
    } else if (polled.kind == PollResult::Kind::kPartitionEnd) {
      ++ended;
    }
  }
  REQUIRE(ended == partitions.size());
  return messages;
}

void RequireOk(const KafkaError& error) {
  INFO(error.ToString());
  REQUIRE(error.ok());
}

// `per_partition` messages in each of `partitions` partitions of `topic`, in one committed transaction.
void ProduceCommitted(const Config& config, const std::string& topic, int32_t partitions, int per_partition,
                      const std::function<std::string(int)>& value_of) {
  TransactionalProducer producer(config, topic + "-producer");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  for (int32_t p = 0; p < partitions; ++p)
    for (int i = 0; i < per_partition; ++i) RequireOk(producer.Produce(topic, p, "k", value_of(i)));
  RequireOk(producer.CommitTransaction(10s));
}

}  // namespace

TEST_CASE("transaction_commit_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 2);
  Config config = MockConfig(cluster);
  TransactionalProducer producer(config, "commit-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  const MessageHeader headers[] = {{"origin", "test"}, {"empty", std::nullopt}};
  for (int i = 0; i < 50; ++i) {
    RequireOk(producer.Produce("events", i % 2, "k" + std::to_string(i), "v" + std::to_string(i), headers));
  }
  RequireOk(producer.Produce("events", 0, "deleted", std::nullopt));  // tombstone
  RequireOk(producer.CommitTransaction(10s));
  CHECK(producer.failed_deliveries() == 0);

  auto messages = ReadAll(config, "events", {0, 1});
  CHECK(messages.size() == 51);
  bool saw_tombstone = false;
  for (const auto& [key, value] : messages) saw_tombstone |= key == "deleted" && value == "<tombstone>";
  CHECK(saw_tombstone);
}

TEST_CASE("transaction_abort_then_commit_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 1);
  TransactionalProducer producer(MockConfig(cluster), "abort-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce("events", 0, "a", "1"));
  RequireOk(producer.AbortTransaction(10s));
  // After an abort the producer is usable again.
  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce("events", 0, "a", "2"));
  RequireOk(producer.CommitTransaction(10s));
}

TEST_CASE("produce_error_requires_abort_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 1);
  Config config = MockConfig(cluster);
  TransactionalProducer producer(config, "produce-error-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  // A permanent error for the Produce request: the message fails delivery inside the transaction.
  rd_kafka_mock_push_request_errors(cluster.get(), sqltail::kafka::testing::kApiProduce, 1,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  RequireOk(producer.Produce("events", 0, "a", "lost"));
  KafkaError commit = producer.CommitTransaction(10s);
  INFO(commit.ToString());
  REQUIRE_FALSE(commit.ok());
  CHECK(commit.txn_requires_abort());
  CHECK_FALSE(commit.fatal());
  CHECK(commit.Action() == ErrorAction::kAbortTransaction);
  CHECK(producer.failed_deliveries() >= 1);
  CHECK(commit.ToString().find(config.bootstrap_servers) != std::string::npos);
  CHECK(commit.ToString().find("topic=events") != std::string::npos);

  // What the engine does: abort, rewind, redo the transaction until it commits. (The 2.0.2 mock does
  // not follow the client's sequence reset after the failed batch, so the first retry may fail again
  // with an abortable OUT_OF_ORDER_SEQUENCE_NUMBER; the epoch bump of that abort clears it.)
  KafkaError retry = commit;
  int attempts = 0;
  while (!retry.ok() && retry.Action() == ErrorAction::kAbortTransaction && attempts < 3) {
    ++attempts;
    RequireOk(producer.AbortTransaction(10s));
    RequireOk(producer.BeginTransaction());
    retry = producer.Produce("events", 0, "a", "again");
    if (retry.ok()) retry = producer.CommitTransaction(10s);
  }
  INFO(retry.ToString());
  CHECK(retry.ok());
}

TEST_CASE("produce_to_missing_partition_fails_commit_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 1);
  TransactionalProducer producer(MockConfig(cluster), "missing-partition-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  KafkaError produced = producer.Produce("events", 7, "a", "nowhere");
  if (produced.ok()) {
    // Metadata was not known yet: the failure arrives as a delivery report and must stop the commit.
    produced = producer.CommitTransaction(10s);
  }
  INFO(produced.ToString());
  REQUIRE_FALSE(produced.ok());
  CHECK(produced.Action() == ErrorAction::kAbortTransaction);
  CHECK(produced.ToString().find("partition=7") != std::string::npos);
  RequireOk(producer.AbortTransaction(10s));
}

TEST_CASE("init_transactions_fatal_error_mock") {
  MockCluster cluster;
  rd_kafka_mock_push_request_errors(cluster.get(), sqltail::kafka::testing::kApiInitProducerId, 1,
                                    RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  TransactionalProducer producer(MockConfig(cluster), "fatal-test");
  KafkaError init = producer.InitTransactions(10s);
  INFO(init.ToString());
  REQUIRE_FALSE(init.ok());
  CHECK(init.Action() == ErrorAction::kFatal);
  CHECK(init.ToString().find("transactional.id=fatal-test") != std::string::npos);
}

TEST_CASE("init_transactions_timeout_is_retriable_mock") {
  MockCluster cluster;
  rd_kafka_mock_broker_set_down(cluster.get(), 1);
  TransactionalProducer producer(MockConfig(cluster), "retry-test");
  KafkaError init = producer.InitTransactions(1s);
  INFO(init.ToString());
  REQUIRE_FALSE(init.ok());
  CHECK(init.retriable());
  CHECK(init.Action() == ErrorAction::kRetry);
  rd_kafka_mock_broker_set_up(cluster.get(), 1);
  RequireOk(producer.InitTransactions(10s));
}

TEST_CASE("end_txn_retriable_error_is_retried_internally_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 1);
  TransactionalProducer producer(MockConfig(cluster), "endtxn-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  RequireOk(producer.Produce("events", 0, "a", "1"));
  rd_kafka_mock_push_request_errors(cluster.get(), sqltail::kafka::testing::kApiEndTxn, 2,
                                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
  RequireOk(producer.CommitTransaction(10s));
}

TEST_CASE("queue_full_is_waited_out_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 1);
  Config config = MockConfig(cluster);
  config.properties["queue.buffering.max.messages"] = "10";
  TransactionalProducer producer(config, "queue-full-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  const std::string value(100, 'x');
  for (int i = 0; i < 1000; ++i) RequireOk(producer.Produce("events", 0, std::to_string(i), value));
  RequireOk(producer.CommitTransaction(10s));
  CHECK(ReadAll(MockConfig(cluster), "events", {0}).size() == 1000);
}

TEST_CASE("consumer_metadata_watermarks_and_batch_mock") {
  MockCluster cluster;
  cluster.CreateTopic("events", 3);
  Config config = MockConfig(cluster);
  TransactionalProducer producer(config, "consumer-test");
  RequireOk(producer.InitTransactions(10s));
  RequireOk(producer.BeginTransaction());
  for (int i = 0; i < 20; ++i) RequireOk(producer.Produce("events", 1, "k", std::to_string(i)));
  RequireOk(producer.CommitTransaction(10s));

  Consumer consumer(config);
  Result<std::vector<int32_t>> partitions = consumer.ListPartitions("events", 5s);
  REQUIRE(partitions.ok());
  CHECK(partitions.value() == std::vector<int32_t>{0, 1, 2});
  Result<Watermarks> watermarks = consumer.QueryWatermarks("events", 1, 5s);
  REQUIRE(watermarks.ok());
  CHECK(watermarks.value().low == 0);
  CHECK(watermarks.value().high == 20);  // the mock writes no transaction markers

  const PartitionStart start{"events", 1, 5};
  REQUIRE(consumer.Assign({&start, 1}).ok());
  std::vector<MessageView> batch;
  std::vector<int64_t> offsets;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (offsets.size() < 15 && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(consumer.PollBatch(200ms, 4, batch).ok());
    CHECK(batch.size() <= 4);
    for (const MessageView& message : batch) offsets.push_back(message.offset);
  }
  REQUIRE(offsets.size() == 15);
  CHECK(offsets.front() == 5);
  CHECK(offsets.back() == 19);
}

TEST_CASE("read_last_value_mock") {
  MockCluster cluster;
  cluster.CreateTopic("offsets", 1);
  Config config = MockConfig(cluster);
  {
    Result<std::optional<std::string>> empty = ReadLastValue(config, "offsets", "reader", 10s);
    REQUIRE(empty.ok());
    CHECK_FALSE(empty.value().has_value());
  }
  TransactionalProducer producer(config, "checkpoint-test");
  RequireOk(producer.InitTransactions(10s));
  for (int i = 1; i <= 3; ++i) {
    RequireOk(producer.BeginTransaction());
    RequireOk(producer.Produce("offsets", kUnassignedPartition, "reader", "lsn-" + std::to_string(i)));
    RequireOk(producer.Produce("offsets", kUnassignedPartition, "other", "x"));
    RequireOk(producer.CommitTransaction(10s));
  }
  Result<std::optional<std::string>> last = ReadLastValue(config, "offsets", "reader", 10s);
  INFO(last.error().ToString());
  REQUIRE(last.ok());
  CHECK(last.value() == std::optional<std::string>("lsn-3"));
  Result<std::optional<std::string>> absent = ReadLastValue(config, "offsets", "nobody", 10s);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent.value().has_value());
}

TEST_CASE("config_errors_name_the_property_mock") {
  Config config;
  config.bootstrap_servers = "127.0.0.1:1";
  config.properties["no.such.property"] = "1";
  try {
    TransactionalProducer producer(config, "bad-config");
    FAIL("expected KafkaException");
  } catch (const KafkaException& exception) {
    CHECK(std::string(exception.what()).find("no.such.property") != std::string::npos);
  }
}

// Subscribe: the group shares the partitions; the handler's offsets are where reading starts; a
// second member makes the group revoke and re-assign (eager: all revoked, then a disjoint split);
// Seek moves an assigned partition; a cooperative strategy is refused.
TEST_CASE("group_subscribe_rebalance_seek_mock") {
  MockCluster cluster;
  cluster.CreateTopic("shared", 4);
  Config config = MockConfig(cluster);
  ProduceCommitted(config, "shared", 4, 10, [](int i) { return std::to_string(i); });
  Config group = config;
  group.properties["group.id"] = "members";
  group.properties["session.timeout.ms"] = "6000";
  group.properties["heartbeat.interval.ms"] = "200";
  const std::vector<std::string> topics = {"shared"};

  struct Member {
    std::unique_ptr<Consumer> consumer;
    std::vector<int32_t> assigned;
    int revokes = 0, assigns = 0;
    std::map<int32_t, int64_t> first_offset;  // per partition, since the last assignment
    std::map<int32_t, int64_t> next_offset;
  };
  auto join = [&](Member& m) {
    m.consumer = std::make_unique<Consumer>(group);
    RequireOk(m.consumer->Subscribe(topics, [&m](bool assigned, std::vector<PartitionStart>& partitions) {
      if (!assigned) {
        ++m.revokes;
        m.assigned.clear();
        return;
      }
      ++m.assigns;
      for (auto& p : partitions) {
        p.offset = 3 + p.partition;  // as if the target had stored this progress
        m.assigned.push_back(p.partition);
      }
      m.first_offset.clear();
    }));
  };
  std::vector<MessageView> batch;
  auto poll = [&](Member& m) {
    RequireOk(m.consumer->PollBatch(50ms, 100, batch));
    for (const MessageView& message : batch) {
      m.first_offset.try_emplace(message.partition, message.offset);
      m.next_offset[message.partition] = message.offset + 1;
    }
  };

  Member a, b;
  join(a);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (a.first_offset.size() < 4 && std::chrono::steady_clock::now() < deadline) poll(a);
  REQUIRE(a.assigned.size() == 4);
  for (int32_t p = 0; p < 4; ++p) CHECK(a.first_offset[p] == 3 + p);

  join(b);
  deadline = std::chrono::steady_clock::now() + 30s;
  while ((b.assigned.empty() || a.assigned.size() + b.assigned.size() != 4) &&
         std::chrono::steady_clock::now() < deadline) {
    poll(a);
    poll(b);
  }
  CHECK(a.revokes >= 1);
  CHECK(a.assigns >= 2);
  REQUIRE_FALSE(a.assigned.empty());
  REQUIRE_FALSE(b.assigned.empty());
  std::vector<int32_t> all = a.assigned;
  all.insert(all.end(), b.assigned.begin(), b.assigned.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<int32_t>{0, 1, 2, 3});
  // Each member reads its partitions from the handler's offsets again.
  deadline = std::chrono::steady_clock::now() + 20s;
  while ((b.first_offset.size() < b.assigned.size()) && std::chrono::steady_clock::now() < deadline) poll(b);
  for (int32_t p : b.assigned) CHECK(b.first_offset[p] == 3 + p);

  // Seek one of b's partitions back to 0: reading restarts there.
  const int32_t moved = b.assigned.front();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (b.next_offset[moved] < 10 && std::chrono::steady_clock::now() < deadline) poll(b);
  const PartitionStart back{"shared", moved, 0};
  RequireOk(b.consumer->Seek({&back, 1}, 5s));
  b.first_offset.clear();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!b.first_offset.count(moved) && std::chrono::steady_clock::now() < deadline) poll(b);
  CHECK(b.first_offset[moved] == 0);

  Config cooperative = group;
  cooperative.properties["partition.assignment.strategy"] = "cooperative-sticky";
  Consumer refused(cooperative);
  KafkaError error = refused.Subscribe(topics, [](bool, std::vector<PartitionStart>&) {});
  CHECK_FALSE(error.ok());
  CHECK(error.ToString().find("only eager strategies") != std::string::npos);
}

TEST_CASE("pause_resume_loses_and_repeats_nothing_mock") {
  MockCluster cluster;
  cluster.CreateTopic("paused", 2);
  Config config = MockConfig(cluster);
  ProduceCommitted(config, "paused", 2, 300, [](int) { return std::string(100, 'x'); });
  Config small = config;
  small.properties["max.partition.fetch.bytes"] = "2048";  // many fetches: some are queued when paused
  Consumer consumer(small);
  const std::vector<PartitionStart> starts = {{"paused", 0, kOffsetBeginning}, {"paused", 1, kOffsetBeginning}};
  RequireOk(consumer.Assign(starts));
  std::map<int32_t, std::vector<int64_t>> offsets;
  std::vector<MessageView> batch;
  auto poll = [&]() {
    RequireOk(consumer.PollBatch(50ms, 7, batch));
    for (const MessageView& message : batch) offsets[message.partition].push_back(message.offset);
  };
  const std::vector<TopicPartition> zero = {{"paused", 0}};
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int round = 0; round < 5; ++round) {
    while (offsets[0].size() < static_cast<size_t>(40 * (round + 1)) && std::chrono::steady_clock::now() < deadline)
      poll();
    RequireOk(consumer.Pause(zero));
    const size_t at_pause = offsets[0].size();
    for (int i = 0; i < 10; ++i) poll();
    CHECK(offsets[0].size() == at_pause);  // nothing of a paused partition, not even what was fetched
    RequireOk(consumer.Resume(zero));
  }
  deadline = std::chrono::steady_clock::now() + 20s;
  while ((offsets[0].size() < 300 || offsets[1].size() < 300) && std::chrono::steady_clock::now() < deadline) poll();
  for (int32_t p = 0; p < 2; ++p) {
    std::vector<int64_t> expected(300);
    for (int64_t i = 0; i < 300; ++i) expected[static_cast<size_t>(i)] = i;
    CHECK(offsets[p] == expected);  // every offset once, in order
  }
}
