#include "sqltail/engine/check.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "apply/postgres_target.h"
#include "sqltail/engine/config.h"
#include "sqltail/engine/prepare.h"
#include "sqltail/kafka/admin.h"
#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/connection.h"
#include "sqltail/tds/error.h"

namespace sqltail::engine {
namespace {

std::string Trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

// The section of a key: "source" for "[source] host = x" and for "source.host = x".
void AddSection(const std::string& section, const std::string& key, std::set<std::string>& out) {
  if (!section.empty()) {
    out.insert(section);
  } else if (auto dot = key.find('.'); dot != std::string::npos) {
    out.insert(key.substr(0, dot));
  }
}

// The sections that hold at least one key, as Boost.Program_options reads an INI file: "[name]"
// starts a section, "key = value" lines belong to it, '#' starts a comment.
bool CollectSections(const std::string& path, const std::vector<std::string>& overrides, std::set<std::string>& out,
                     std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "config " + path + ": cannot open the file";
    return false;
  }
  std::string line, section;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::string text = Trim(line);
    if (text.empty()) continue;
    if (text.front() == '[' && text.back() == ']') {
      section = Trim(std::string_view(text).substr(1, text.size() - 2));
      continue;
    }
    if (auto eq = text.find('='); eq != std::string::npos) AddSection(section, Trim(text.substr(0, eq)), out);
  }
  for (const auto& o : overrides) AddSection({}, Trim(o.substr(0, o.find('='))), out);
  return true;
}

std::string JoinNames(const std::vector<std::string>& names, size_t max_shown) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_shown; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > max_shown) out += ", ... (" + std::to_string(names.size() - max_shown) + " more)";
  return out;
}

// A partitioned table has one catalog entry per partition: list its name once.
void AddOnce(std::string name, std::vector<std::string>& names) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
}

std::string JoinPatterns(const std::vector<std::string>& patterns) {
  std::string out;
  for (const auto& p : patterns) out += (out.empty() ? "" : ",") + p;
  return out.empty() ? "(empty)" : out;
}

class Checker {
 public:
  explicit Checker(const std::function<void(const CheckResult&)>& on_result) : on_result_(on_result) {}

  bool Report(bool ok, std::string what, std::string detail) {
    all_ok_ &= ok;
    if (on_result_) on_result_(CheckResult{ok, false, std::move(what), std::move(detail)});
    return ok;
  }
  void Warn(std::string what, std::string detail) {
    if (on_result_) on_result_(CheckResult{true, true, std::move(what), std::move(detail)});
  }
  bool all_ok() const { return all_ok_; }

 private:
  const std::function<void(const CheckResult&)>& on_result_;
  bool all_ok_ = true;
};

// Brokers answer a metadata request; reports which of `topics` exist (`missing_note` says what
// happens to the others).
void CheckKafka(Checker& checker, const kafka::Config& config, const std::vector<std::string>& topics,
                const std::string& missing_note, std::chrono::milliseconds timeout) {
  try {
    kafka::Admin admin(config);
    auto metadata = admin.DescribeCluster(timeout);
    if (!metadata.ok()) {
      checker.Report(
          false, "kafka",
          "key 'kafka.bootstrap_servers' = " + config.bootstrap_servers + ": " + metadata.error().ToString());
      return;
    }
    const auto& cluster = metadata.value();
    std::string detail = "bootstrap=" + config.bootstrap_servers + ": " + std::to_string(cluster.brokers.size()) +
                         " broker(s) " + JoinNames(cluster.brokers, 3);
    std::vector<std::string> present, missing;
    for (const auto& topic : topics) {
      bool found = std::find(cluster.topics.begin(), cluster.topics.end(), topic) != cluster.topics.end();
      (found ? present : missing).push_back(topic);
    }
    if (!present.empty()) detail += "; topic(s) present: " + JoinNames(present, 5);
    if (!missing.empty()) detail += "; not yet created: " + JoinNames(missing, 5) + " (" + missing_note + ")";
    checker.Report(true, "kafka", detail);
  } catch (const kafka::KafkaException& e) {
    checker.Report(false, "kafka", e.what());
  }
}

