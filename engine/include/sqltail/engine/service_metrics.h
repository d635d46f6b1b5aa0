// What the metrics and health endpoints show: the run's thread publishes a snapshot now and then,
// the HTTP thread copies the latest one under a mutex (held only for the copy) and renders it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sqltail/engine/service_observer.h"

namespace sqltail::engine {

struct EventCount {
  std::string schema, table, op;
  uint64_t count = 0;
};

struct ErrorCount {
  std::string kind;
  uint64_t count = 0;
};

struct ServiceSnapshot {
  ProgressSnapshot progress;
  std::vector<EventCount> events;  // by table and operation
  std::vector<ErrorCount> errors;  // by kind
  bool ready = false;              // OnReady seen
  bool stopping = false;           // OnStopping seen
  std::chrono::steady_clock::time_point last_progress{};
};

class MetricsBoard {
 public:
  // `role`: "capture" or "apply" (the role label of every metric).
  explicit MetricsBoard(std::string role) : role_(std::move(role)) {}

  void Publish(const ServiceSnapshot& snapshot);
  ServiceSnapshot Read() const;

  // Prometheus text format 0.0.4 of the latest snapshot.
  std::string RenderPrometheus(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  // Liveness: false once ready and the main loop has not advanced for `stall_limit`.
  bool Live(std::chrono::steady_clock::time_point now, std::chrono::seconds stall_limit) const;
  // Readiness: ready, not stopping, and live.
  bool Ready(std::chrono::steady_clock::time_point now, std::chrono::seconds stall_limit) const;

 private:
  std::string role_;
  mutable std::mutex mutex_;
  ServiceSnapshot snapshot_;
};

// GET /metrics, /healthz and /readyz over HTTP/1.1 on address:port, served by one background
// thread (Boost.Beast).
class MetricsServer {
 public:
  MetricsServer(const MetricsBoard& board, std::chrono::seconds stall_limit);
  ~MetricsServer();  // stops the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts serving; false with `error` when the address cannot be bound.
  bool Start(const std::string& address, uint16_t port, std::string& error);
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sqltail::engine
