#include "rdkafka_support.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>

namespace sqltail::kafka::detail {
namespace {

// The newest broker connection failure librdkafka logged (TLS handshake, SASL, refused connection).
// librdkafka reports these only as log lines and then times out, so the timeout error names this
// cause instead of only "Timed out". Process-wide: one process talks to one cluster.
struct ConnectionFailure {
  std::mutex mutex;
  std::string text;
  std::chrono::steady_clock::time_point when;
};
ConnectionFailure& LastConnectionFailure() {
  static ConnectionFailure failure;
  return failure;
}
constexpr auto kConnectionFailureRelevance = std::chrono::minutes(2);

bool IsConnectionFailureFacility(const char* facility) {
  for (const char* name : {"FAIL", "SSL", "SASL", "AUTH", "SSLVERIFY"}) {
    if (std::strcmp(facility, name) == 0) return true;
  }
  return false;
}

// Errors that mean "could not get an answer": the broker connection failure explains them.
bool IsNoAnswerError(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__TIMED_OUT || code == RD_KAFKA_RESP_ERR__TRANSPORT ||
         code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
         code == RD_KAFKA_RESP_ERR__SSL || code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
}

std::string WithConnectionFailure(rd_kafka_resp_err_t code, std::string text) {
  if (!IsNoAnswerError(code)) return text;
  ConnectionFailure& failure = LastConnectionFailure();
  std::lock_guard lock(failure.mutex);
  if (failure.text.empty() || std::chrono::steady_clock::now() - failure.when > kConnectionFailureRelevance) {
    return text;
  }
  return text + "; last broker connection failure: " + failure.text;
}

// librdkafka log levels are syslog levels.
void LogToSpdlog(const rd_kafka_t* handle, int level, const char* facility, const char* message) {
  if (level <= 3 && IsConnectionFailureFacility(facility)) {
    ConnectionFailure& failure = LastConnectionFailure();
    std::lock_guard lock(failure.mutex);
    failure.text = message;
    failure.when = std::chrono::steady_clock::now();
  }
  spdlog::level::level_enum spd_level = spdlog::level::debug;
  if (level <= 3) {
    spd_level = spdlog::level::err;
  } else if (level == 4) {
    spd_level = spdlog::level::warn;
  } else if (level <= 6) {
    spd_level = spdlog::level::info;
  }
  spdlog::log(spd_level, "librdkafka {} [{}] {}", rd_kafka_name(handle), facility, message);
}

// Properties whose values must never reach a log or an error message (passwords, private keys,
// JAAS and OAUTHBEARER configurations, which may embed credentials).
bool IsSecretProperty(std::string_view name) {
  for (std::string_view marker : {"password", "secret", "jaas", "oauthbearer.config", "key.pem", "keystore"}) {
    if (name.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

void SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, std::string_view where) {
  std::array<char, 512> errstr{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) != RD_KAFKA_CONF_OK) {
    // librdkafka's own message may quote the value: leave it out for secrets.
    std::string shown = IsSecretProperty(name) ? "(value not shown)" : value + ": " + errstr.data();
    throw KafkaException(KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, "_INVALID_ARG", "property " + name + "=" + shown,
                                    std::string(where)));
  }
}

}  // namespace

ConfPtr BuildConf(const Config& config, const std::map<std::string, std::string>& defaults,
                  const std::map<std::string, std::string>& forced, std::string_view where) {
  ConfPtr conf(rd_kafka_conf_new());
  SetProperty(conf.get(), "client.id", "sqltail", where);
  if (!config.bootstrap_servers.empty()) {
    SetProperty(conf.get(), "bootstrap.servers", config.bootstrap_servers, where);
  }
  for (const auto& [name, value] : defaults) SetProperty(conf.get(), name, value, where);
  for (const auto& [name, value] : config.properties) SetProperty(conf.get(), name, value, where);
  for (const auto& [name, value] : forced) SetProperty(conf.get(), name, value, where);
  rd_kafka_conf_set_log_cb(conf.get(), &LogToSpdlog);
  return conf;
}

HandlePtr CreateHandle(rd_kafka_type_t type, ConfPtr conf, std::string_view where) {
  std::array<char, 512> errstr{};
  // rd_kafka_new takes the configuration only on success.
  rd_kafka_t* handle = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (handle == nullptr) {
    throw KafkaException(KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, "_INVALID_ARG", errstr.data(), std::string(where)));
  }
  conf.release();
  return HandlePtr(handle);
}

std::string Where(std::string_view operation, const Config& config, std::string_view extra) {
  std::string text(operation);
  text += " (bootstrap=";
  text += config.bootstrap_servers.empty() ? std::string("<unset>") : config.bootstrap_servers;
  if (!extra.empty()) {
    text += ", ";
    text += extra;
  }
  text += ")";
  return text;
}

KafkaError FromCode(rd_kafka_resp_err_t code, std::string_view where, std::string_view message) {
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  std::string text = message.empty() ? std::string(rd_kafka_err2str(code)) : std::string(message);
  return KafkaError(code, rd_kafka_err2name(code), WithConnectionFailure(code, std::move(text)), std::string(where));
}

KafkaError FromError(rd_kafka_error_t* raw_error, std::string_view where) {
  if (raw_error == nullptr) return {};
  ErrorPtr error(raw_error);
  KafkaError result(rd_kafka_error_code(error.get()), rd_kafka_error_name(error.get()),
                    WithConnectionFailure(rd_kafka_error_code(error.get()), rd_kafka_error_string(error.get())),
                    std::string(where));
  result.SetRetriable(rd_kafka_error_is_retriable(error.get()) != 0)
      .SetFatal(rd_kafka_error_is_fatal(error.get()) != 0)
      .SetTxnRequiresAbort(rd_kafka_error_txn_requires_abort(error.get()) != 0);
  return result;
}

int TimeoutMs(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) return -1;
  if (timeout.count() > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
  return static_cast<int>(timeout.count());
}

}  // namespace sqltail::kafka::detail
