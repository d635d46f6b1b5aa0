// The systemd notify protocol (sd_notify(3)), written out so the daemon needs no libsystemd: one
// datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' = abstract namespace).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sqltail::engine {

class SystemdNotifier {
 public:
  using Clock = std::chrono::steady_clock;

  // Disabled: every call is a no-op.
  SystemdNotifier() = default;
  // `socket_path` as in $NOTIFY_SOCKET; `watchdog_interval` 0 = no watchdog.
  SystemdNotifier(std::string socket_path, std::chrono::microseconds watchdog_interval);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (the watchdog is only ours when
  // WATCHDOG_PID is unset or names this process).
  static SystemdNotifier FromEnvironment();

  bool enabled() const { return !socket_path_.empty(); }
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

  // Sends "KEY=VALUE\n..." as one datagram. Returns false when disabled or the send failed.
  bool Notify(std::string_view message);
  // Sends WATCHDOG=1 when half the watchdog interval has passed since the last one (systemd's
  // advice); returns true when it sent one.
  bool FeedWatchdog(Clock::time_point now = Clock::now());

 private:
  std::string socket_path_;
  std::chrono::microseconds watchdog_interval_{0};
  Clock::time_point last_watchdog_{};
  int fd_ = -1;
};

}  // namespace sqltail::engine
