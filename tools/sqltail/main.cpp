// sqltail: capture (SQL Server log -> Kafka), apply (Kafka -> target database), verify.
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "sqltail/engine/apply.h"
#include "sqltail/engine/check.h"
#include "sqltail/engine/config.h"
#include "sqltail/engine/daemon_observer.h"
#include "sqltail/engine/prepare.h"
#include "sqltail/engine/verify.h"
#include "sqltail/kafka/kafka_error.h"
#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/connection.h"
#include "sqltail/tds/error.h"

namespace po = boost::program_options;
using namespace sqltail;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

constexpr const char* kUsage =
    "usage: sqltail capture --config FILE [--set section.key=value ...]\n"
    "       sqltail apply   --config FILE [--set section.key=value ...]\n"
    "       sqltail check   --config FILE [--set section.key=value ...] [--offline] [--timeout-ms MS]\n"
    "       sqltail config-reference   (docs/configuration.md)\n"
    "       sqltail prepare --config FILE [--dry-run]   (capture config: make the source ready)\n"
    "       sqltail verify  --source-rows FILE --sqlite FILE [--table-name-format FMT] [--catalog FILE] [MODES]\n"
    "       sqltail verify  --source-rows FILE --postgres DSN [--schema S] [--table-name-format FMT] [--catalog FILE]\n"
    "                       [MODES]    MODES: --time-precision-mode, --decimal-handling-mode, --binary-handling-mode\n";

// Under systemd (JOURNAL_STREAM set) lines carry a "<N>" syslog priority prefix, which journald
// turns into the entry's level, and no timestamp (journald adds its own).
bool g_journal = false;

