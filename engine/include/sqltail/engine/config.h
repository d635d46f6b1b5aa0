// Configuration files: one INI file per capture or apply stream (Boost.Program_options). Unknown
// keys and bad values are errors naming the key; `overrides` ("section.key=value") win over the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sqltail/engine/apply.h"
#include "sqltail/engine/capture.h"
#include "sqltail/tds/connection.h"

namespace sqltail::engine {

struct CaptureConfig {
  tds::ConnectOptions source;
  CaptureOptions capture;
};

// Both return nullopt with a one-line `error` ("config FILE: key 'x': ...") on bad input.
std::optional<CaptureConfig> LoadCaptureConfig(const std::string& path, const std::vector<std::string>& overrides,
                                               std::string& error);
std::optional<ApplyOptions> LoadApplyConfig(const std::string& path, const std::vector<std::string>& overrides,
                                            std::string& error);

}  // namespace sqltail::engine
