#include "sqltail/engine/service_metrics.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <thread>

namespace sqltail::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Label values may hold any text: escape as the exposition format requires.
std::string EscapeLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, const char* name, uint64_t value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void SampleDouble(std::string& out, const std::string& name, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  out += name;
  out += ' ';
  out += buffer;
  out += '\n';
}

void LsnParts(std::string& out, const char* which, const logreader::Lsn& lsn) {
  const std::pair<const char*, uint64_t> parts[] = {{"vlf", lsn.vlf()}, {"block", lsn.block()}, {"slot", lsn.slot()}};
  for (const auto& [part, value] : parts) {
    out += "sqltail_lsn{lsn=\"";
    out += which;
    out += "\",part=\"";
    out += part;
    out += "\"} ";
    out += std::to_string(value);
    out += '\n';
  }
}

// The source's connection and log bounds (capture): reconnects, rows from log backups, and the lag
// behind the end of the log in LSN terms, when sys.dm_db_log_stats answered.
void RenderSourceLog(std::string& out, const ProgressSnapshot& p) {
  Header(out, "sqltail_source_reconnects_total", "counter", "Connections to the source re-established (capture).");
  Sample(out, "sqltail_source_reconnects_total", p.source_reconnects);
  Header(out, "sqltail_backup_log_rows_total", "counter", "Log rows read from log backups with fn_dump_dblog.");
  Sample(out, "sqltail_backup_log_rows_total", p.backup_log_rows);
  Header(out, "sqltail_log_bounds_available", "gauge",
         "1 when the source reported the bounds of its active log (sys.dm_db_log_stats); 0: the LSN lag is unknown.");
  Sample(out, "sqltail_log_bounds_available", p.log_bounds_known ? 1 : 0);
  if (!p.log_bounds_known) return;
  Header(out, "sqltail_source_log_lsn", "gauge",
         "Parts of the oldest LSN of the active log (min) and of the last LSN written (end), as last reported.");
  const std::pair<const char*, const logreader::Lsn*> bounds[] = {{"min", &p.log_min_lsn}, {"end", &p.log_end_lsn}};
  for (const auto& [which, lsn] : bounds) {
    const std::pair<const char*, uint64_t> parts[] = {
        {"vlf", lsn->vlf()}, {"block", lsn->block()}, {"slot", lsn->slot()}};
    for (const auto& [part, value] : parts) {
      out += "sqltail_source_log_lsn{lsn=\"";
      out += which;
      out += "\",part=\"";
      out += part;
      out += "\"} " + std::to_string(value) + "\n";
    }
  }
  // An LSN has no byte offset across VLFs, so the distance is given per part: VLF sequence numbers
  // between the last LSN read and the end of the log, and within the same VLF, 512-byte log blocks.
  const logreader::Lsn& read = p.read_lsn;
  const logreader::Lsn& end = p.log_end_lsn;
  uint64_t vlfs = 0, blocks = 0;
  if (end > read) {
    vlfs = end.vlf() - read.vlf();
    blocks = vlfs == 0 ? end.block() - read.block() : end.block();
  }
  Header(out, "sqltail_lag_lsn_distance", "gauge",
         "Distance from the last LSN read to the end of the log: unit=vlf counts VLF sequence numbers; unit=block "
         "counts 512-byte log blocks (within the end VLF when they differ). 0 and 0: caught up.");
  out += "sqltail_lag_lsn_distance{unit=\"vlf\"} " + std::to_string(vlfs) + "\n";
  out += "sqltail_lag_lsn_distance{unit=\"block\"} " + std::to_string(blocks) + "\n";
}

// What the log allowed the capture to know (logreader::AssemblerStats): the counters an operator
// watches to see that nothing was guessed.
void RenderLogSemantics(std::string& out, const ProgressSnapshot& p) {
  const struct {
    const char* name;
    const char* help;
    uint64_t value;
  } counters[] = {
      {"sqltail_partial_updates_total", "Update events without a base image of the row (capture).", p.partial_updates},
      {"sqltail_unavailable_values_total",
       "Columns emitted as unavailable, one per column per event (capture; sqltail.unavailable header).",
       p.unavailable_values},
      {"sqltail_changes_compensated_total", "Changes cancelled by their compensation records (capture).",
       p.changes_compensated},
      {"sqltail_page_split_rows_moved_total", "Captured rows a page split moved; not change events (capture).",
       p.rows_moved_by_page_splits},
      {"sqltail_schema_change_transactions_total", "Committed source transactions that changed a schema (capture).",
       p.schema_change_transactions},
      {"sqltail_spilled_transactions_total", "Source transactions larger than the memory budget (capture).",
       p.transactions_spilled},
      {"sqltail_spilled_bytes_total", "Row bytes written to spill files (capture).", p.bytes_spilled},
  };
  for (const auto& c : counters) {
    Header(out, c.name, "counter", c.help);
    Sample(out, c.name, c.value);
  }
}

}  // namespace

