#include "sqltail/engine/config.h"

#include <boost/program_options.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sqltail::engine {
namespace po = boost::program_options;
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    auto first = item.find_first_not_of(" \t");
    auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
  }
  return out;
}

// Parses the file plus overrides. Keys under `passthrough_prefix` (librdkafka properties) are
// collected into `passthrough`; any other unknown key is an error.
bool Parse(const std::string& path, const std::vector<std::string>& overrides, const po::options_description& known,
           const std::string& passthrough_prefix, po::variables_map& values,
           std::map<std::string, std::string>& passthrough, std::string& error) {
  std::ifstream file(path);
  if (!file) {
    error = "config " + path + ": cannot open the file";
    return false;
  }
  std::string where = "config " + path;
  try {
    std::vector<po::parsed_options> parsed;
    parsed.push_back(po::parse_config_file(file, known, true));
    std::stringstream override_text;
    for (const auto& o : overrides) {
      if (o.find('=') == std::string::npos) {
        error = where + ": override '" + o + "' is not key=value";
        return false;
      }
      override_text << o << "\n";
    }
    parsed.push_back(po::parse_config_file(override_text, known, true));
    // Overrides first: program_options keeps the first value stored for a key.
    for (auto it = parsed.rbegin(); it != parsed.rend(); ++it) {
      for (const auto& option : it->options) {
        if (!option.unregistered) continue;
        if (option.string_key.rfind(passthrough_prefix, 0) == 0 && !option.value.empty()) {
          passthrough.emplace(option.string_key.substr(passthrough_prefix.size()), option.value.front());
        } else {
          error = where + ": unknown key '" + option.string_key + "'";
          return false;
        }
      }
      po::store(*it, values);
    }
    po::notify(values);
  } catch (const po::error& e) {
    error = where + ": " + e.what();
    return false;
  }
  return true;
}

bool ReadSecret(const std::string& key, const std::string& inline_value, const std::string& file_path,
                const char* env_name, std::string& out, std::string& error) {
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') {
    out = env;
    return true;
  }
  if (!file_path.empty()) {
    std::ifstream in(file_path);
    if (!in) {
      error = "config: key '" + key + "_file': cannot read " + file_path;
      return false;
    }
    std::getline(in, out);
    return true;
  }
  out = inline_value;
  return true;
}

void AddServiceOptions(po::options_description& d, ServiceOptions& service) {
  auto add = d.add_options();
  add("service.metrics_port", po::value(&service.metrics_port)->default_value(0), "metrics/health HTTP port (0: off)");
  add("service.metrics_address", po::value(&service.metrics_address)->default_value("127.0.0.1"),
      "metrics/health listen address");
  add("service.stall_timeout_s", po::value(&service.stall_timeout_s)->default_value(60),
      "/healthz fails after the main loop stalls this long");
}

bool CheckServiceOptions(const std::string& path, const ServiceOptions& service, std::string& error) {
  if (service.metrics_port < 0 || service.metrics_port > 65535) {
    error = "config " + path + ": key 'service.metrics_port' must be 0..65535";
    return false;
  }
  if (service.stall_timeout_s <= 0) {
    error = "config " + path + ": key 'service.stall_timeout_s' must be positive";
    return false;
  }
  return true;
}

void AddKafkaOptions(po::options_description& d) {
  d.add_options()("kafka.bootstrap_servers", po::value<std::string>()->required(),
                  "Kafka bootstrap servers host:port[,host:port]");
}

// Values that need checking or converting after parsing.
struct CaptureRawValues {
  std::string password, password_file, include, exclude;
  std::string time_precision_mode, decimal_handling_mode, binary_handling_mode;
};

// One statement per key, grouped by section, so each key is easy to find and to add.
void AddSourceOptions(po::options_description& d, tds::ConnectOptions& source, CaptureRawValues& raw) {
  auto add = d.add_options();
  add("source.host", po::value(&source.host)->default_value("127.0.0.1"), "SQL Server host");
  add("source.port", po::value(&source.port)->default_value(1433), "SQL Server port");
  add("source.user", po::value(&source.user)->required(), "login");
  add("source.password", po::value(&raw.password)->default_value(""),
      "password (prefer password_file or SQLTAIL_SOURCE_PASSWORD)");
  add("source.password_file", po::value(&raw.password_file)->default_value(""), "file holding the password");
  add("source.database", po::value(&source.database)->required(), "database to capture");
  add("source.login_timeout_s", po::value(&source.login_timeout_s)->default_value(15), "login timeout");
  add("source.query_timeout_s", po::value(&source.query_timeout_s)->default_value(300), "query timeout");
  add("source.encryption", po::value(&source.encryption)->default_value("request"), "off | request | require");
}

