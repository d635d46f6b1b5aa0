// Connection settings shared by every Kafka client of sqltail.
#pragma once

#include <map>
#include <string>

namespace sqltail::kafka {

struct Config {
  std::string bootstrap_servers;  // "host:port[,host:port...]"
  // Passed to librdkafka unchanged (security.protocol, sasl.*, ssl.*, compression.type, linger.ms, ...).
  // They override the library's defaults; a few settings each client depends on are forced
  // (see the client headers).
  std::map<std::string, std::string> properties;
};

}  // namespace sqltail::kafka
