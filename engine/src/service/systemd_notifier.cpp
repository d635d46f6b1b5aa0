#include "sqltail/engine/systemd_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace sqltail::engine {

SystemdNotifier::SystemdNotifier(std::string socket_path, std::chrono::microseconds watchdog_interval)
    : socket_path_(std::move(socket_path)), watchdog_interval_(watchdog_interval) {
  // Only absolute paths and abstract names are valid notify sockets; anything else is ignored.
  if (socket_path_.empty() || (socket_path_[0] != '/' && socket_path_[0] != '@') ||
      socket_path_.size() >= sizeof(sockaddr_un::sun_path)) {
    socket_path_.clear();
    return;
  }
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) socket_path_.clear();
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

SystemdNotifier SystemdNotifier::FromEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  std::chrono::microseconds interval{0};
  if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr && *usec != '\0') {
    const char* pid = std::getenv("WATCHDOG_PID");
    bool ours = pid == nullptr || *pid == '\0' || std::strtoll(pid, nullptr, 10) == static_cast<long long>(::getpid());
    if (ours) interval = std::chrono::microseconds(std::strtoll(usec, nullptr, 10));
    if (interval.count() < 0) interval = std::chrono::microseconds(0);
  }
  return SystemdNotifier(socket != nullptr ? socket : "", interval);
}

bool SystemdNotifier::Notify(std::string_view message) {
  if (!enabled()) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
  // Abstract names are not NUL-terminated: the length covers exactly the name.
  auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  ssize_t sent;
  do {
    sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
                    length);
  } while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(message.size());
}

bool SystemdNotifier::FeedWatchdog(Clock::time_point now) {
  if (!enabled() || watchdog_interval_.count() == 0) return false;
  if (last_watchdog_ != Clock::time_point{} && now - last_watchdog_ < watchdog_interval_ / 2) return false;
  last_watchdog_ = now;
  return Notify("WATCHDOG=1");
}

}  // namespace sqltail::engine