// What `sqltail prepare` would report. A missing essential (recovery model, full backup,
// permissions) fails: the log may be truncated before sqltail reads it, or not be readable. Missing
// supplemental logging only makes some update columns unavailable, and a fact the login may not
// read is unknown: both warn.
void CheckPreparation(Checker& checker, const CaptureConfig& config) {
  try {
    auto connection = tds::Connection::Connect(config.source);
    auto facts = ReadSourceFacts(connection, config.capture.table_include, config.capture.table_exclude);
    if (config.capture.log_safeguard == LogSafeguard::kOpenTransaction)
      ReadSafeguardFacts(connection, config.capture.safeguard_schema, config.capture.safeguard_table, facts);
    auto plan = PlanPrepare(facts);
    for (const auto& finding : plan.findings) {
      const std::string what = "prepare: " + finding.what;
      if (finding.status == FindingStatus::kOk) {
        checker.Report(true, what, finding.detail);
      } else if (finding.status == FindingStatus::kMissing && finding.essential) {
        checker.Report(false, what, finding.detail + " (sqltail prepare --dry-run shows the fix)");
      } else {
        checker.Warn(what, std::string(finding.status == FindingStatus::kMissing ? "missing: " : "unknown: ") +
                               finding.detail +
                               (finding.status == FindingStatus::kMissing ? " (sqltail prepare)" : ""));
      }
    }
  } catch (const tds::TdsException& e) {
    checker.Report(false, "prepare", e.what());
  }
}

bool CheckCapture(Checker& checker, const std::string& path, const std::vector<std::string>& overrides,
                  const CheckOptions& options) {
  std::string error;
  ServiceOptions service;
  auto config = LoadCaptureConfig(path, overrides, error, &service);
  if (!config) return checker.Report(false, "config", error);
  checker.Report(true, "config",
                 "capture stream in " + path + ": database '" + config->source.database + "' on " +
                     config->source.host + ":" + std::to_string(config->source.port) + ", topic prefix '" +
                     config->capture.topic_prefix + "'");
  if (!options.connect) return checker.all_ok();

  std::unique_ptr<logreader::LogSource> source;
  try {
    logreader::LiveSourceOptions live = config->live_source;
    live.reconnect_max_s = 0;  // report a failure at once instead of retrying
    live.read_log_backups = false;
    source = logreader::OpenLiveSource(config->source, std::move(live));
    checker.Report(true, "source login",
                   config->source.host + ":" + std::to_string(config->source.port) + "/" + config->source.database +
                       " as '" + config->source.user + "'");
  } catch (const tds::TdsException& e) {
    checker.Report(false, "source login", e.what());
  }
  if (source) {
    logreader::Catalog catalog;
    if (!source->ReadCatalog(catalog, error)) {
      checker.Report(false, "catalog query", error);
    } else {
      std::vector<std::string> all_tables;
      for (const auto& table : catalog.tables()) AddOnce(table->QualifiedName(), all_tables);
      checker.Report(true, "catalog query",
                     std::to_string(all_tables.size()) + " user table(s) with a heap or clustered index in '" +
                         config->source.database + "'");
      // What marks DDL in the log (docs/operator-guide.md "Schema changes in the log").
      if (!catalog.system_allocation_units().empty()) {
        std::vector<std::string> names;
        for (const auto& unit : catalog.system_allocation_units()) AddOnce(unit.name, names);
        checker.Report(true, "schema changes",
                       "detected by records on " + std::to_string(catalog.system_allocation_units().size()) +
                           " system table allocation unit(s): " + JoinNames(names, 10));
      } else {
        checker.Warn("schema changes",
                     "the system tables that mark DDL are not known (" +
                         (catalog.system_allocation_units_error.empty() ? std::string("not listed")
                                                                        : catalog.system_allocation_units_error) +
                         "): only transactions named ALTER TABLE, CREATE TABLE or DROPOBJ count as schema changes");
      }
      catalog.Filter(config->capture.table_include, config->capture.table_exclude);
      std::vector<std::string> selected;
      for (const auto& table : catalog.tables()) AddOnce(table->QualifiedName(), selected);
      if (selected.empty()) {
        // As capture itself: it refuses to start without a table to capture.
        checker.Report(false, "table filter",
                       "no table matches capture.table_include=" + JoinPatterns(config->capture.table_include) +
                           " and capture.table_exclude=" + JoinPatterns(config->capture.table_exclude) +
                           (all_tables.empty() ? std::string(" (the database has no user table)")
                                               : "; tables: " + JoinNames(all_tables, 10)));
      } else {
        checker.Report(true, "table filter",
                       std::to_string(selected.size()) + " of " + std::to_string(all_tables.size()) +
                           " table(s) selected: " + JoinNames(selected, 20));
      }
    }
    std::string first_lsn;
    size_t delivered = 0;
    bool read = source->ReadLog(
        logreader::Lsn(), 1,
        [&](const logreader::LogRow& row, std::string&) {
          first_lsn = row.current_lsn.ToString();
          return true;
        },
        delivered, error);
    if (!read) {
      checker.Report(false, "fn_dblog", error);
    } else {
      checker.Report(true, "fn_dblog",
                     delivered > 0 ? "SELECT TOP (1) from sys.fn_dblog(NULL, NULL): first LSN " + first_lsn
                                   : "SELECT TOP (1) from sys.fn_dblog(NULL, NULL) returned no row");
    }
    CheckPreparation(checker, *config);
  }
  CheckKafka(checker, config->capture.kafka, {config->capture.topic_prefix + ".offsets"},
             "capture creates it and starts at the beginning of the log", options.kafka_timeout);
  return checker.all_ok();
}