void MetricsBoard::Publish(const ServiceSnapshot& snapshot) {
  std::lock_guard lock(mutex_);
  snapshot_ = snapshot;
}

ServiceSnapshot MetricsBoard::Read() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

bool MetricsBoard::Live(std::chrono::steady_clock::time_point now, std::chrono::seconds stall_limit) const {
  std::lock_guard lock(mutex_);
  return !snapshot_.ready || snapshot_.stopping || now - snapshot_.last_progress < stall_limit;
}

bool MetricsBoard::Ready(std::chrono::steady_clock::time_point now, std::chrono::seconds stall_limit) const {
  std::lock_guard lock(mutex_);
  return snapshot_.ready && !snapshot_.stopping && now - snapshot_.last_progress < stall_limit;
}

std::string MetricsBoard::RenderPrometheus(std::chrono::system_clock::time_point now) const {
  ServiceSnapshot s = Read();
  const auto& p = s.progress;
  std::string out;
  out.reserve(4096);
  Header(out, "sqltail_info", "gauge", "Constant 1; the role label says capture or apply.");
  out += "sqltail_info{role=\"" + EscapeLabel(role_) + "\"} 1\n";
  Header(out, "sqltail_ready", "gauge", "1 once connected and initialised, 0 before and while stopping.");
  Sample(out, "sqltail_ready", s.ready && !s.stopping ? 1 : 0);
  Header(out, "sqltail_log_rows_total", "counter", "fn_dblog rows read.");
  Sample(out, "sqltail_log_rows_total", p.log_rows);
  Header(out, "sqltail_source_transactions_total", "counter", "Committed source transactions emitted.");
  Sample(out, "sqltail_source_transactions_total", p.source_transactions);
  Header(out, "sqltail_events_total", "counter", "Change events produced (capture) or applied (apply).");
  for (const auto& e : s.events) {
    out += "sqltail_events_total{table=\"" + EscapeLabel(e.schema) + "." + EscapeLabel(e.table) + "\",op=\"" +
           EscapeLabel(e.op) + "\"} " + std::to_string(e.count) + "\n";
  }
  Header(out, "sqltail_kafka_transactions_total", "counter", "Committed Kafka transactions (capture).");
  Sample(out, "sqltail_kafka_transactions_total", p.kafka_transactions);
  Header(out, "sqltail_target_transactions_total", "counter", "Committed target transactions (apply).");
  Sample(out, "sqltail_target_transactions_total", p.target_transactions);
  Header(out, "sqltail_dead_lettered_total", "counter",
         "Bad events written to the dead-letter topic (apply, apply.on_error = dead-letter).");
  Sample(out, "sqltail_dead_lettered_total", p.dead_lettered);
  Header(out, "sqltail_lsn", "gauge",
         "Parts of the last LSN read, the committed checkpoint's commit LSN and its restart LSN (capture).");
  LsnParts(out, "read", p.read_lsn);
  LsnParts(out, "committed", p.committed_lsn);
  LsnParts(out, "restart", p.restart_lsn);
  Header(out, "sqltail_committed_lsn_info", "gauge", "Constant 1; the lsn label is the committed commit LSN.");
  out += "sqltail_committed_lsn_info{lsn=\"" + p.committed_lsn.ToString() + "\"} 1\n";
  Header(out, "sqltail_restart_lsn_info", "gauge", "Constant 1; the lsn label is the committed restart LSN.");
  out += "sqltail_restart_lsn_info{lsn=\"" + p.restart_lsn.ToString() + "\"} 1\n";
  Header(out, "sqltail_open_transactions", "gauge", "Source transactions begun and not yet ended (capture).");
  Sample(out, "sqltail_open_transactions", p.open_transactions);
  Header(out, "sqltail_buffered_bytes", "gauge", "Bytes of changes buffered for open source transactions.");
  Sample(out, "sqltail_buffered_bytes", p.buffered_bytes);
  Header(out, "sqltail_caught_up", "gauge", "1 when the last poll found nothing new.");
  Sample(out, "sqltail_caught_up", p.caught_up ? 1 : 0);
  Header(out, "sqltail_source_last_commit_timestamp_seconds", "gauge",
         "Source commit time of the last emitted transaction, as logged (capture; 0: none yet).");
  SampleDouble(out, "sqltail_source_last_commit_timestamp_seconds", static_cast<double>(p.last_commit_unix_ms) / 1e3);
  // Caught up means nothing is waiting, whatever the age of the last commit.
  double lag = 0;
  if (!p.caught_up && p.last_commit_unix_ms > 0) {
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    lag = std::max<double>(0, static_cast<double>(now_ms - p.last_commit_unix_ms) / 1e3);
  }
  Header(out, "sqltail_lag_seconds", "gauge",
         "Seconds between now and the source commit time of the last emitted transaction; 0 when caught up.");
  SampleDouble(out, "sqltail_lag_seconds", lag);
  RenderSourceLog(out, p);
  RenderLogSemantics(out, p);
  Header(out, "sqltail_snapshot_rows", "gauge", "Rows read by the initial snapshot in progress (capture).");
  Sample(out, "sqltail_snapshot_rows", p.snapshot_rows);
  Header(out, "sqltail_snapshot_rows_estimated", "gauge",
         "Row estimate of the snapshot in progress (sys.partitions); percent = rows / estimate. 0: none running.");
  Sample(out, "sqltail_snapshot_rows_estimated", p.snapshot_rows_estimated);
  Header(out, "sqltail_errors_total", "counter",
         "Errors by kind: kafka, source, sink, safeguard (sp_repldone refused; a held transaction lost, or a hold, "
         "check or "
         "release failed).");
  for (const auto& e : s.errors)
    out += "sqltail_errors_total{kind=\"" + EscapeLabel(e.kind) + "\"} " + std::to_string(e.count) + "\n";
  Header(out, "sqltail_last_progress_age_seconds", "gauge", "Seconds since the main loop last advanced.");
  double age = s.ready ? std::chrono::duration<double>(std::chrono::steady_clock::now() - s.last_progress).count() : 0;
  SampleDouble(out, "sqltail_last_progress_age_seconds", age);
  return out;
}