class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    static constexpr const char* kPriority[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    std::string_view prefix = kPriority[static_cast<int>(message.level)];
    out.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

void SetUpLogging() {
  const char* journal = std::getenv("JOURNAL_STREAM");
  g_journal = journal != nullptr && *journal != '\0';
  if (!g_journal) {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    return;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%v");
  spdlog::set_formatter(std::move(formatter));
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "%ssqltail: %s\n", g_journal ? "<3>" : "", message.c_str());
  return 1;
}

// The daemon around a capture or apply run: systemd notifications (when started by systemd) and
// the metrics/health endpoint (when service.metrics_port is set).
class ServiceRuntime {
 public:
  explicit ServiceRuntime(const char* role)
      : notifier_(engine::SystemdNotifier::FromEnvironment()), board_(role), observer_(role, notifier_, &board_) {}

  bool Start(const engine::ServiceOptions& options, std::string& error) {
    if (options.metrics_port == 0) return true;
    server_ = std::make_unique<engine::MetricsServer>(board_, std::chrono::seconds(options.stall_timeout_s));
    if (!server_->Start(options.metrics_address, static_cast<uint16_t>(options.metrics_port), error)) return false;
    spdlog::info("metrics on http://{}:{}/metrics (/healthz, /readyz)", options.metrics_address, server_->port());
    return true;
  }
  engine::ServiceObserver& observer() { return observer_; }
  // A failed run tells systemd why before it exits (the error names no secret).
  void Failed(const std::string& error) { notifier_.Notify("STATUS=failed: " + error); }

 private:
  engine::SystemdNotifier notifier_;
  engine::MetricsBoard board_;
  engine::DaemonObserver observer_;
  std::unique_ptr<engine::MetricsServer> server_;
};

int Capture(const std::string& config_path, const std::vector<std::string>& overrides) {
  std::string error;
  engine::ServiceOptions service;
  auto config = engine::LoadCaptureConfig(config_path, overrides, error, &service);
  if (!config) return Fail(error);
  ServiceRuntime runtime("capture");
  if (!runtime.Start(service, error)) return Fail(error);
  logreader::LiveSourceOptions live = config->live_source;
  live.should_stop = [] { return g_stop.load(); };
  live.log = [](const std::string& m) { spdlog::warn("source: {}", m); };
  auto source = logreader::OpenLiveSource(config->source, std::move(live));
  engine::CaptureStats stats;
  bool ok = engine::RunCapture(
      config->capture, *source, g_stop, stats, error, [](const std::string& m) { spdlog::info("capture: {}", m); },
      runtime.observer());
  spdlog::info("capture: {} log rows, {} transactions, {} events in {} Kafka transactions", stats.log_rows,
               stats.transactions, stats.events, stats.kafka_transactions);
  if (stats.partial_updates > 0 || stats.unavailable_values > 0)
    spdlog::info("capture: {} partial updates, {} unavailable values (sqltail.unavailable)", stats.partial_updates,
                 stats.unavailable_values);
  if (config->capture.log_safeguard == engine::LogSafeguard::kRepldone)
    spdlog::info("capture: log safeguard: {} sp_repldone marks, {} refused", stats.safeguard_marks,
                 stats.safeguard_failures);
  if (config->capture.log_safeguard == engine::LogSafeguard::kOpenTransaction)
    spdlog::info("capture: log safeguard: {} transactions held, {} released, {} failures, {} reconnects",
                 stats.safeguard_holds, stats.safeguard_releases, stats.safeguard_failures, stats.safeguard_reconnects);
  if (!ok) runtime.Failed(error);
  return ok ? 0 : Fail(error);
}

int Apply(const std::string& config_path, const std::vector<std::string>& overrides) {
  std::string error;
  engine::ServiceOptions service;
  auto options = engine::LoadApplyConfig(config_path, overrides, error, &service);
  if (!options) return Fail(error);
  ServiceRuntime runtime("apply");
  if (!runtime.Start(service, error)) return Fail(error);
  engine::ApplyStats stats;
  bool ok = engine::RunApply(
      *options, g_stop, stats, error, [](const std::string& m) { spdlog::info("apply: {}", m); }, runtime.observer());
  spdlog::info(
      "apply: {} events ({} upserts, {} deletes, {} truncates, {} dead-lettered) in {} target transactions, {} schema "
      "changes",
      stats.events, stats.upserts, stats.deletes, stats.truncates, stats.dead_lettered, stats.target_transactions,
      stats.schema_changes);
  if (!ok) runtime.Failed(error);
  return ok ? 0 : Fail(error);
}

// Reports what the source lacks for complete capture and fixes what it can (or, with --dry-run,
// prints the T-SQL a DBA would run). Exit 0 when nothing is missing afterwards, 3 otherwise.
int Prepare(const std::string& config_path, const std::vector<std::string>& overrides, bool dry_run) {
  std::string error;
  auto config = engine::LoadCaptureConfig(config_path, overrides, error);
  if (!config) return Fail(error);
  auto source = tds::Connection::Connect(config->source);
  auto read_facts = [&]() {
    auto facts = engine::ReadSourceFacts(source, config->capture.table_include, config->capture.table_exclude);
    if (config->capture.log_safeguard == engine::LogSafeguard::kOpenTransaction)
      engine::ReadSafeguardFacts(source, config->capture.safeguard_schema, config->capture.safeguard_table, facts);
    return facts;
  };
  auto facts = read_facts();
  auto plan = engine::PlanPrepare(facts);
  std::fputs(engine::FormatFindings(plan).c_str(), stdout);
  if (plan.statements.empty()) return plan.Complete() ? 0 : 3;
  if (dry_run) {
    std::printf("-- T-SQL that sqltail prepare would run in database %s:\n",
                engine::SqlQuotedName(config->source.database).c_str());
    for (const auto& statement : plan.statements) std::printf("%s;\n", statement.c_str());
    return plan.Complete() ? 0 : 3;
  }
  std::vector<std::string> executed;
  bool ok = engine::ExecutePlan(source, plan, executed, error);
  for (const auto& statement : executed) std::printf("executed: %s;\n", statement.c_str());
  if (!ok) return Fail(error);
  // Re-read: the findings the statements fixed are ok now; what a DBA must do stays listed.
  auto after = engine::PlanPrepare(read_facts());
  if (!after.Complete()) {
    std::puts("still missing after prepare:");
    for (const auto& f : after.findings)
      if (f.status != engine::FindingStatus::kOk) std::printf("  %s: %s\n", f.what.c_str(), f.detail.c_str());
  }
  return after.Complete() ? 0 : 3;
}

// One line per check on stdout; exit 0 only when every check passed.
int Check(const std::string& config_path, const std::vector<std::string>& overrides, bool offline, int timeout_ms) {
  // The check lines say what failed; librdkafka's own log lines (retries, "brokers are down") would
  // only interleave with them.
  spdlog::set_level(spdlog::level::off);
  engine::CheckOptions options;
  options.connect = !offline;
  options.kafka_timeout = std::chrono::milliseconds(timeout_ms);
  bool ok = engine::RunCheck(config_path, overrides, options, [](const engine::CheckResult& result) {
    std::printf("%s\n", engine::FormatCheckResult(result).c_str());
    std::fflush(stdout);
  });
  return ok ? 0 : 1;
}

int Verify(const std::string& source_rows, const std::string& sqlite, const std::string& postgres,
           const std::string& schema, const engine::VerifyOptions& options) {
  std::vector<engine::TableComparison> tables;
  std::string error;
  if (!postgres.empty()) {
    // As for apply, SQLTAIL_TARGET_DSN (e.g. "password=...") is merged over the given DSN.
    std::vector<std::string> conninfo{postgres};
    if (const char* env = std::getenv("SQLTAIL_TARGET_DSN"); env != nullptr && *env != '\0') conninfo.emplace_back(env);
    if (!engine::CompareWithPostgres(source_rows, conninfo, schema, options, tables, error)) return Fail(error);
  } else if (!engine::CompareWithSqlite(source_rows, sqlite, options, tables, error)) {
    return Fail(error);
  }
  bool all = !tables.empty();
  for (const auto& t : tables) {
    std::printf("verify: %s -> %s: source %llu rows (checksum %016llx), target %llu rows (checksum %016llx): %s\n",
                t.source_table.c_str(), t.target_table.c_str(), static_cast<unsigned long long>(t.source_rows),
                static_cast<unsigned long long>(t.source_checksum), static_cast<unsigned long long>(t.target_rows),
                static_cast<unsigned long long>(t.target_checksum), t.Match() ? "match" : "DIFFER");
    for (const auto& note : t.notes)
      std::printf("verify: %s -> %s: %s\n", t.source_table.c_str(), t.target_table.c_str(), note.c_str());
    all &= t.Match();
  }
  return all ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  SetUpLogging();
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  std::string command = argv[1];
  std::string config, source_rows, sqlite, postgres, schema, format, catalog;
  std::string time_precision_mode, decimal_handling_mode, binary_handling_mode;
  std::vector<std::string> overrides;
  bool dry_run = false, offline = false;
  int timeout_ms = 10000;
  po::options_description options;
  options.add_options()("help,h", "usage")("config", po::value(&config), "configuration file")(
      "set", po::value(&overrides)->composing(), "override a configuration key: section.key=value")(
      "offline", po::bool_switch(&offline), "check: validate the configuration only, connect to nothing")(
      "timeout-ms", po::value(&timeout_ms)->default_value(10000), "check: bound of the Kafka metadata request")(
      "dry-run", po::bool_switch(&dry_run), "prepare: print the T-SQL instead of running it")(
      "source-rows", po::value(&source_rows), "verify: the fixture's source.jsonl")("sqlite", po::value(&sqlite),
                                                                                    "verify: the target SQLite file")(
      "postgres", po::value(&postgres), "verify: the target PostgreSQL (libpq connection string or URI)")(
      "schema", po::value(&schema)->default_value("public"), "verify: the PostgreSQL schema of the tables")(
      "table-name-format", po::value(&format)->default_value("${table}"), "verify: target table name format")(
      "catalog", po::value(&catalog), "verify: the column types (default: catalog.json next to --source-rows)")(
      "time-precision-mode", po::value(&time_precision_mode)->default_value("adaptive"),
      "verify: capture.time_precision_mode of the capture")("decimal-handling-mode",
                                                            po::value(&decimal_handling_mode)->default_value("precise"),
                                                            "verify: capture.decimal_handling_mode of the capture")(
      "binary-handling-mode", po::value(&binary_handling_mode)->default_value("bytes"),
      "verify: capture.binary_handling_mode of the capture");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc - 1, argv + 1, options), values);
    po::notify(values);
  } catch (const po::error& e) {
    return Fail(std::string(e.what()) + "\n" + kUsage);
  }
  if (values.count("help")) {
    std::cout << kUsage << options;
    return 0;
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  try {
    if (command == "capture" || command == "apply") {
      if (config.empty()) return Fail(command + ": --config FILE is required");
      return command == "capture" ? Capture(config, overrides) : Apply(config, overrides);
    }
    if (command == "prepare") {
      if (config.empty()) return Fail("prepare: --config FILE is required");
      return Prepare(config, overrides, dry_run);
    }
    if (command == "check") {
      if (config.empty()) return Fail("check: --config FILE is required");
      return Check(config, overrides, offline, timeout_ms);
    }
    if (command == "config-reference") {
      std::fputs(engine::ConfigReferenceMarkdown().c_str(), stdout);
      return 0;
    }
    if (command == "verify") {
      if (source_rows.empty() || sqlite.empty() == postgres.empty())
        return Fail("verify: --source-rows and one of --sqlite or --postgres are required");
      engine::VerifyOptions verify_options;
      verify_options.table_name_format = format;
      verify_options.catalog_path = catalog;
      if (!engine::ParseTimePrecisionMode(time_precision_mode, verify_options.modes.time_precision_mode))
        return Fail("verify: --time-precision-mode: '" + time_precision_mode + "' is not adaptive or connect");
      if (!engine::ParseDecimalHandlingMode(decimal_handling_mode, verify_options.modes.decimal_handling_mode))
        return Fail("verify: --decimal-handling-mode: '" + decimal_handling_mode +
                    "' is not precise, double or string");
      if (!engine::ParseBinaryHandlingMode(binary_handling_mode, verify_options.modes.binary_handling_mode))
        return Fail("verify: --binary-handling-mode: '" + binary_handling_mode + "' is not bytes, base64 or hex");
      return Verify(source_rows, sqlite, postgres, schema, verify_options);
    }
  } catch (const tds::TdsException& e) {
    return Fail(e.what());
  } catch (const kafka::KafkaException& e) {
    return Fail(e.what());
  }
  std::fputs(kUsage, stderr);
  return 64;
}
