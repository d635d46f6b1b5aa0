// The systemd notify protocol over real AF_UNIX datagram sockets (path and abstract names), the
// watchdog rate, the daemon observer's messages, and the metrics text and HTTP endpoints.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sqltail/engine/daemon_observer.h"
#include "sqltail/engine/service_metrics.h"
#include "sqltail/engine/systemd_notifier.h"

using namespace sqltail::engine;
using namespace std::chrono_literals;

namespace {

// A bound datagram socket that collects what the notifier sends.
class NotifyListener {
 public:
  explicit NotifyListener(bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    std::string name = "sqltail-notify-test-" + std::to_string(::getpid()) + (abstract ? "-a" : "-p");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socklen_t length;
    if (abstract) {
      address.sun_path[0] = '\0';
      std::memcpy(address.sun_path + 1, name.data(), name.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
      path_ = "@" + name;
    } else {
      const char* tmp = std::getenv("TMPDIR");
      path_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
      ::unlink(path_.c_str());
      std::memcpy(address.sun_path, path_.data(), path_.size());
      length = static_cast<socklen_t>(sizeof address);
      unlink_ = true;
    }
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    timeval timeout{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifyListener() {
    ::close(fd_);
    if (unlink_) ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // The next datagram, or "" after a second without one.
  std::string Receive() {
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }
  // Whether a datagram is waiting right now.
  bool Pending() {
    char c;
    return ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
  }

 private:
  int fd_ = -1;
  std::string path_;
  bool unlink_ = false;
};

std::string HttpGet(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return response;
}

}  // namespace

TEST_CASE("notify messages reach a socket named by a path and by an abstract name") {
  for (bool abstract : {false, true}) {
    CAPTURE(abstract);
    NotifyListener listener(abstract);
    SystemdNotifier notifier(listener.path(), 0us);
    CHECK(notifier.enabled());
    CHECK(notifier.Notify("READY=1\nSTATUS=hello"));
    CHECK(listener.Receive() == "READY=1\nSTATUS=hello");
    CHECK_FALSE(notifier.FeedWatchdog());  // no watchdog configured
  }
}

TEST_CASE("without NOTIFY_SOCKET, or with a relative one, nothing is sent") {
  SystemdNotifier none;
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.Notify("READY=1"));
  SystemdNotifier relative("relative/socket", 1s);
  CHECK_FALSE(relative.enabled());
}

TEST_CASE("the watchdog is pinged at most every half interval") {
  NotifyListener listener(false);
  SystemdNotifier notifier(listener.path(), 1000ms);
  auto start = SystemdNotifier::Clock::now();
  CHECK(notifier.FeedWatchdog(start));
  CHECK(listener.Receive() == "WATCHDOG=1");
  CHECK_FALSE(notifier.FeedWatchdog(start + 499ms));
  CHECK_FALSE(listener.Pending());
  CHECK(notifier.FeedWatchdog(start + 500ms));
  CHECK(listener.Receive() == "WATCHDOG=1");
}

TEST_CASE("WATCHDOG_USEC applies only when WATCHDOG_PID is unset or names this process") {
  NotifyListener listener(true);
  ::setenv("NOTIFY_SOCKET", listener.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  CHECK(SystemdNotifier::FromEnvironment().watchdog_interval() == 2s);
  ::setenv("WATCHDOG_PID", "1", 1);
  CHECK(SystemdNotifier::FromEnvironment().watchdog_interval() == 0us);
  ::unsetenv("WATCHDOG_PID");
  CHECK(SystemdNotifier::FromEnvironment().watchdog_interval() == 2s);
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  CHECK_FALSE(SystemdNotifier::FromEnvironment().enabled());
}

TEST_CASE("the daemon observer says READY, STATUS, WATCHDOG and STOPPING, and fills the metrics") {
  NotifyListener listener(false);
  SystemdNotifier notifier(listener.path(), 60s);
  MetricsBoard board("capture");
  DaemonObserver observer("capture", notifier, &board);

  CHECK_FALSE(board.Ready(std::chrono::steady_clock::now(), 60s));
  observer.OnReady();
  std::string ready = listener.Receive();
  CHECK(ready.rfind("READY=1\nSTATUS=capture: 0 events", 0) == 0);
  CHECK(listener.Receive() == "WATCHDOG=1");

  for (int i = 0; i < 3; ++i) observer.OnEvent("dbo", "orders", "c");
  observer.OnEvent("dbo", "orders", "d");
  observer.OnEvent("sales", "items", "c");
  observer.OnError("kafka");
  ProgressSnapshot progress;
  progress.log_rows = 42;
  progress.events = 5;
  progress.kafka_transactions = 2;
  progress.committed_lsn = sqltail::logreader::Lsn(0x1a, 0x3b, 2);
  progress.restart_lsn = sqltail::logreader::Lsn(0x1a, 0x30, 1);
  progress.open_transactions = 1;
  progress.buffered_bytes = 300;
  progress.caught_up = true;
  progress.unavailable_values = 4;
  progress.rows_moved_by_page_splits = 17;
  observer.OnProgress(progress);
  // Within half the watchdog interval of the READY ping: a STATUS only.
  std::string status = listener.Receive();
  CHECK(status == "STATUS=capture: 5 events in 2 Kafka transactions, committed LSN 0000001a:0000003b:0002, caught up");
  CHECK(board.Ready(std::chrono::steady_clock::now(), 60s));

  observer.OnStopping();
  CHECK(listener.Receive() == "STOPPING=1\nSTATUS=capture: stopping");
  CHECK_FALSE(board.Ready(std::chrono::steady_clock::now(), 60s));
  CHECK(board.Live(std::chrono::steady_clock::now(), 60s));

  std::string text = board.RenderPrometheus();
  CHECK(text.find("# TYPE sqltail_events_total counter\n") != std::string::npos);
  CHECK(text.find("sqltail_events_total{table=\"dbo.orders\",op=\"c\"} 3\n") != std::string::npos);
  CHECK(text.find("sqltail_events_total{table=\"dbo.orders\",op=\"d\"} 1\n") != std::string::npos);
  CHECK(text.find("sqltail_events_total{table=\"sales.items\",op=\"c\"} 1\n") != std::string::npos);
  CHECK(text.find("sqltail_log_rows_total 42\n") != std::string::npos);
  CHECK(text.find("sqltail_kafka_transactions_total 2\n") != std::string::npos);
  CHECK(text.find("sqltail_lsn{lsn=\"committed\",part=\"block\"} 59\n") != std::string::npos);
  CHECK(text.find("sqltail_lsn{lsn=\"restart\",part=\"slot\"} 1\n") != std::string::npos);
  CHECK(text.find("sqltail_committed_lsn_info{lsn=\"0000001a:0000003b:0002\"} 1\n") != std::string::npos);
  CHECK(text.find("sqltail_open_transactions 1\n") != std::string::npos);
  CHECK(text.find("sqltail_buffered_bytes 300\n") != std::string::npos);
  CHECK(text.find("sqltail_errors_total{kind=\"kafka\"} 1\n") != std::string::npos);
  CHECK(text.find("sqltail_errors_total{kind=\"sink\"} 0\n") != std::string::npos);
  CHECK(text.find("sqltail_lag_seconds 0.000\n") != std::string::npos);
  CHECK(text.find("# TYPE sqltail_unavailable_values_total counter\nsqltail_unavailable_values_total 4\n") !=
        std::string::npos);
  CHECK(text.find("sqltail_page_split_rows_moved_total 17\n") != std::string::npos);
  CHECK(text.find("sqltail_partial_updates_total 0\n") != std::string::npos);
}

TEST_CASE("lag is the age of the last emitted commit while catching up") {
  MetricsBoard board("capture");
  ServiceSnapshot snapshot;
  snapshot.progress.last_commit_unix_ms = 1'000'000;
  snapshot.progress.caught_up = false;
  board.Publish(snapshot);
  auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'012'500));
  CHECK(board.RenderPrometheus(now).find("sqltail_lag_seconds 12.500\n") != std::string::npos);
}

TEST_CASE("the HTTP endpoint serves /metrics, /healthz and /readyz") {
  MetricsBoard board("apply");
  MetricsServer server(board, 60s);
  std::string error;
  REQUIRE(server.Start("127.0.0.1", 0, error));
  REQUIRE(server.port() != 0);

  CHECK(HttpGet(server.port(), "/healthz").rfind("HTTP/1.1 200", 0) == 0);
  CHECK(HttpGet(server.port(), "/readyz").rfind("HTTP/1.1 503", 0) == 0);  // not ready yet
  ServiceSnapshot snapshot;
  snapshot.ready = true;
  snapshot.last_progress = std::chrono::steady_clock::now();
  snapshot.progress.target_transactions = 7;
  board.Publish(snapshot);
  CHECK(HttpGet(server.port(), "/readyz").rfind("HTTP/1.1 200", 0) == 0);
  std::string metrics = HttpGet(server.port(), "/metrics");
  CHECK(metrics.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(metrics.find("text/plain; version=0.0.4") != std::string::npos);
  CHECK(metrics.find("sqltail_info{role=\"apply\"} 1\n") != std::string::npos);
  CHECK(metrics.find("sqltail_target_transactions_total 7\n") != std::string::npos);
  CHECK(HttpGet(server.port(), "/nothing").rfind("HTTP/1.1 404", 0) == 0);

  // A main loop that stopped advancing fails liveness and readiness.
  snapshot.last_progress = std::chrono::steady_clock::now() - 61s;
  board.Publish(snapshot);
  CHECK(HttpGet(server.port(), "/healthz").rfind("HTTP/1.1 503", 0) == 0);
  CHECK(HttpGet(server.port(), "/readyz").rfind("HTTP/1.1 503", 0) == 0);
}

TEST_CASE("a port that is taken is an error naming the address") {
  MetricsBoard board("capture");
  MetricsServer first(board, 60s), second(board, 60s);
  std::string error;
  REQUIRE(first.Start("127.0.0.1", 0, error));
  CHECK_FALSE(second.Start("127.0.0.1", first.port(), error));
  CHECK(error.find("metrics endpoint 127.0.0.1:" + std::to_string(first.port())) == 0);
}