void CheckSqliteTarget(Checker& checker, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file(path);
  fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  const std::string where = "key 'target.path' = " + path + ": ";
  if (!fs::is_directory(dir, ec)) {
    checker.Report(false, "target", where + "the directory " + dir.string() + " does not exist");
    return;
  }
  // SQLite writes its journal (WAL) next to the file: the directory must be writable too.
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    checker.Report(false, "target", where + "the directory " + dir.string() + " is not writable by this user");
    return;
  }
  if (!fs::exists(file, ec)) {
    checker.Report(true, "target", "sqlite " + path + ": does not exist yet; apply creates it (directory writable)");
    return;
  }
  // Only the header is read: opening the database could create its -wal/-shm files.
  std::ifstream in(path, std::ios::binary);
  std::array<char, 16> header{};
  if (!in || !in.read(header.data(), header.size()) || std::memcmp(header.data(), "SQLite format 3", 16) != 0) {
    checker.Report(false, "target", where + "the file exists and is not a SQLite database");
    return;
  }
  if (::access(path.c_str(), R_OK | W_OK) != 0) {
    checker.Report(false, "target", where + "the file is not readable and writable by this user");
    return;
  }
  checker.Report(true, "target", "sqlite " + path + ": an existing SQLite database, writable");
}

void CheckPostgresTarget(Checker& checker, const ApplyOptions& apply) {
  std::string error;
  pg_conn* conn = ConnectPostgres(apply.postgres_conninfo, error);
  if (conn == nullptr) {
    checker.Report(false, "target", "key 'target.dsn': " + error);
    return;
  }
  // sqltail creates its tables and sqltail_progress in target.schema, and the schema when it is missing.
  const char* schema = apply.postgres_schema.c_str();
  PGresult* result = PQexecParams(conn,
                                  "SELECT current_user, current_database(),"
                                  " has_database_privilege(current_database(), 'CREATE'),"
                                  " (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace AS n"
                                  "  WHERE n.nspname = $1)",
                                  1, nullptr, &schema, nullptr, nullptr, 0);
  std::string where = std::string("postgresql ") + PQhost(conn) + ":" + PQport(conn) + "/" + PQdb(conn);
  if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    checker.Report(false, "target", where + ": privilege query failed: " + message);
  } else {
    std::string user = PQgetvalue(result, 0, 0);
    bool database_create = std::strcmp(PQgetvalue(result, 0, 2), "t") == 0;
    bool schema_exists = !PQgetisnull(result, 0, 3);
    bool schema_create = schema_exists && std::strcmp(PQgetvalue(result, 0, 3), "t") == 0;
    where += " as '" + user + "'";
    if (schema_exists && !schema_create) {
      checker.Report(false, "target",
                     where + ": key 'target.schema' = " + apply.postgres_schema + ": '" + user +
                         "' lacks CREATE on the schema (apply creates its tables there)");
    } else if (!schema_exists && !database_create) {
      checker.Report(false, "target",
                     where + ": key 'target.schema' = " + apply.postgres_schema + " does not exist and '" + user +
                         "' may not create it (CREATE on the database)");
    } else {
      checker.Report(true, "target",
                     where + ", schema " + apply.postgres_schema +
                         (schema_exists ? " exists, CREATE allowed" : " missing, apply creates it"));
    }
  }
  PQclear(result);
  PQfinish(conn);
}

