#include "sources.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "sqltail/logreader/live_source.h"
#include "sqltail/tds/error.h"

namespace sqltail::dump {
namespace {

bool ConnectOptionsFrom(const SourceArgs& args, tds::ConnectOptions& out, std::string& error) {
  if (args.server.empty() || args.user.empty() || args.database.empty()) {
    error = "--server HOST:PORT, --user and --database are required";
    return false;
  }
  const auto colon = args.server.rfind(':');
  out.host = colon == std::string::npos ? args.server : args.server.substr(0, colon);
  out.port = 1433;
  if (colon != std::string::npos) {
    const std::string port = args.server.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      error = "--server: '" + port + "' is not a port";
      return false;
    }
    out.port = static_cast<uint16_t>(value);
  }
  out.user = args.user;
  out.database = args.database;
  out.app_name = "logreader-dump";
  if (const char* env = std::getenv("SQLTAIL_SOURCE_PASSWORD"); env != nullptr && *env != '\0') {
    out.password = env;
  } else if (!args.password_file.empty()) {
    std::ifstream in(args.password_file);
    if (!in) {
      error = "--password-file: cannot read " + args.password_file;
      return false;
    }
    std::getline(in, out.password);
  }
  return true;
}

}  // namespace

std::unique_ptr<logreader::LogSource> OpenSource(const std::string& kind, const SourceArgs& args, std::string& error) {
  if (kind == "fixture") {
    if (args.fixture_dir.empty()) {
      error = "fixture: DIR is required";
      return nullptr;
    }
    return logreader::OpenFixtureSource(args.fixture_dir, error);
  }
  tds::ConnectOptions connect;
  if (!ConnectOptionsFrom(args, connect, error)) {
    error = kind + ": " + error;
    return nullptr;
  }
  logreader::LiveSourceOptions live;
  live.reconnect_max_s = args.reconnect_max_s;
  live.log = [](const std::string& m) { std::fprintf(stderr, "logreader-dump: %s\n", m.c_str()); };
  try {
    if (kind == "live") return logreader::OpenLiveSource(connect, std::move(live));
    if (args.backup_file.empty()) {
      error = "backup: --backup FILE is required";
      return nullptr;
    }
    if (args.backup_position < 1) {
      error = "backup: --backup-position must be 1 or more";
      return nullptr;
    }
    logreader::LogBackup backup;
    backup.position = args.backup_position;
    backup.files.push_back(args.backup_file);
    return logreader::OpenBackupFileSource(connect, std::move(backup), std::move(live));
  } catch (const tds::TdsException& e) {
    error = e.what();
    return nullptr;
  }
}

}  // namespace sqltail::dump
