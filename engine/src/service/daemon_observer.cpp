#include "sqltail/engine/daemon_observer.h"

namespace sqltail::engine {
namespace {

using SteadyClock = std::chrono::steady_clock;
// Metrics are published at most this often: a poll iteration can be a millisecond.
constexpr auto kPublishInterval = std::chrono::milliseconds(200);
constexpr auto kStatusInterval = std::chrono::seconds(1);

}  // namespace

ServiceObserver& NoServiceObserver() {
  static ServiceObserver none;
  return none;
}

DaemonObserver::DaemonObserver(std::string role, SystemdNotifier& notifier, MetricsBoard* metrics)
    : role_(std::move(role)), notifier_(notifier), metrics_(metrics) {
  for (const char* kind : {"kafka", "source", "sink"}) state_.errors.push_back({kind, 0});
}

void DaemonObserver::OnReady() {
  state_.ready = true;
  state_.last_progress = SteadyClock::now();
  notifier_.Notify("READY=1\nSTATUS=" + StatusLine());
  notifier_.FeedWatchdog();
  PublishMetrics(state_.last_progress);
}

void DaemonObserver::OnEvent(std::string_view schema, std::string_view table, std::string_view op) {
  // Few tables: a linear search costs less than hashing three strings.
  for (auto& e : state_.events) {
    if (e.table == table && e.op == op && e.schema == schema) {
      ++e.count;
      return;
    }
  }
  state_.events.push_back({std::string(schema), std::string(table), std::string(op), 1});
}

void DaemonObserver::OnError(std::string_view kind) {
  for (auto& e : state_.errors) {
    if (e.kind == kind) {
      ++e.count;
      return;
    }
  }
  state_.errors.push_back({std::string(kind), 1});
}

void DaemonObserver::OnProgress(const ProgressSnapshot& snapshot) {
  auto now = SteadyClock::now();
  state_.progress = snapshot;
  state_.last_progress = now;
  // Fed only here, from the main loop: a hung loop stops the pings and systemd restarts us.
  notifier_.FeedWatchdog(now);
  if (notifier_.enabled() && now - last_status_ >= kStatusInterval) {
    last_status_ = now;
    notifier_.Notify("STATUS=" + StatusLine());
  }
  if (now - last_publish_ >= kPublishInterval) PublishMetrics(now);
}

void DaemonObserver::OnStopping() {
  state_.stopping = true;
  notifier_.Notify("STOPPING=1\nSTATUS=" + role_ + ": stopping");
  PublishMetrics(SteadyClock::now());
}

std::string DaemonObserver::StatusLine() const {
  const auto& p = state_.progress;
  std::string line = role_ + ": " + std::to_string(p.events) + " events";
  if (role_ == "capture") {
    line += " in " + std::to_string(p.kafka_transactions) + " Kafka transactions, committed LSN " +
            p.committed_lsn.ToString();
  } else {
    line += " in " + std::to_string(p.target_transactions) + " target transactions";
  }
  line += p.caught_up ? ", caught up" : ", catching up";
  return line;
}

void DaemonObserver::PublishMetrics(SteadyClock::time_point now) {
  last_publish_ = now;
  if (metrics_ != nullptr) metrics_->Publish(state_);
}

}  // namespace sqltail::engine