// The login only: which permissions the SQL Server target needs is not checked here.
void CheckSqlServerTarget(Checker& checker, const tds::ConnectOptions& target) {
  try {
    tds::Connection connection = tds::Connection::Connect(target);
    checker.Report(true, "target",
                   "sqlserver " + target.host + ":" + std::to_string(target.port) + "/" + target.database + " as '" +
                       target.user + "' (login only; permissions are not checked)");
  } catch (const tds::TdsException& e) {
    checker.Report(false, "target", e.what());
  }
}

bool CheckApply(Checker& checker, const std::string& path, const std::vector<std::string>& overrides,
                const CheckOptions& options) {
  std::string error;
  ServiceOptions service;
  auto apply = LoadApplyConfig(path, overrides, error, &service);
  if (!apply) return checker.Report(false, "config", error);
  checker.Report(
      true, "config",
      "apply stream in " + path + ": " + std::to_string(apply->topics.size()) + " topic(s) into " + apply->target_kind);
  if (!options.connect) return checker.all_ok();
  if (apply->target_kind == "postgresql") {
    CheckPostgresTarget(checker, *apply);
  } else if (apply->target_kind == "sqlserver") {
    CheckSqlServerTarget(checker, apply->sqlserver);
  } else {
    CheckSqliteTarget(checker, apply->sqlite_path);
  }
  CheckKafka(checker, apply->kafka, apply->topics, "apply waits until capture creates them", options.kafka_timeout);
  return checker.all_ok();
}

}  // namespace

std::optional<ConfigKind> DetectConfigKind(const std::string& path, const std::vector<std::string>& overrides,
                                           std::string& error) {
  std::set<std::string> sections;
  if (!CollectSections(path, overrides, sections, error)) return std::nullopt;
  bool capture = sections.count("source") > 0 || sections.count("capture") > 0;
  bool apply = sections.count("apply") > 0 || sections.count("target") > 0;
  if (capture != apply) return capture ? ConfigKind::kCapture : ConfigKind::kApply;
  std::string found;
  for (const auto& s : sections) found += (found.empty() ? "[" : ", [") + s + "]";
  error = "config " + path + ": " +
          (capture ? "has keys of a capture stream ([source], [capture]) and of an apply stream ([apply], [target])"
                   : "cannot tell a capture file (keys under [source] or [capture]) from an apply file (keys under "
                     "[apply] or [target])") +
          "; sections found: " + (found.empty() ? "none" : found);
  return std::nullopt;
}

std::string FormatCheckResult(const CheckResult& result) {
  std::string line = std::string(!result.ok       ? "FAIL "
                                 : result.warning ? "WARN "
                                                  : "ok ") +
                     result.what + ": " + result.detail;
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

bool RunCheck(const std::string& path, const std::vector<std::string>& overrides, const CheckOptions& options,
              const std::function<void(const CheckResult&)>& on_result) {
  Checker checker(on_result);
  std::string error;
  auto kind = DetectConfigKind(path, overrides, error);
  if (!kind) return checker.Report(false, "config", error);
  return *kind == ConfigKind::kCapture ? CheckCapture(checker, path, overrides, options)
                                       : CheckApply(checker, path, overrides, options);
}

}  // namespace sqltail::engine
