// Errors of the db-lib client: what failed, where, and what the server and db-lib said.
#pragma once

#include <stdexcept>
#include <string>

namespace sqltail::tds {

// db-lib's code for a query or read timeout (SYBETIME): the connection stays open but the answer is lost.
constexpr int kDblibTimeout = 20003;

struct TdsError {
  // "login to 127.0.0.1:14330 as 'sqltail'" or "query on 127.0.0.1:14330/source_db".
  std::string context;
  // The first server message of severity > 10 (ERROR token), 0 when the server sent none.
  int server_number = 0;
  int server_severity = 0;
  int server_state = 0;
  std::string server_text;
  // The first db-lib error (SYBE* code and text, plus the OS error text when there is one).
  int dblib_code = 0;
  std::string dblib_text;
  std::string os_text;

  // One line: "tds: <context> failed: server error 18456: Login failed for user 'sqltail'."
  std::string ToString() const;
};

// Thrown only by Connection::Connect; queries return TdsError values instead.
class TdsException : public std::runtime_error {
 public:
  explicit TdsException(TdsError error) : std::runtime_error(error.ToString()), error_(std::move(error)) {}
  const TdsError& error() const { return error_; }

 private:
  TdsError error_;
};

}  // namespace sqltail::tds
