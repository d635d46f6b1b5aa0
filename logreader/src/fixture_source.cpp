// Reads a fixture directory: catalog.json and log.jsonl (docs/fixture-format.md).
#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "sqltail/logreader/log_source.h"

namespace sqltail::logreader {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ReadFile(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = std::move(buffer).str();
  return true;
}

class FixtureSource final : public LogSource {
 public:
  bool Load(const std::string& directory, std::string& error) {
    directory_ = directory;
    if (!ReadFile(directory + "/catalog.json", catalog_json_, error)) return false;
    std::string log;
    if (!ReadFile(directory + "/log.jsonl", log, error)) return false;
    simdjson::ondemand::parser parser;
    size_t line_number = 0;
    size_t start = 0;
    while (start < log.size()) {
      size_t end = log.find('\n', start);
      if (end == std::string::npos) end = log.size();
      ++line_number;
      std::string_view line(log.data() + start, end - start);
      start = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      if (!AddLine(parser, line, line_number, error)) return false;
    }
    for (size_t i = 1; i < rows_.size(); ++i) {
      if (!(rows_[i - 1].lsn < rows_[i].lsn)) {
        error = directory + "/log.jsonl:" + std::to_string(rows_[i].line) + ": Current LSN " + rows_[i].lsn.ToString() +
                " is not after the previous row's";
        return false;
      }
    }
    return true;
  }

  bool ReadCatalog(Catalog& out, std::string& error) override {
    auto catalog = Catalog::FromFixtureJson(catalog_json_, error);
    if (!catalog) {
      error = directory_ + "/" + error;
      return false;
    }
    out = std::move(*catalog);
    return true;
  }

  bool ReadLog(Lsn from, size_t max_rows, const RowHandler& on_row, size_t& delivered, std::string& error) override {
    delivered = 0;
    auto it = std::lower_bound(rows_.begin(), rows_.end(), from, [](const Row& r, Lsn l) { return r.lsn < l; });
    for (; it != rows_.end() && delivered < max_rows; ++it) {
      LogRow row{it->lsn, std::span<const uint8_t>(bytes_.data() + it->offset, it->size), it->length};
      ++delivered;
      if (!on_row(row, error)) return error.empty();
    }
    return true;
  }

 private:
  struct Row {
    Lsn lsn;
    size_t offset = 0, size = 0;
    int length = -1;
    size_t line = 0;
  };

  bool AddLine(simdjson::ondemand::parser& parser, std::string_view line, size_t line_number, std::string& error) {
    auto where = [&] { return directory_ + "/log.jsonl:" + std::to_string(line_number) + ": "; };
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    if (auto err = parser.iterate(padded).get(doc)) {
      error = where() + simdjson::error_message(err);
      return false;
    }
    simdjson::ondemand::object object;
    if (doc.get_object().get(object)) {
      error = where() + "not a JSON object";
      return false;
    }
    Row row;
    row.line = line_number;
    bool have_lsn = false, have_record = false;
    for (auto field : object) {
      std::string_view key;
      if (field.unescaped_key().get(key)) {
        error = where() + "bad key";
        return false;
      }
      if (key == "Current LSN") {
        std::string_view text;
        if (field.value().get_string().get(text)) {
          error = where() + "\"Current LSN\" is not a string";
          return false;
        }
        auto lsn = Lsn::Parse(text);
        if (!lsn) {
          error = where() + "\"Current LSN\" '" + std::string(text) + "' is not an LSN";
          return false;
        }
        row.lsn = *lsn;
        have_lsn = true;
      } else if (key == "Log Record") {
        std::string_view text;
        if (field.value().get_string().get(text)) {
          error = where() + "\"Log Record\" is not a hex string";
          return false;
        }
        row.offset = bytes_.size();
        if (!DecodeHex(text, bytes_)) {
          error = where() + "\"Log Record\" is not 0x-prefixed hex";
          return false;
        }
        row.size = bytes_.size() - row.offset;
        have_record = true;
      } else if (key == "Log Record Length") {
        int64_t length = 0;
        if (!field.value().get_int64().get(length)) row.length = static_cast<int>(length);
      }
    }
    if (!have_lsn || !have_record) {
      error = where() + "missing \"Current LSN\" or \"Log Record\"";
      return false;
    }
    rows_.push_back(row);
    return true;
  }

  std::string directory_;
  std::string catalog_json_;
  std::vector<Row> rows_;
  std::vector<uint8_t> bytes_;
};

}  // namespace

bool DecodeHex(std::string_view hex, std::vector<uint8_t>& out) {
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  if (hex.size() % 2 != 0) return false;
  // No reserve(size + n) here: called once per row on one growing buffer, an exact reserve would
  // defeat the vector's geometric growth and make loading quadratic.
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

std::unique_ptr<LogSource> OpenFixtureSource(const std::string& directory, std::string& error) {
  auto source = std::make_unique<FixtureSource>();
  if (!source->Load(directory, error)) return nullptr;
  return source;
}

}  // namespace sqltail::logreader
