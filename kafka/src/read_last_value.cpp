// ReadLastValue: the capture checkpoint lookup on restart (see consumer.h for the contract).
#include <functional>
#include <map>
#include <thread>

#include "rdkafka_support.h"
#include "sqltail/kafka/consumer.h"

namespace sqltail::kafka {
namespace {

using Clock = std::chrono::steady_clock;

struct PartitionProgress {
  int64_t high_watermark = 0;
  bool done = false;
  bool has_key = false;  // the key occurred in this partition
  std::optional<std::string> last_value;
  int64_t last_timestamp_ms = -1;
  std::vector<std::string> values;  // ReadValues
};

// Reads every partition of `topic` from the beginning to its end as read_committed sees it now,
// handing each message to `on_message`; an empty topic is no error.
KafkaError ScanToEnd(const Config& config, std::string_view topic, std::chrono::milliseconds timeout,
                     std::map<int32_t, PartitionProgress>& progress,
                     const std::function<void(PartitionProgress&, const MessageView&)>& on_message) {
  const Clock::time_point deadline = Clock::now() + timeout;
  auto remaining = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
  };
  Consumer consumer(config);
  Result<std::vector<int32_t>> partitions = consumer.ListPartitions(topic, remaining());
  if (!partitions.ok()) return partitions.error();

  std::vector<PartitionStart> starts;
  for (int32_t partition : partitions.value()) {
    Result<Watermarks> watermarks = consumer.QueryWatermarks(topic, partition, remaining());
    // Retriable (no leader yet right after the topic was created, a broker moment): again until the deadline.
    while (!watermarks.ok() && watermarks.error().retriable() && remaining().count() > 0) {
      std::this_thread::sleep_for(std::min(remaining(), std::chrono::milliseconds(100)));
      watermarks = consumer.QueryWatermarks(topic, partition, remaining());
    }
    if (!watermarks.ok()) return watermarks.error();
    if (watermarks.value().high <= watermarks.value().low) continue;  // nothing stored
    progress[partition].high_watermark = watermarks.value().high;
    starts.push_back(PartitionStart{std::string(topic), partition, kOffsetBeginning});
  }
  if (starts.empty()) return KafkaError();
  if (KafkaError error = consumer.Assign(starts); !error.ok()) return error;

  std::size_t pending = starts.size();
  while (pending > 0) {
    if (Clock::now() >= deadline) {
      std::string open;
      for (const auto& [partition, state] : progress) {
        if (!state.done) open += (open.empty() ? "" : ",") + std::to_string(partition);
      }
      return detail::FromCode(
                 RD_KAFKA_RESP_ERR__TIMED_OUT, detail::Where("read_last_value", config, "topic=" + std::string(topic)),
                 "end not reached in partitions " + open + " (a transaction left open? call InitTransactions first)")
          .SetRetriable();
    }
    PollResult polled = consumer.Poll(std::min(remaining(), std::chrono::milliseconds(200)));
    if (polled.kind == PollResult::Kind::kNothing) continue;
    if (polled.kind == PollResult::Kind::kError) {
      if (polled.error.fatal()) return polled.error;
      continue;  // transient; librdkafka retries by itself
    }
    auto found = progress.find(polled.message.partition);
    if (found == progress.end() || found->second.done) continue;
    PartitionProgress& state = found->second;
    if (polled.kind == PollResult::Kind::kMessage) {
      on_message(state, polled.message);
      // A data record at the high watermark's predecessor ends the partition without waiting for EOF.
      if (polled.message.offset + 1 < state.high_watermark) continue;
    }
    // kPartitionEnd: the fetch position reached the end librdkafka sees (the last stable offset under
    // read_committed), which also covers partitions whose tail is commit/abort markers.
    state.done = true;
    --pending;
  }

  return KafkaError();
}

}  // namespace

Result<std::optional<std::string>> ReadLastValue(const Config& config, std::string_view topic, std::string_view key,
                                                 std::chrono::milliseconds timeout) {
  std::map<int32_t, PartitionProgress> progress;
  KafkaError error = ScanToEnd(config, topic, timeout, progress, [&](PartitionProgress& state, const MessageView& m) {
    if (m.key && *m.key == key) {
      state.has_key = true;
      state.last_value = m.value ? std::optional<std::string>(*m.value) : std::nullopt;
      state.last_timestamp_ms = m.timestamp_ms;
    }
  });
  if (!error.ok()) return error;
  // A key normally lives in one partition; if it occurs in several, the newest record wins.
  const PartitionProgress* newest = nullptr;
  for (const auto& [partition, state] : progress) {
    if (state.has_key && (newest == nullptr || state.last_timestamp_ms > newest->last_timestamp_ms)) newest = &state;
  }
  if (newest == nullptr) return std::optional<std::string>();
  return newest->last_value;
}

}  // namespace sqltail::kafka

namespace sqltail::kafka {

Result<std::vector<std::string>> ReadValues(const Config& config, std::string_view topic, std::string_view key,
                                            std::chrono::milliseconds timeout) {
  std::map<int32_t, PartitionProgress> progress;
  KafkaError error = ScanToEnd(config, topic, timeout, progress, [&](PartitionProgress& state, const MessageView& m) {
    if (m.key && *m.key == key && m.value) state.values.emplace_back(*m.value);
  });
  if (!error.ok()) return error;
  std::vector<std::string> values;
  for (auto& [partition, state] : progress)
    for (auto& v : state.values) values.push_back(std::move(v));
  return values;
}

}  // namespace sqltail::kafka
