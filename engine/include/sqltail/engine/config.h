// Configuration files: one INI file per capture or apply stream (Boost.Program_options). Unknown
// keys and bad values are errors naming the key; `overrides` ("section.key=value") win over the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sqltail/engine/apply.h"
#include "sqltail/engine/capture.h"
#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/connection.h"

namespace sqltail::engine {

struct CaptureConfig {
  tds::ConnectOptions source;
  logreader::LiveSourceOptions live_source;  // reconnect, log statistics, log backups (keys under [source])
  CaptureOptions capture;
};

// The daemon around a run: keys under [service], the same for capture and apply.
struct ServiceOptions {
  int metrics_port = 0;                       // 0: no metrics/health endpoint
  std::string metrics_address = "127.0.0.1";  // local only by default
  int stall_timeout_s = 60;                   // /healthz fails once the main loop stalls this long
};

// Both return nullopt with a one-line `error` ("config FILE: key 'x': ...") on bad input.
// `service`, when given, receives the [service] keys.
std::optional<CaptureConfig> LoadCaptureConfig(const std::string& path, const std::vector<std::string>& overrides,
                                               std::string& error, ServiceOptions* service = nullptr);
std::optional<ApplyOptions> LoadApplyConfig(const std::string& path, const std::vector<std::string>& overrides,
                                            std::string& error, ServiceOptions* service = nullptr);

// docs/configuration.md: every key of both file kinds with its default and description (from the
// same option tables the loaders use), the kafka.property.* passthrough and the secret variables.
std::string ConfigReferenceMarkdown();

}  // namespace sqltail::engine
