// Producer throughput to a real broker for 1 KB events (docs/benchmarks.md):
//   bare         librdkafka's C API in a produce loop, librdkafka defaults (acks=all, no idempotence,
//                no compression): the limit, as rdkafka_performance measures it;
//   idempotent   the same loop with sqltail's producer settings (idempotence, lz4, linger.ms=20,
//                batch.num.messages=10000) but no transactions;
//   txn          sqltail's TransactionalProducer, committing every --txn-events events.
// Each mode produces --events messages to --topic (created with one partition when missing) and counts only messages
// acknowledged (bare, idempotent) or committed (txn).
//
// kafka_bench --bootstrap HOST:PORT --topic T --mode bare|idempotent|txn [--events N] [--size B]
//             [--txn-events N] [--property name=value ...]
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sqltail/kafka/admin.h"
#include "sqltail/kafka/transactional_producer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string bootstrap, topic, mode = "txn";
  long events = 200000;
  long size = 1024;
  long txn_events = 20000;
  std::vector<std::pair<std::string, std::string>> properties;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string name = argv[i], value = argv[i + 1];
    if (name == "--bootstrap") {
      args.bootstrap = value;
    } else if (name == "--topic") {
      args.topic = value;
    } else if (name == "--mode") {
      args.mode = value;
    } else if (name == "--events") {
      args.events = std::stol(value);
    } else if (name == "--size") {
      args.size = std::stol(value);
    } else if (name == "--txn-events") {
      args.txn_events = std::stol(value);
    } else if (name == "--property" && value.find('=') != std::string::npos) {
      args.properties.emplace_back(value.substr(0, value.find('=')), value.substr(value.find('=') + 1));
    } else {
      return false;
    }
  }
  return !args.bootstrap.empty() && !args.topic.empty() && args.events > 0 && args.size > 0 && args.txn_events > 0 &&
         (args.mode == "bare" || args.mode == "idempotent" || args.mode == "txn");
}

// 256 distinct payloads of printable pseudo-random text: compressible about as much as varied JSON
// values are, and not trivially (identical messages would make lz4 batches free).
std::vector<std::string> MakePayloads(size_t size) {
  std::mt19937_64 random(42);
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789{}:\",ABCDEFGHIJ";
  std::vector<std::string> payloads(256);
  for (auto& payload : payloads) {
    payload.resize(size);
    for (auto& c : payload) c = kAlphabet[random() % (sizeof(kAlphabet) - 1)];
  }
  return payloads;
}

struct Delivery {
  long acked = 0, failed = 0;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* delivery = static_cast<Delivery*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++delivery->acked;
  } else {
    ++delivery->failed;
  }
}

// The bare and idempotent modes: librdkafka's C API directly.
int RunPlain(const Args& args, const std::vector<std::string>& payloads, double& seconds, long& counted) {
  std::array<char, 512> errstr{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "kafka_bench: %s: %s\n", name.c_str(), errstr.data());
      return false;
    }
    return true;
  };
  bool ok = set("bootstrap.servers", args.bootstrap);
  if (args.mode == "idempotent") {
    ok = ok && set("enable.idempotence", "true") && set("compression.type", "lz4") && set("linger.ms", "20") &&
         set("batch.num.messages", "10000") && set("queue.buffering.max.messages", "500000");
  }
  for (const auto& [name, value] : args.properties) ok = ok && set(name, value);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  Delivery delivery;
  rd_kafka_conf_set_opaque(conf, &delivery);
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
  if (handle == nullptr) {
    std::fprintf(stderr, "kafka_bench: %s\n", errstr.data());
    return 2;
  }
  rd_kafka_topic_t* topic = rd_kafka_topic_new(handle, args.topic.c_str(), nullptr);
  const auto started = Clock::now();
  for (long i = 0; i < args.events; ++i) {
    const std::string& payload = payloads[static_cast<size_t>(i) % payloads.size()];
    const std::string key = std::to_string(i);
    while (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(payload.data()),
                            payload.size(), key.data(), key.size(), nullptr) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::fprintf(stderr, "kafka_bench: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
        return 1;
      }
      rd_kafka_poll(handle, 10);
    }
    rd_kafka_poll(handle, 0);
  }
  rd_kafka_flush(handle, 120000);
  seconds = std::chrono::duration<double>(Clock::now() - started).count();
  counted = delivery.acked;
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(handle);
  if (delivery.failed > 0 || delivery.acked != args.events) {
    std::fprintf(stderr, "kafka_bench: %ld acknowledged, %ld failed of %ld\n", delivery.acked, delivery.failed,
                 args.events);
    return 1;
  }
  return 0;
}

int RunTransactional(const Args& args, const std::vector<std::string>& payloads, double& seconds, long& counted) {
  sqltail::kafka::Config config;
  config.bootstrap_servers = args.bootstrap;
  for (const auto& [name, value] : args.properties) config.properties[name] = value;
  sqltail::kafka::TransactionalProducer producer(config, "kafka-bench-" + args.topic);
  const std::chrono::seconds timeout(60);
  auto check = [](const sqltail::kafka::KafkaError& e) {
    if (e.ok()) return true;
    std::fprintf(stderr, "kafka_bench: %s\n", e.ToString().c_str());
    return false;
  };
  if (!check(producer.InitTransactions(timeout))) return 1;
  const auto started = Clock::now();
  counted = 0;
  std::string key;
  for (long i = 0; i < args.events;) {
    if (!check(producer.BeginTransaction())) return 1;
    long end = std::min(args.events, i + args.txn_events);
    for (; i < end; ++i) {
      key = std::to_string(i);
      if (!check(producer.Produce(args.topic, sqltail::kafka::kUnassignedPartition, key,
                                  payloads[static_cast<size_t>(i) % payloads.size()])))
        return 1;
    }
    if (!check(producer.CommitTransaction(timeout))) return 1;
    counted = i;
  }
  seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: kafka_bench --bootstrap HOST:PORT --topic T --mode bare|idempotent|txn [--events N] "
                 "[--size BYTES] [--txn-events N] [--property name=value ...]\n");
    return 2;
  }
  {
    sqltail::kafka::Config config;
    config.bootstrap_servers = args.bootstrap;
    for (const auto& [name, value] : args.properties) config.properties[name] = value;
    sqltail::kafka::Admin admin(config);
    const sqltail::kafka::TopicSpec topic{args.topic, 1, -1, {}};
    if (auto e = admin.EnsureTopics(std::span<const sqltail::kafka::TopicSpec>(&topic, 1), std::chrono::seconds(60));
        !e.ok()) {
      std::fprintf(stderr, "kafka_bench: %s\n", e.ToString().c_str());
      return 1;
    }
  }
  const std::vector<std::string> payloads = MakePayloads(static_cast<size_t>(args.size));
  double seconds = 0;
  long counted = 0;
  int status = args.mode == "txn" ? RunTransactional(args, payloads, seconds, counted)
                                  : RunPlain(args, payloads, seconds, counted);
  if (status != 0) return status;
  std::printf("mode=%s events=%ld size=%ld txn_events=%ld seconds=%.2f events_per_s=%.0f MB_per_s=%.1f\n",
              args.mode.c_str(), counted, args.size, args.mode == "txn" ? args.txn_events : 0L, seconds,
              static_cast<double>(counted) / seconds, static_cast<double>(counted * args.size) / seconds / 1e6);
  return 0;
}
