// sqltail: capture (SQL Server log -> Kafka), apply (Kafka -> target database), verify.
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "sqltail/engine/apply.h"
#include "sqltail/engine/config.h"
#include "sqltail/engine/verify.h"
#include "sqltail/kafka/kafka_error.h"
#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/error.h"

namespace po = boost::program_options;
using namespace sqltail;

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

constexpr const char* kUsage =
    "usage: sqltail capture --config FILE [--set section.key=value ...]\n"
    "       sqltail apply   --config FILE [--set section.key=value ...]\n"
    "       sqltail verify  --source-rows FILE --sqlite FILE [--table-name-format FMT]\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "sqltail: %s\n", message.c_str());
  return 1;
}

int Capture(const std::string& config_path, const std::vector<std::string>& overrides) {
  std::string error;
  auto config = engine::LoadCaptureConfig(config_path, overrides, error);
  if (!config) return Fail(error);
  auto source = logreader::OpenLiveSource(config->source);
  engine::CaptureStats stats;
  bool ok = engine::RunCapture(config->capture, *source, g_stop, stats, error,
                               [](const std::string& m) { spdlog::info("capture: {}", m); });
  spdlog::info("capture: {} log rows, {} transactions, {} events in {} Kafka transactions", stats.log_rows,
               stats.transactions, stats.events, stats.kafka_transactions);
  return ok ? 0 : Fail(error);
}

int Apply(const std::string& config_path, const std::vector<std::string>& overrides) {
  std::string error;
  auto options = engine::LoadApplyConfig(config_path, overrides, error);
  if (!options) return Fail(error);
  engine::ApplyStats stats;
  bool ok =
      engine::RunApply(*options, g_stop, stats, error, [](const std::string& m) { spdlog::info("apply: {}", m); });
  spdlog::info("apply: {} events ({} upserts, {} deletes) in {} target transactions", stats.events, stats.upserts,
               stats.deletes, stats.target_transactions);
  return ok ? 0 : Fail(error);
}

int Verify(const std::string& source_rows, const std::string& sqlite, const std::string& format) {
  std::vector<engine::TableComparison> tables;
  std::string error;
  if (!engine::CompareWithSqlite(source_rows, sqlite, format, tables, error)) return Fail(error);
  bool all = !tables.empty();
  for (const auto& t : tables) {
    std::printf("verify: %s -> %s: source %llu rows (checksum %016llx), target %llu rows (checksum %016llx): %s\n",
                t.source_table.c_str(), t.target_table.c_str(), static_cast<unsigned long long>(t.source_rows),
                static_cast<unsigned long long>(t.source_checksum), static_cast<unsigned long long>(t.target_rows),
                static_cast<unsigned long long>(t.target_checksum), t.Match() ? "match" : "DIFFER");
    all &= t.Match();
  }
  return all ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  std::string command = argv[1];
  std::string config, source_rows, sqlite, format;
  std::vector<std::string> overrides;
  po::options_description options;
  options.add_options()("help,h", "usage")("config", po::value(&config), "configuration file")(
      "set", po::value(&overrides)->composing(), "override a configuration key: section.key=value")(
      "source-rows", po::value(&source_rows), "verify: the fixture's source.jsonl")("sqlite", po::value(&sqlite),
                                                                                    "verify: the target SQLite file")(
      "table-name-format", po::value(&format)->default_value("${table}"), "verify: target table name format");
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
    if (command == "verify") {
      if (source_rows.empty() || sqlite.empty()) return Fail("verify: --source-rows and --sqlite are required");
      return Verify(source_rows, sqlite, format);
    }
  } catch (const tds::TdsException& e) {
    return Fail(e.what());
  } catch (const kafka::KafkaException& e) {
    return Fail(e.what());
  }
  std::fputs(kUsage, stderr);
  return 64;
}
