#include "sqltail/engine/config.h"

#include <boost/program_options.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace sqltail::engine {
namespace po = boost::program_options;
namespace {

// "schema.table" of plain identifiers (no quoting needed, no wildcard characters).
bool SplitSafeguardTable(const std::string& text, std::string& schema, std::string& table) {
  const size_t dot = text.find('.');
  if (dot == std::string::npos) return false;
  auto plain = [](std::string_view name) {
    if (name.empty() || name.size() > 128 || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
    for (char ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
    return true;
  };
  schema = text.substr(0, dot);
  table = text.substr(dot + 1);
  return plain(schema) && plain(table);
}

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
      // Command lines are visible to every local user (ps, /proc): no secrets there.
      const std::string key = o.substr(0, o.find('='));
      const bool names_a_file = key.size() > 5 && key.compare(key.size() - 5, 5, "_file") == 0;
      if (!names_a_file && (key.find("password") != std::string::npos || key.find("secret") != std::string::npos ||
                            key.find("jaas") != std::string::npos)) {
        error = where + ": override '" + key +
                "': secrets are not accepted on the command line (use the *_file key or the environment)";
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
  add("service.metrics_port", po::value(&service.metrics_port)->default_value(0),
      "port of /metrics, /healthz and /readyz (0: off)");
  add("service.metrics_address", po::value(&service.metrics_address)->default_value("127.0.0.1"),
      "metrics/health listen address; keep it local unless a scraper elsewhere needs it");
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

// Files holding Kafka secrets; read after parsing (ResolveKafkaSecrets).
struct KafkaSecretFiles {
  std::string sasl_password_file, ssl_key_password_file;
};

void AddKafkaOptions(po::options_description& d, KafkaSecretFiles& secrets) {
  auto add = d.add_options();
  add("kafka.bootstrap_servers", po::value<std::string>()->required(), "Kafka bootstrap servers host:port[,host:port]");
  add("kafka.sasl_password_file", po::value(&secrets.sasl_password_file)->default_value(""),
      "file holding sasl.password (or SQLTAIL_KAFKA_SASL_PASSWORD)");
  add("kafka.ssl_key_password_file", po::value(&secrets.ssl_key_password_file)->default_value(""),
      "file holding ssl.key.password (or SQLTAIL_KAFKA_SSL_KEY_PASSWORD)");
}

// sasl.password and ssl.key.password from the environment (first) or a file, over any
// kafka.property.* value, so that no secret needs to be in the configuration file.
bool ResolveKafkaSecrets(const std::string& path, const KafkaSecretFiles& secrets,
                         std::map<std::string, std::string>& properties, std::string& error) {
  struct Secret {
    const char* property;
    const std::string& file;
    const char* key;
    const char* env;
  };
  const Secret list[] = {
      {"sasl.password", secrets.sasl_password_file, "kafka.sasl_password", "SQLTAIL_KAFKA_SASL_PASSWORD"},
      {"ssl.key.password", secrets.ssl_key_password_file, "kafka.ssl_key_password", "SQLTAIL_KAFKA_SSL_KEY_PASSWORD"},
  };
  for (const Secret& secret : list) {
    auto found = properties.find(secret.property);
    std::string value = found == properties.end() ? std::string() : found->second;
    if (!ReadSecret(secret.key, value, secret.file, secret.env, value, error)) {
      error = "config " + path + ": " + error.substr(std::string("config: ").size());
      return false;
    }
    if (!value.empty()) properties[secret.property] = value;
  }
  return true;
}

// Values that need checking or converting after parsing.
struct CaptureRawValues {
  KafkaSecretFiles kafka_secrets;
  std::string password, password_file, include, exclude;
  std::string time_precision_mode, decimal_handling_mode, binary_handling_mode, off_row_values;
  size_t image_cache_mb = 64;
  std::string snapshot_mode;
  std::string log_safeguard;
  std::string safeguard_table;
};

// One statement per key, grouped by section, so each key is easy to find and to add.
void AddSourceOptions(po::options_description& d, tds::ConnectOptions& source, logreader::LiveSourceOptions& live,
                      CaptureRawValues& raw) {
  auto add = d.add_options();
  add("source.host", po::value(&source.host)->default_value("127.0.0.1"), "SQL Server host name or address");
  add("source.port", po::value(&source.port)->default_value(1433), "SQL Server TCP port");
  add("source.user", po::value(&source.user)->required(),
      "SQL Server login (see the operator guide for its permissions)");
  add("source.password", po::value(&raw.password)->default_value(""),
      "password (prefer password_file or SQLTAIL_SOURCE_PASSWORD)");
  add("source.password_file", po::value(&raw.password_file)->default_value(""),
      "file whose first line is the password");
  add("source.database", po::value(&source.database)->required(), "database to capture; also the <db> of topic names");
  add("source.login_timeout_s", po::value(&source.login_timeout_s)->default_value(15),
      "seconds to wait for the TDS login");
  add("source.query_timeout_s", po::value(&source.query_timeout_s)->default_value(300),
      "seconds a catalog or fn_dblog query may take");
  add("source.encryption", po::value(&source.encryption)->default_value("request"),
      "TLS: off | request | require (FreeTDS, GnuTLS)");
  add("source.tls_ca_file", po::value(&source.tls_ca_file)->default_value(""),
      "PEM file of the CAs that sign the server's certificate, or system; empty: the certificate is not verified");
  add("source.tls_check_hostname", po::value(&source.tls_check_hostname)->default_value(true),
      "with tls_ca_file: the certificate must name source.host");
  add("source.reconnect_max_s", po::value(&live.reconnect_max_s)->default_value(300),
      "keep reconnecting this long after a dropped connection (0: fail at once)");
  add("source.reconnect_backoff_max_ms", po::value(&live.reconnect_backoff_max_ms)->default_value(10000),
      "cap of the doubling wait between reconnect attempts");
  add("source.log_stats_interval_ms", po::value(&live.log_stats_interval_ms)->default_value(5000),
      "ask sys.dm_db_log_stats (lag, retention check) at most this often");
  add("source.read_log_backups", po::value(&live.read_log_backups)->default_value(true),
      "read log backups (fn_dump_dblog) when the position has left the active log");
}

void AddCaptureOptions(po::options_description& d, CaptureOptions& capture, CaptureRawValues& raw) {
  auto add = d.add_options();
  add("capture.topic_prefix", po::value(&capture.topic_prefix)->default_value("sqltail"),
      "Debezium topic.prefix: topics are <prefix>.<db>.<schema>.<table>");
  add("capture.table_include", po::value(&raw.include)->default_value(""),
      "schema.table patterns with * and ?, case-insensitive, comma separated (empty: all tables)");
  add("capture.table_exclude", po::value(&raw.exclude)->default_value(""), "schema.table patterns to leave out");
  add("capture.poll_batch_rows", po::value(&capture.poll_batch_rows)->default_value(50000),
      "TOP (n) of each fn_dblog query");
  add("capture.poll_idle_max_ms", po::value(&capture.poll_idle_max_ms)->default_value(1000),
      "when idle the poll interval doubles from 1 ms up to this");
  add("capture.stop_when_idle_ms", po::value(&capture.stop_when_idle_ms)->default_value(0),
      "exit after this idle time (0: never)");
  add("capture.txn_memory_budget_mb", po::value(&capture.txn_memory_budget_mb)->default_value(256),
      "open source transactions buffer at most this much; past it the largest spills to disk (0: never)");
  add("capture.image_cache_rows", po::value(&capture.image_cache.max_rows)->default_value(100000),
      "rows whose last image is kept to complete later updates of them (0: none; an update of a row "
      "not kept has only its logged columns, the others unavailable)");
  add("capture.image_cache_mb", po::value(&raw.image_cache_mb)->default_value(64),
      "...and at most this many MB of those images");
  add("capture.spill_dir", po::value(&capture.spill_dir)->default_value(""),
      "directory of spill files (unlinked at creation; empty: the system temporary directory)");
  add("capture.log_safeguard", po::value(&raw.log_safeguard)->default_value("none"),
      "who lets the log be truncated: none (a Log Reader Agent, CDC, or no publication) | repldone "
      "(sqltail alone: sp_repldone up to each durable checkpoint) | open_transaction (sqltail holds a "
      "transaction open on two connections of its own, writing capture.safeguard_table, rolled forward "
      "behind the durable checkpoint; see the operator guide)");
  add("capture.safeguard_interval_ms", po::value(&capture.safeguard_interval_ms)->default_value(10000),
      "log_safeguard = repldone: call sp_repldone at most this often; open_transaction: check the held "
      "transactions and roll them forward at most this often");
  add("capture.safeguard_table", po::value(&raw.safeguard_table)->default_value("dbo.sqltail_truncation_safeguard"),
      "log_safeguard = open_transaction: schema.table the held transactions write (created when missing; "
      "one row per holder connection, keyed by capture.topic_prefix; never captured)");
  add("capture.schemas_enable", po::value(&capture.schemas_enable)->default_value(true),
      "JsonConverter schemas.enable: {schema, payload} envelopes");
  add("capture.tombstones_on_delete", po::value(&capture.tombstones_on_delete)->default_value(true),
      "a tombstone (null value) after each delete event");
  // Debezium's event-format options, spelled as Debezium spells their values.
  add("capture.snapshot_mode", po::value(&raw.snapshot_mode)->default_value("initial"),
      "initial (read the tables when there is no checkpoint) | never | when_needed (initial, and again "
      "when the log at the checkpoint is gone)");
  add("capture.snapshot_chunk_rows", po::value(&capture.snapshot.chunk_rows)->default_value(10000),
      "snapshot rows per keyset SELECT and per Kafka transaction");
  add("capture.snapshot_max_establish_attempts", po::value(&capture.snapshot.max_establish_attempts)->default_value(10),
      "snapshot: tries to find an end-of-log window without a captured commit");
  add("capture.provide_transaction_metadata", po::value(&capture.provide_transaction_metadata)->default_value(true),
      "BEGIN/END events on <prefix>.transaction (sqltail apply takes commit order across topics from them)");
  add("capture.include_schema_changes", po::value(&capture.include_schema_changes)->default_value(true),
      "schema change events on the topic <prefix> (Debezium's include.schema.changes): a CREATE per captured "
      "table when the capture first starts or takes a new snapshot, and CREATE/ALTER/DROP at each schema change "
      "of captured tables in the log (the schema history <prefix>.schema-history is written either way)");
  add("capture.time_precision_mode", po::value(&raw.time_precision_mode)->default_value("adaptive"),
      "adaptive | connect");
  add("capture.decimal_handling_mode", po::value(&raw.decimal_handling_mode)->default_value("precise"),
      "precise | double | string");
  add("capture.binary_handling_mode", po::value(&raw.binary_handling_mode)->default_value("bytes"),
      "bytes | base64 | hex");
  add("capture.off_row_values", po::value(&raw.off_row_values)->default_value("fail"),
      "fail | unavailable: a value stored off-row (row overflow, (max) and LOB types past the row) is not read "
      "from the log yet; fail stops with an error naming LSN, table and column, unavailable emits the column as "
      "unavailable (named in sqltail.unavailable, counted in sqltail_unavailable_values_total)");
}

void AddCaptureKafkaOptions(po::options_description& d, CaptureOptions& capture) {
  auto add = d.add_options();
  add("kafka.transactional_id", po::value(&capture.transactional_id)->default_value(""),
      "empty: <prefix>-<db>-capture; one running capture per id (a second one fences the first)");
  add("kafka.timeout_ms", po::value(&capture.kafka_timeout_ms)->default_value(60000),
      "Kafka calls (init, topic creation, commit) give up after this");
  add("kafka.txn_max_events", po::value(&capture.txn_max_events)->default_value(20000),
      "commit the Kafka transaction after this many events (at a source-transaction boundary)");
  add("kafka.txn_max_ms", po::value(&capture.txn_max_ms)->default_value(500), "...or this long after it began");
  add("kafka.max_events_per_source_txn_chunk",
      po::value(&capture.max_events_per_source_txn_chunk)->default_value(100000),
      "split larger source transactions across Kafka transactions (0: never)");
  add("kafka.topic_partitions", po::value(&capture.topic_partitions)->default_value(1), "partitions of created topics");
  add("kafka.topic_replication_factor", po::value(&capture.topic_replication_factor)->default_value(-1),
      "replication factor of created topics (-1: the broker's default)");
}

// Values of the apply file that need checking or converting after parsing.
struct ApplyRawValues {
  KafkaSecretFiles kafka_secrets;
  std::string topics, dsn, dsn_file;
  std::string password, password_file, renames, include, exclude;
};

void AddApplyOptions(po::options_description& d, ApplyOptions& apply, ApplyRawValues& raw) {
  auto add = d.add_options();
  add("apply.topics", po::value(&raw.topics)->required(), "change-event topics, comma separated");
  add("apply.mode", po::value(&apply.mode)->default_value("transactional"),
      "transactional (one instance per target: whole source transactions in commit order) | parallel (the "
      "instances of apply.group_id share the partitions: per-key order; see docs/operator-guide.md)");
  add("apply.group_id", po::value(&apply.group_id)->default_value(""),
      "parallel (required): the consumer group; every instance that shares the work uses the same id");
  add("apply.table_name_format", po::value(&apply.table_name_format)->default_value("${table}"),
      "target table name; ${db}, ${schema}, ${table} are replaced");
  add("apply.batch_max_events", po::value(&apply.batch_max_events)->default_value(20000),
      "commit the target transaction after this many events...");
  add("apply.batch_max_ms", po::value(&apply.batch_max_ms)->default_value(200),
      "...or this long, at the next source-transaction boundary");
  add("apply.stop_when_idle_ms", po::value(&apply.stop_when_idle_ms)->default_value(0),
      "exit after this idle time (0: never)");
  add("apply.max_events_per_second", po::value(&apply.max_events_per_second)->default_value(0),
      "apply at most this many events per second (0: no limit), so a busy target keeps its headroom");
  add("apply.transaction_topic", po::value(&apply.transaction_topic)->default_value("auto"),
      "source commit order across topics: auto (<prefix>.transaction if it exists) | none | a topic name "
      "<prefix>.transaction, whose <prefix> the data topics must share");
  add("apply.max_buffered_events", po::value(&apply.max_buffered_events)->default_value(1000000),
      "events held back for source commit order; past it the head source transaction streams (applied as it "
      "arrives, committed at its end) and reading pauses on the partitions that cannot help");
  add("apply.on_error", po::value(&apply.on_error)->default_value("fail"),
      "bad event: fail (stop, naming it) | dead-letter (to apply.dead_letter_topic, then go on)");
  add("apply.dead_letter_topic", po::value(&apply.dead_letter_topic)->default_value(""),
      "topic for bad events (apply.on_error = dead-letter)");
  add("apply.route.regex", po::value(&apply.route_regex)->default_value(""),
      "topics matching this regex entirely go to the table apply.route.replacement");
  add("apply.route.replacement", po::value(&apply.route_replacement)->default_value(""),
      "target table of a routed topic; $1... are the regex groups");
  add("apply.fields.rename", po::value(&raw.renames)->default_value(""), "field renames old:new, comma separated");
  add("apply.fields.include", po::value(&raw.include)->default_value(""), "event fields to keep (empty: all)");
  add("apply.fields.exclude", po::value(&raw.exclude)->default_value(""), "event fields to leave out");
  add("apply.schema_evolution", po::value(&apply.schema_evolution)->default_value("basic"),
      "basic (add the tables and nullable columns that schema change and change events describe and the target "
      "lacks; never drop or change one) | none (leave the target's structure alone)");
  add("apply.schema_change_topic", po::value(&apply.schema_change_topic)->default_value("auto"),
      "schema change topic read with schema_evolution = basic: auto (the <prefix> the topics share, if it "
      "exists) | none | a topic name");
  add("apply.time_precision_mode", po::value(&apply.time_precision_mode)->default_value("adaptive"),
      "the capture's capture.time_precision_mode: types the columns of schema change events");
  add("apply.decimal_handling_mode", po::value(&apply.decimal_handling_mode)->default_value("precise"),
      "the capture's capture.decimal_handling_mode: types the columns of schema change events");
  add("apply.binary_handling_mode", po::value(&apply.binary_handling_mode)->default_value("bytes"),
      "the capture's capture.binary_handling_mode: types the columns of schema change events");
}

void AddTargetOptions(po::options_description& d, ApplyOptions& apply, ApplyRawValues& raw) {
  auto add = d.add_options();
  add("target.kind", po::value(&apply.target_kind)->default_value("sqlite"), "sqlite | postgresql | sqlserver");
  add("target.path", po::value(&apply.sqlite_path)->default_value(""), "sqlite (required): the database file");
  add("target.dsn", po::value(&raw.dsn)->default_value(""),
      "postgresql: libpq connection string or URI (or target.dsn_file, or SQLTAIL_TARGET_DSN)");
  add("target.dsn_file", po::value(&raw.dsn_file)->default_value(""), "postgresql: file holding the connection string");
  add("target.schema", po::value(&apply.postgres_schema)->default_value("public"),
      "postgresql, sqlserver: schema of the tables (sqlserver: dbo unless set)");
  add("target.host", po::value(&apply.sqlserver.host)->default_value("127.0.0.1"), "sqlserver: host");
  add("target.port", po::value(&apply.sqlserver.port)->default_value(1433), "sqlserver: port");
  add("target.user", po::value(&apply.sqlserver.user)->default_value(""), "sqlserver: login");
  add("target.password", po::value(&raw.password)->default_value(""),
      "sqlserver: password (prefer password_file or SQLTAIL_TARGET_PASSWORD)");
  add("target.password_file", po::value(&raw.password_file)->default_value(""), "sqlserver: file holding the password");
  add("target.database", po::value(&apply.sqlserver.database)->default_value(""), "sqlserver: target database");
  add("target.encryption", po::value(&apply.sqlserver.encryption)->default_value("request"),
      "sqlserver: off | request | require");
  add("target.tls_ca_file", po::value(&apply.sqlserver.tls_ca_file)->default_value(""),
      "sqlserver: PEM file of the CAs that sign the server's certificate, or system; empty: not verified");
  add("target.tls_check_hostname", po::value(&apply.sqlserver.tls_check_hostname)->default_value(true),
      "sqlserver: with tls_ca_file: the certificate must name target.host");
}

// Every key a capture file may hold, bound to `c`, `raw` and `service`.
void DescribeCaptureFile(po::options_description& d, CaptureConfig& c, CaptureRawValues& raw, ServiceOptions& service) {
  AddSourceOptions(d, c.source, c.live_source, raw);
  AddCaptureOptions(d, c.capture, raw);
  AddKafkaOptions(d, raw.kafka_secrets);
  AddCaptureKafkaOptions(d, c.capture);
  AddServiceOptions(d, service);
}

// Every key an apply file may hold.
void DescribeApplyFile(po::options_description& d, ApplyOptions& a, ApplyRawValues& raw, ServiceOptions& service) {
  AddApplyOptions(d, a, raw);
  AddTargetOptions(d, a, raw);
  AddKafkaOptions(d, raw.kafka_secrets);
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
  if (!ResolveKafkaSecrets(path, raw.kafka_secrets, c.capture.kafka.properties, error)) return std::nullopt;
  if (!ReadSecret("source.password", raw.password, raw.password_file, "SQLTAIL_SOURCE_PASSWORD", c.source.password,
                  error))
    return std::nullopt;
  if (c.source.encryption != "off" && c.source.encryption != "request" && c.source.encryption != "require") {
    error =
        "config " + path + ": key 'source.encryption': '" + c.source.encryption + "' is not off, request or require";
    return std::nullopt;
  }
  if (!c.source.tls_ca_file.empty() && c.source.encryption == "off") {
    error = "config " + path + ": key 'source.tls_ca_file' needs source.encryption request or require, not off";
    return std::nullopt;
  }
  if (c.live_source.reconnect_max_s < 0) {
    error = "config " + path + ": key 'source.reconnect_max_s' must be 0 or more";
    return std::nullopt;
  }
  if (c.live_source.reconnect_backoff_max_ms <= 0) {
    error = "config " + path + ": key 'source.reconnect_backoff_max_ms' must be positive";
    return std::nullopt;
  }
  if (c.live_source.log_stats_interval_ms < 100) {
    error = "config " + path + ": key 'source.log_stats_interval_ms' must be at least 100";
    return std::nullopt;
  }
  if (c.capture.poll_batch_rows == 0) {
    error = "config " + path + ": key 'capture.poll_batch_rows' must be positive";
    return std::nullopt;
  }
  if (raw.log_safeguard == "none") {
    c.capture.log_safeguard = LogSafeguard::kNone;
  } else if (raw.log_safeguard == "repldone") {
    c.capture.log_safeguard = LogSafeguard::kRepldone;
  } else if (raw.log_safeguard == "open_transaction") {
    c.capture.log_safeguard = LogSafeguard::kOpenTransaction;
  } else {
    error = "config " + path + ": key 'capture.log_safeguard': '" + raw.log_safeguard +
            "' is not none, repldone or open_transaction";
    return std::nullopt;
  }
  if (!SplitSafeguardTable(raw.safeguard_table, c.capture.safeguard_schema, c.capture.safeguard_table)) {
    error = "config " + path + ": key 'capture.safeguard_table': '" + raw.safeguard_table +
            "' is not schema.table (letters, digits and _, each at most 128 characters, not starting with a digit)";
    return std::nullopt;
  }
  if (c.capture.safeguard_interval_ms < 100) {
    error = "config " + path + ": key 'capture.safeguard_interval_ms' must be at least 100";
    return std::nullopt;
  }
  if (!ParseSnapshotMode(raw.snapshot_mode, c.capture.snapshot.mode)) {
    error = "config " + path + ": key 'capture.snapshot_mode': '" + raw.snapshot_mode +
            "' is not initial, never or when_needed";
    return std::nullopt;
  }
  if (c.capture.snapshot.chunk_rows == 0 || c.capture.snapshot.max_establish_attempts < 1) {
    error = "config " + path +
            ": keys 'capture.snapshot_chunk_rows' and 'capture.snapshot_max_establish_attempts' "
            "must be positive";
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
  if (raw.off_row_values != "fail" && raw.off_row_values != "unavailable") {
    error =
        "config " + path + ": key 'capture.off_row_values': '" + raw.off_row_values + "' is not fail or unavailable";
    return std::nullopt;
  }
  c.capture.off_row_values_unavailable = raw.off_row_values == "unavailable";
  // The cache numbers its entries in 32 bits; a larger bound would also be memory no host has.
  constexpr size_t kMaxImageCacheRows = 100'000'000, kMaxImageCacheMb = size_t{1} << 20;
  if (c.capture.image_cache.max_rows > kMaxImageCacheRows || raw.image_cache_mb > kMaxImageCacheMb) {
    error = "config " + path + ": keys 'capture.image_cache_rows' and 'capture.image_cache_mb': at most " +
            std::to_string(kMaxImageCacheRows) + " rows and " + std::to_string(kMaxImageCacheMb) + " MB";
    return std::nullopt;
  }
  c.capture.image_cache.max_bytes = raw.image_cache_mb << 20;
  c.capture.database = c.source.database;
  c.capture.snapshot.connection = c.source;  // the snapshot's second connection
  c.capture.table_include = SplitList(raw.include);
  c.capture.table_exclude = SplitList(raw.exclude);
  // The safeguard's own table is never captured: its transactions stay open on purpose.
  if (c.capture.log_safeguard == LogSafeguard::kOpenTransaction)
    c.capture.table_exclude.push_back(c.capture.safeguard_schema + "." + c.capture.safeguard_table);
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
  if (!ResolveKafkaSecrets(path, raw.kafka_secrets, a.kafka.properties, error)) return std::nullopt;
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
  } else if (a.target_kind == "sqlserver") {
    if (a.sqlserver.user.empty()) {
      error = "config " + path + ": key 'target.user' is required for target.kind = sqlserver";
      return std::nullopt;
    }
    if (!ReadSecret("target.password", raw.password, raw.password_file, "SQLTAIL_TARGET_PASSWORD", a.sqlserver.password,
                    error))
      return std::nullopt;
    if (values["target.schema"].defaulted()) a.postgres_schema = "dbo";
    a.sqlserver.app_name = "sqltail-apply";
  } else {
    error = "config " + path + ": key 'target.kind': '" + a.target_kind + "' is not sqlite, postgresql or sqlserver";
    return std::nullopt;
  }
  if (a.mode != "transactional" && a.mode != "parallel") {
    error = "config " + path + ": key 'apply.mode': '" + a.mode + "' is not transactional or parallel";
    return std::nullopt;
  }
  if (a.mode == "parallel" && a.group_id.empty()) {
    error = "config " + path + ": key 'apply.group_id' is required for apply.mode = parallel";
    return std::nullopt;
  }
  if (a.mode == "parallel" && a.transaction_topic != "auto" && a.transaction_topic != "none") {
    error = "config " + path +
            ": key 'apply.transaction_topic': source commit order needs apply.mode = transactional (parallel "
            "instances keep the order per key only)";
    return std::nullopt;
  }
  if (a.max_events_per_second < 0) {
    error = "config " + path + ": key 'apply.max_events_per_second': must be 0 (no limit) or more";
    return std::nullopt;
  }
  if (a.schema_evolution != "basic" && a.schema_evolution != "none") {
    error = "config " + path + ": key 'apply.schema_evolution': '" + a.schema_evolution + "' is not basic or none";
    return std::nullopt;
  }
  {
    EncoderOptions modes;
    if (!ParseTimePrecisionMode(a.time_precision_mode, modes.time_precision_mode)) {
      error = "config " + path + ": key 'apply.time_precision_mode': '" + a.time_precision_mode +
              "' is not adaptive or connect";
      return std::nullopt;
    }
    if (!ParseDecimalHandlingMode(a.decimal_handling_mode, modes.decimal_handling_mode)) {
      error = "config " + path + ": key 'apply.decimal_handling_mode': '" + a.decimal_handling_mode +
              "' is not precise, double or string";
      return std::nullopt;
    }
    if (!ParseBinaryHandlingMode(a.binary_handling_mode, modes.binary_handling_mode)) {
      error = "config " + path + ": key 'apply.binary_handling_mode': '" + a.binary_handling_mode +
              "' is not bytes, base64 or hex";
      return std::nullopt;
    }
  }
  if (a.schema_change_topic.empty()) {
    error = "config " + path + ": key 'apply.schema_change_topic': empty (auto, none or a topic name)";
    return std::nullopt;
  }
  if (a.on_error != "fail" && a.on_error != "dead-letter") {
    error = "config " + path + ": key 'apply.on_error': '" + a.on_error + "' is not fail or dead-letter";
    return std::nullopt;
  }
  if (a.on_error == "dead-letter" && a.dead_letter_topic.empty()) {
    error = "config " + path + ": key 'apply.dead_letter_topic' is required for apply.on_error = dead-letter";
    return std::nullopt;
  }
  if (!a.route_regex.empty()) {
    try {
      std::regex check(a.route_regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      error = "config " + path + ": key 'apply.route.regex': " + e.what();
      return std::nullopt;
    }
    if (a.route_replacement.empty()) {
      error = "config " + path + ": key 'apply.route.replacement' is required with apply.route.regex";
      return std::nullopt;
    }
  }
  for (const auto& pair : SplitList(raw.renames)) {
    const auto colon = pair.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size()) {
      error = "config " + path + ": key 'apply.fields.rename': '" + pair + "' is not old:new";
      return std::nullopt;
    }
    a.field_renames.emplace_back(pair.substr(0, colon), pair.substr(colon + 1));
  }
  a.field_include = SplitList(raw.include);
  a.field_exclude = SplitList(raw.exclude);
  a.topics = SplitList(raw.topics);
  if (a.topics.empty()) {
    error = "config " + path + ": key 'apply.topics' lists no topic";
    return std::nullopt;
  }
  return a;
}

namespace {

// A key's default as the reference shows it; nullopt when it has none.
std::optional<std::string> DefaultText(const po::value_semantic& semantic) {
  boost::any value;
  if (!semantic.apply_default(value)) return std::nullopt;
  if (const auto* text = boost::any_cast<std::string>(&value)) return text->empty() ? "(empty)" : "`" + *text + "`";
  if (const auto* flag = boost::any_cast<bool>(&value)) return std::string(*flag ? "`true`" : "`false`");
  if (const auto* number = boost::any_cast<int>(&value)) return "`" + std::to_string(*number) + "`";
  if (const auto* number = boost::any_cast<uint16_t>(&value)) return "`" + std::to_string(*number) + "`";
  if (const auto* number = boost::any_cast<size_t>(&value)) return "`" + std::to_string(*number) + "`";
  if (const auto* number = boost::any_cast<int64_t>(&value)) return "`" + std::to_string(*number) + "`";
  // Another type: program_options' own text ("arg (=5)").
  std::string name = semantic.name();
  auto at = name.find("(=");
  if (at == std::string::npos) return std::nullopt;
  return "`" + name.substr(at + 2, name.size() - at - 3) + "`";
}

std::string TableCell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|' || c == '<' || c == '>') out += '\\';  // a table cell, not HTML
    out += c;
  }
  return out;
}

// One table per section, in the order the keys were described.
void AppendKeyTables(const po::options_description& d, std::string& out) {
  std::string section;
  for (const auto& option : d.options()) {
    const std::string& key = option->long_name();
    std::string key_section = key.substr(0, key.find('.'));
    if (key_section != section) {
      section = key_section;
      out += "\n### [" + section + "]\n\n| key | default | description |\n|---|---|---|\n";
    }
    auto default_text = DefaultText(*option->semantic());
    std::string shown = option->semantic()->is_required() ? "(required)" : default_text.value_or("(none)");
    out += "| `" + key + "` | " + TableCell(shown) + " | " + TableCell(option->description()) + " |\n";
    if (key == "kafka.bootstrap_servers") {
      out +=
          "| `kafka.property.<name>` | | passed to librdkafka unchanged (`security.protocol`, `sasl.*`, `ssl.*`, "
          "`compression.type`, ...); a few settings each client depends on are forced |\n";
    }
  }
}

}  // namespace

std::string ConfigReferenceMarkdown() {
  std::string out =
      "# Configuration reference\n\n"
      "<!-- Generated by `sqltail config-reference` from engine/src/config.cpp; do not edit by hand\n"
      "     (the service test config_reference_test fails when this file differs from the program). -->\n\n"
      "One INI file per stream: `sqltail capture --config FILE` or `sqltail apply --config FILE`. Keys are\n"
      "written `key = value` under a `[section]` heading (or as `section.key = value`); `#` starts a comment.\n"
      "`--set section.key=value` on the command line overrides the file. An unknown key, a bad value or a\n"
      "missing required key stops the program with an error naming the key; `sqltail check --config FILE`\n"
      "reports the same errors and then checks the connections.\n\n"
      "`sqltail check` tells the two kinds apart by their sections: a file with keys under `[source]` or\n"
      "`[capture]` is a capture file, one with keys under `[apply]` or `[target]` an apply file (`[kafka]`\n"
      "and `[service]` belong to both); a file with both kinds, or neither, is an error.\n\n"
      "## Capture file\n";
  {
    CaptureConfig c;
    CaptureRawValues raw;
    ServiceOptions service;
    po::options_description d;
    DescribeCaptureFile(d, c, raw, service);
    AppendKeyTables(d, out);
  }
  out += "\n## Apply file\n";
  {
    ApplyOptions a;
    ApplyRawValues raw;
    ServiceOptions service;
    po::options_description d;
    DescribeApplyFile(d, a, raw, service);
    AppendKeyTables(d, out);
  }
  out +=
      "\n## Secrets from the environment\n\n"
      "Keep passwords out of the configuration file: put them in the unit's `EnvironmentFile` (mode 0600)\n"
      "or in the file a `*_file` key names. sqltail never logs them.\n\n"
      "| variable | stream | meaning |\n|---|---|---|\n"
      "| `SQLTAIL_SOURCE_PASSWORD` | capture | the SQL Server password; when set and not empty it wins over "
      "`source.password` and `source.password_file` |\n"
      "| `SQLTAIL_TARGET_DSN` | apply (postgresql) | a libpq connection string merged over `target.dsn` / "
      "`target.dsn_file`, its keywords winning (e.g. `password=...`); `sqltail verify --postgres` reads it too |\n"
      "| `SQLTAIL_KAFKA_SASL_PASSWORD` | both | librdkafka's `sasl.password`; wins over `kafka.sasl_password_file` and "
      "`kafka.property.sasl.password` |\n"
      "| `SQLTAIL_KAFKA_SSL_KEY_PASSWORD` | both | librdkafka's `ssl.key.password`; wins over "
      "`kafka.ssl_key_password_file` and `kafka.property.ssl.key.password` |\n"
      "| `SQLTAIL_TARGET_PASSWORD` | apply (sqlserver) | the target SQL Server password; wins over "
      "`target.password` and `target.password_file` |\n";
  return out;
}

}  // namespace sqltail::engine
