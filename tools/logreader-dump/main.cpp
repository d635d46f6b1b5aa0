// logreader-dump: the debugging tool. Decodes one record, one log record, a splice, or all the change
// events of a fixture. --json prints JSON (a contract other tools compare against); otherwise a table.
#include <simdjson.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/dump_json.h"
#include "sqltail/logreader/log_reader.h"
#include "sqltail/logreader/log_source.h"

namespace po = boost::program_options;
using namespace sqltail::logreader;

namespace {

constexpr const char* kUsage =
    "usage: logreader-dump fixture DIR [--json]\n"
    "       logreader-dump record --layout FILE --hex HEX [--json]\n"
    "       logreader-dump logrecord --hex HEX [--json]\n"
    "       logreader-dump splice --layout FILE --before-hex HEX --offset N --before HEX --after HEX [--json]\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "logreader-dump: %s\n", message.c_str());
  return 1;
}

bool Hex(const std::string& name, const std::string& text, std::vector<uint8_t>& out) {
  out.clear();
  if (!DecodeHex(text, out)) {
    std::fprintf(stderr, "logreader-dump: --%s is not hex\n", name.c_str());
    return false;
  }
  return true;
}

std::optional<TableLayout> LoadLayout(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto layout = ParseTableLayout(text.str(), error);
  if (!layout) error = path + ": " + error;
  return layout;
}

// Without --json: one "key  value" line per field (nested objects as "columns.id"), for people.
void PrintFlat(simdjson::dom::element element, const std::string& prefix) {
  if (element.is_object()) {
    for (auto [key, value] : element.get_object()) {
      PrintFlat(value, prefix.empty() ? std::string(key) : prefix + "." + std::string(key));
    }
    return;
  }
  std::printf("%-24s %s\n", prefix.c_str(), simdjson::minify(element).c_str());
}

void Print(const std::string& json, bool as_json) {
  if (as_json) {
    std::cout << json << "\n";
    return;
  }
  simdjson::dom::parser parser;
  PrintFlat(parser.parse(json).value(), "");
}

int DumpFixture(const std::string& dir, bool as_json) {
  std::string error;
  auto source = OpenFixtureSource(dir, error);
  if (!source) return Fail(error);
  Catalog catalog;
  if (!source->ReadCatalog(catalog, error)) return Fail(error);
  EventLineWriter writer;
  std::string line;
  if (!as_json) std::printf("%-22s %-22s %-2s %-28s %s\n", "COMMIT LSN", "CHANGE LSN", "OP", "TABLE", "KEY");
  LogReader reader(*source, catalog, [&](const CommittedTransaction& txn, std::string& txn_error) {
    for (const auto& change : txn.changes) {
      line.clear();
      if (!writer.Append(txn, change, line, txn_error)) return false;
      if (as_json) {
        std::fwrite(line.data(), 1, line.size(), stdout);
      } else {
        auto key_at = line.find("\"key\":");
        auto key_end = line.find(",\"before\":");
        std::printf("%s %s %c  %-28s %s\n", txn.commit_lsn.ToString().c_str(), change.lsn.ToString().c_str(),
                    static_cast<char>(change.op), change.table->QualifiedName().c_str(),
                    line.substr(key_at + 6, key_end - key_at - 6).c_str());
      }
    }
    return true;
  });
  size_t rows = 0;
  do {
    if (!reader.Poll(100000, rows, error)) return Fail(error);
  } while (rows > 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  std::string command = argv[1];
  std::string dir, layout_path, hex, before_hex, before, after;
  uint32_t offset = 0;
  po::options_description options;
  options.add_options()("help,h", "usage")("json", "print JSON")("dir", po::value(&dir), "fixture directory")(
      "layout", po::value(&layout_path), "table layout JSON file")("hex", po::value(&hex), "bytes as hex")(
      "before-hex", po::value(&before_hex), "splice: the full row before the change")(
      "offset", po::value(&offset), "splice: region offset")("before", po::value(&before), "splice: region before")(
      "after", po::value(&after), "splice: region after");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(options).positional(positional).run(), values);
    po::notify(values);
  } catch (const po::error& e) {
    return Fail(std::string(e.what()) + "\n" + kUsage);
  }
  bool as_json = values.count("json") > 0;
  std::string error, out;
  if (command == "fixture") {
    if (dir.empty()) return Fail("fixture: DIR is required");
    return DumpFixture(dir, as_json);
  }
  if (command == "logrecord") {
    std::vector<uint8_t> bytes;
    if (!Hex("hex", hex, bytes)) return 1;
    LogRecordView record;
    if (!ParseLogRecord(bytes, record, error) || !LogRecordToJson(record, out, error)) return Fail(error);
    Print(out, as_json);
    return 0;
  }
  if (command == "record" || command == "splice") {
    auto layout = LoadLayout(layout_path, error);
    if (!layout) return Fail(error);
    std::vector<uint8_t> row;
    if (command == "record") {
      if (!Hex("hex", hex, row)) return 1;
    } else {
      std::vector<uint8_t> base, region_before, region_after;
      if (!Hex("before-hex", before_hex, base) || !Hex("before", before, region_before) ||
          !Hex("after", after, region_after))
        return 1;
      if (!SpliceRegion(base, offset, region_before, region_after, row, error)) return Fail("splice: " + error);
    }
    DecodedRecord decoded;
    DecodeError decode_error;
    if (!DecodeRecord(*layout, row, decoded, decode_error)) {
      return Fail("byte " + std::to_string(decode_error.byte_offset) +
                  (decode_error.column.empty() ? "" : ", column " + decode_error.column) + ": " + decode_error.message);
    }
    if (!DecodedRecordToJson(*layout, decoded, out, error)) return Fail(error);
    Print(out, as_json);
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 64;
}
