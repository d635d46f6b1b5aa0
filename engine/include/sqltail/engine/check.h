// `sqltail check`: validates a capture or apply configuration file and checks its connections
// without changing anything (no Kafka transaction, no topic, no table, no file is created).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sqltail::engine {

enum class ConfigKind { kCapture, kApply };

// Which stream a configuration describes, from the sections of its keys (in the file and in the
// "section.key=value" overrides): [source] or [capture] make it a capture file, [apply] or [target]
// an apply file ([kafka] and [service] belong to both). A file with both kinds, or with neither, is
// an error naming the sections found.
std::optional<ConfigKind> DetectConfigKind(const std::string& path, const std::vector<std::string>& overrides,
                                           std::string& error);

struct CheckResult {
  bool ok = false;
  bool warning = false;  // with ok: works, but something is missing ("WARN"; does not fail the check)
  std::string what;      // "config", "source login", "catalog query", "fn_dblog", "table filter", "kafka", "target"
  std::string detail;    // what was found, or the error (naming the key or quoting the server)
};

// "ok <what>: <detail>", "WARN <what>: <detail>" or "FAIL <what>: <detail>", one line.
std::string FormatCheckResult(const CheckResult& result);

struct CheckOptions {
  bool connect = true;                             // false: validate the file only
  std::chrono::milliseconds kafka_timeout{10000};  // bound of the Kafka metadata request
};

// Runs the checks in order and hands each result to `on_result` when it is known. A check whose
// prerequisite failed (the catalog after a failed login) is not run. True when every check passed.
bool RunCheck(const std::string& path, const std::vector<std::string>& overrides, const CheckOptions& options,
              const std::function<void(const CheckResult&)>& on_result);

}  // namespace sqltail::engine
