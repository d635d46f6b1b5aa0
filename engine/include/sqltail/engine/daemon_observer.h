// The observer of a daemon run: tells systemd READY/STATUS/STOPPING and feeds its watchdog from the
// main loop, and publishes the counters for the metrics endpoint.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "sqltail/engine/service_metrics.h"
#include "sqltail/engine/service_observer.h"
#include "sqltail/engine/systemd_notifier.h"

namespace sqltail::engine {

class DaemonObserver : public ServiceObserver {
 public:
  // `metrics` may be null (metrics off). Both must outlive the observer.
  DaemonObserver(std::string role, SystemdNotifier& notifier, MetricsBoard* metrics);

  void OnReady() override;
  void OnEvent(std::string_view schema, std::string_view table, std::string_view op) override;
  void OnError(std::string_view kind) override;
  void OnProgress(const ProgressSnapshot& snapshot) override;
  void OnStopping() override;

  // "capture: 1200 events, committed LSN ..., caught up" (also the systemd STATUS).
  std::string StatusLine() const;

 private:
  void PublishMetrics(std::chrono::steady_clock::time_point now);

  std::string role_;
  SystemdNotifier& notifier_;
  MetricsBoard* metrics_;
  ServiceSnapshot state_;  // owned by the run's thread; copied to metrics_ at most every publish interval
  std::chrono::steady_clock::time_point last_publish_{}, last_status_{};
};

}  // namespace sqltail::engine