struct MetricsServer::Impl {
  const MetricsBoard& board;
  std::chrono::seconds stall_limit;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  Impl(const MetricsBoard& b, std::chrono::seconds limit) : board(b), stall_limit(limit) {}

  // One request per connection (Connection: close): scrapers and probes need no more.
  struct Session : std::enable_shared_from_this<Session> {
    Impl& server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;

    Session(Impl& s, tcp::socket socket) : server(s), stream(std::move(socket)) {}

    void Start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, request, [self = shared_from_this()](beast::error_code ec, size_t) {
        if (!ec) self->Respond();
      });
    }

    void Respond() {
      auto now = std::chrono::steady_clock::now();
      std::string_view target(request.target().data(), request.target().size());
      response.version(request.version());
      response.keep_alive(false);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      if (request.method() != http::verb::get && request.method() != http::verb::head) {
        response.result(http::status::method_not_allowed);
        response.body() = "GET only\n";
      } else if (target == "/metrics") {
        response.result(http::status::ok);
        response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        response.body() = server.board.RenderPrometheus();
      } else if (target == "/healthz") {
        bool live = server.board.Live(now, server.stall_limit);
        response.result(live ? http::status::ok : http::status::service_unavailable);
        response.body() = live ? "ok\n" : "the main loop has stalled\n";
      } else if (target == "/readyz") {
        bool ready = server.board.Ready(now, server.stall_limit);
        response.result(ready ? http::status::ok : http::status::service_unavailable);
        response.body() = ready ? "ready\n" : "not ready\n";
      } else {
        response.result(http::status::not_found);
        response.body() = "/metrics, /healthz, /readyz\n";
      }
      response.prepare_payload();
      http::async_write(stream, response, [self = shared_from_this()](beast::error_code, size_t) {
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    }
  };

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(*this, std::move(socket))->Start();
      Accept();
    });
  }
};

MetricsServer::MetricsServer(const MetricsBoard& board, std::chrono::seconds stall_limit)
    : impl_(std::make_unique<Impl>(board, stall_limit)) {}

MetricsServer::~MetricsServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool MetricsServer::Start(const std::string& address, uint16_t port, std::string& error) {
  beast::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (!ec) {
    tcp::endpoint endpoint(ip, port);
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = "metrics endpoint " + address + ":" + std::to_string(port) + ": " + ec.message();
    return false;
  }
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return true;
}

uint16_t MetricsServer::port() const {
  beast::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace sqltail::engine
