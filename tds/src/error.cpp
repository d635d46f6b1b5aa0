#include "sqltail/tds/error.h"

namespace sqltail::tds {

namespace {
// Server and db-lib texts may carry line breaks; a log line must stay one line.
void AppendOneLine(std::string& out, const std::string& text) {
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  while (!out.empty() && out.back() == ' ') out.pop_back();
}
}  // namespace

std::string TdsError::ToString() const {
  std::string out = "tds: ";
  out += context.empty() ? std::string("request") : context;
  out += " failed: ";
  if (server_number != 0) {
    out += "server error " + std::to_string(server_number) + ": ";
    AppendOneLine(out, server_text);
  } else if (dblib_code != 0 || !dblib_text.empty()) {
    AppendOneLine(out, dblib_text);
    if (!os_text.empty()) {
      out += " (";
      AppendOneLine(out, os_text);
      out += ")";
    }
  } else {
    out += "unknown error";
  }
  return out;
}

}  // namespace sqltail::tds