void AddCaptureOptions(po::options_description& d, CaptureOptions& capture, CaptureRawValues& raw) {
  auto add = d.add_options();
  add("capture.topic_prefix", po::value(&capture.topic_prefix)->default_value("sqltail"), "topic prefix");
  add("capture.table_include", po::value(&raw.include)->default_value(""),
      "schema.table patterns (* ?), comma separated");
  add("capture.table_exclude", po::value(&raw.exclude)->default_value(""), "schema.table patterns to leave out");
  add("capture.poll_batch_rows", po::value(&capture.poll_batch_rows)->default_value(50000), "fn_dblog rows per query");
  add("capture.poll_idle_max_ms", po::value(&capture.poll_idle_max_ms)->default_value(1000), "idle poll backoff cap");
  add("capture.stop_when_idle_ms", po::value(&capture.stop_when_idle_ms)->default_value(0),
      "exit after this idle time (0: never)");
  add("capture.schemas_enable", po::value(&capture.schemas_enable)->default_value(true),
      "JsonConverter schemas.enable");
  add("capture.tombstones_on_delete", po::value(&capture.tombstones_on_delete)->default_value(true),
      "tombstone after delete");
  // Debezium's event-format options, spelled as Debezium spells their values.
  add("capture.provide_transaction_metadata", po::value(&capture.provide_transaction_metadata)->default_value(false),
      "BEGIN/END events on <prefix>.transaction");
  add("capture.time_precision_mode", po::value(&raw.time_precision_mode)->default_value("adaptive"),
      "adaptive | connect");
  add("capture.decimal_handling_mode", po::value(&raw.decimal_handling_mode)->default_value("precise"),
      "precise | double | string");
  add("capture.binary_handling_mode", po::value(&raw.binary_handling_mode)->default_value("bytes"),
      "bytes | base64 | hex");
}

void AddCaptureKafkaOptions(po::options_description& d, CaptureOptions& capture) {
  auto add = d.add_options();
  add("kafka.transactional_id", po::value(&capture.transactional_id)->default_value(""),
      "default <prefix>-<db>-capture");
  add("kafka.timeout_ms", po::value(&capture.kafka_timeout_ms)->default_value(60000), "Kafka call timeout");
  add("kafka.txn_max_events", po::value(&capture.txn_max_events)->default_value(20000), "events per Kafka transaction");
  add("kafka.txn_max_ms", po::value(&capture.txn_max_ms)->default_value(500), "Kafka transaction duration cap");
  add("kafka.topic_partitions", po::value(&capture.topic_partitions)->default_value(1), "partitions of created topics");
  add("kafka.topic_replication_factor", po::value(&capture.topic_replication_factor)->default_value(-1),
      "-1: broker default");
}

// Values of the apply file that need checking or converting after parsing.
struct ApplyRawValues {
  std::string topics, dsn, dsn_file;
};

void AddApplyOptions(po::options_description& d, ApplyOptions& apply, ApplyRawValues& raw) {
  auto add = d.add_options();
  add("apply.topics", po::value(&raw.topics)->required(), "change-event topics, comma separated");
  add("apply.table_name_format", po::value(&apply.table_name_format)->default_value("${table}"), "target table name");
  add("apply.batch_max_events", po::value(&apply.batch_max_events)->default_value(20000),
      "events per target transaction");
  add("apply.batch_max_ms", po::value(&apply.batch_max_ms)->default_value(200), "target transaction duration cap");
  add("apply.stop_when_idle_ms", po::value(&apply.stop_when_idle_ms)->default_value(0),
      "exit after this idle time (0: never)");
}

void AddTargetOptions(po::options_description& d, ApplyOptions& apply, ApplyRawValues& raw) {
  auto add = d.add_options();
  add("target.kind", po::value(&apply.target_kind)->default_value("sqlite"), "sqlite | postgresql");
  add("target.path", po::value(&apply.sqlite_path)->default_value(""), "sqlite: the database file");
  add("target.dsn", po::value(&raw.dsn)->default_value(""), "postgresql: libpq connection string or URI");
  add("target.dsn_file", po::value(&raw.dsn_file)->default_value(""), "postgresql: file holding the connection string");
  add("target.schema", po::value(&apply.postgres_schema)->default_value("public"), "postgresql: schema of the tables");
}

// Every key a capture file may hold, bound to `c`, `raw` and `service`.
void DescribeCaptureFile(po::options_description& d, CaptureConfig& c, CaptureRawValues& raw, ServiceOptions& service) {
  AddSourceOptions(d, c.source, raw);
  AddCaptureOptions(d, c.capture, raw);
  AddKafkaOptions(d);
  AddCaptureKafkaOptions(d, c.capture);
  AddServiceOptions(d, service);
}

// Every key an apply file may hold.
void DescribeApplyFile(po::options_description& d, ApplyOptions& a, ApplyRawValues& raw, ServiceOptions& service) {
  AddApplyOptions(d, a, raw);
  AddTargetOptions(d, a, raw);
  AddKafkaOptions(d);
  AddServiceOptions(d, service);
}

}  // namespace

