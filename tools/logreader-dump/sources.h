// Where logreader-dump reads the log from: a fixture directory, a live database (fn_dblog through the
// same LogSource the capture uses), or a log backup file (fn_dump_dblog on the server). Kept apart from
// the output and the filters.
#pragma once

#include <memory>
#include <string>

#include "sqltail/logreader/log_source.h"

namespace sqltail::dump {

struct SourceArgs {
  std::string fixture_dir;    // fixture
  std::string server;         // live, backup: host:port
  std::string user;           // live, backup
  std::string password_file;  // live, backup: first line is the password (SQLTAIL_SOURCE_PASSWORD wins)
  std::string database;       // live, backup
  std::string backup_file;    // backup: the file as the server sees it
  int backup_position = 1;    // backup: the backup set's number in the file
  int reconnect_max_s = 30;   // live, backup: reconnect for this long after a drop (0: never)
};

// `kind` is "fixture", "live" or "backup". nullptr with `error` naming the missing or bad argument,
// or the failed login.
std::unique_ptr<logreader::LogSource> OpenSource(const std::string& kind, const SourceArgs& args, std::string& error);

}  // namespace sqltail::dump