std::optional<CaptureConfig> LoadCaptureConfig(const std::string& path, const std::vector<std::string>& overrides,
                                               std::string& error, ServiceOptions* service) {
  CaptureConfig c;
  ServiceOptions service_options;
  CaptureRawValues raw;
  po::options_description d;
  DescribeCaptureFile(d, c, raw, service_options);
  po::variables_map values;
  if (!Parse(path, overrides, d, "kafka.property.", values, c.capture.kafka.properties, error)) return std::nullopt;
  if (!CheckServiceOptions(path, service_options, error)) return std::nullopt;
  if (service != nullptr) *service = service_options;
  c.capture.kafka.bootstrap_servers = values["kafka.bootstrap_servers"].as<std::string>();
  if (!ReadSecret("source.password", raw.password, raw.password_file, "SQLTAIL_SOURCE_PASSWORD", c.source.password,
                  error))
    return std::nullopt;
  if (c.source.encryption != "off" && c.source.encryption != "request" && c.source.encryption != "require") {
    error =
        "config " + path + ": key 'source.encryption': '" + c.source.encryption + "' is not off, request or require";
    return std::nullopt;
  }
  if (c.capture.poll_batch_rows == 0) {
    error = "config " + path + ": key 'capture.poll_batch_rows' must be positive";
    return std::nullopt;
  }
  if (!ParseTimePrecisionMode(raw.time_precision_mode, c.capture.time_precision_mode)) {
    error = "config " + path + ": key 'capture.time_precision_mode': '" + raw.time_precision_mode +
            "' is not adaptive or connect";
    return std::nullopt;
  }
  if (!ParseDecimalHandlingMode(raw.decimal_handling_mode, c.capture.decimal_handling_mode)) {
    error = "config " + path + ": key 'capture.decimal_handling_mode': '" + raw.decimal_handling_mode +
            "' is not precise, double or string";
    return std::nullopt;
  }
  if (!ParseBinaryHandlingMode(raw.binary_handling_mode, c.capture.binary_handling_mode)) {
    error = "config " + path + ": key 'capture.binary_handling_mode': '" + raw.binary_handling_mode +
            "' is not bytes, base64 or hex";
    return std::nullopt;
  }
  c.capture.database = c.source.database;
  c.capture.table_include = SplitList(raw.include);
  c.capture.table_exclude = SplitList(raw.exclude);
  return c;
}

std::optional<ApplyOptions> LoadApplyConfig(const std::string& path, const std::vector<std::string>& overrides,
                                            std::string& error, ServiceOptions* service) {
  ApplyOptions a;
  ServiceOptions service_options;
  ApplyRawValues raw;
  po::options_description d;
  DescribeApplyFile(d, a, raw, service_options);
  po::variables_map values;
  if (!Parse(path, overrides, d, "kafka.property.", values, a.kafka.properties, error)) return std::nullopt;
  if (!CheckServiceOptions(path, service_options, error)) return std::nullopt;
  if (service != nullptr) *service = service_options;
  a.kafka.bootstrap_servers = values["kafka.bootstrap_servers"].as<std::string>();
  if (a.target_kind == "sqlite") {
    if (a.sqlite_path.empty()) {
      error = "config " + path + ": key 'target.path' is required for target.kind = sqlite";
      return std::nullopt;
    }
  } else if (a.target_kind == "postgresql") {
    if (!raw.dsn.empty() && !raw.dsn_file.empty()) {
      error = "config " + path + ": keys 'target.dsn' and 'target.dsn_file': set one, not both";
      return std::nullopt;
    }
    // SQLTAIL_TARGET_DSN (e.g. "password=..."), when set, is merged over the file's: its keywords win.
    std::string file_dsn = raw.dsn;
    if (!raw.dsn_file.empty()) {
      std::ifstream in(raw.dsn_file);
      if (!in) {
        error = "config " + path + ": key 'target.dsn_file': cannot read " + raw.dsn_file;
        return std::nullopt;
      }
      std::getline(in, file_dsn);
    }
    const char* env = std::getenv("SQLTAIL_TARGET_DSN");
    if (file_dsn.empty() && (env == nullptr || *env == '\0')) {
      error = "config " + path +
              ": key 'target.dsn' (or target.dsn_file, or the environment variable SQLTAIL_TARGET_DSN) is required "
              "for target.kind = postgresql";
      return std::nullopt;
    }
    a.postgres_conninfo = {file_dsn};
    if (env != nullptr && *env != '\0') a.postgres_conninfo.emplace_back(env);
    if (a.postgres_schema.empty()) {
      error = "config " + path + ": key 'target.schema' is empty";
      return std::nullopt;
    }
  } else {
    error = "config " + path + ": key 'target.kind': '" + a.target_kind + "' is not sqlite or postgresql";
    return std::nullopt;
  }
  a.topics = SplitList(raw.topics);
  if (a.topics.empty()) {
    error = "config " + path + ": key 'apply.topics' lists no topic";
    return std::nullopt;
  }
  return a;
}

}  // namespace sqltail::engine
