// logreader-dump: the debugging tool. Decodes one record, one log record, a splice, or all the change
// events of a fixture. --json prints JSON (a contract other tools compare against); otherwise a table.
#include <simdjson.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "sources.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/dump_json.h"
#include "sqltail/logreader/event_dump.h"
#include "sqltail/logreader/log_reader.h"
#include "sqltail/logreader/log_source.h"
#include "sqltail/logreader/page_compression.h"

namespace po = boost::program_options;
using namespace sqltail::logreader;

namespace {

constexpr const char* kUsage =
    "usage: logreader-dump fixture DIR [--json]\n"
    "       logreader-dump live --server HOST:PORT --user U --password-file F --database D [--json]\n"
    "       logreader-dump backup --backup FILE [--backup-position N] --server HOST:PORT --user U\n"
    "                      --password-file F --database D [--json]   (fn_dump_dblog on the server)\n"
    "       logreader-dump record --layout FILE --hex HEX [--page-ci HEX] [--json]\n"
    "       logreader-dump logrecord --hex HEX [--json]\n"
    "       logreader-dump splice --layout FILE --before-hex HEX --offset N --before HEX --after HEX [--json]\n"
    "event filters (fixture, live, backup): --table schema.table (* ?) --op c|u|d --xact 0000:000002d6\n"
    "       --from-lsn LSN --to-lsn LSN (bounds of the change LSN, inclusive; any LSN form)\n";

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

// The change events of a source (fixture, live database or log backup), in commit order.
int DumpEvents(const std::string& kind, const sqltail::dump::SourceArgs& args, size_t batch_rows, bool as_json,
               const EventFilter& filter, const sqltail::logreader::SpillOptions& spill) {
  std::string error;
  auto source = sqltail::dump::OpenSource(kind, args, error);
  if (!source) return Fail(error);
  EventDumpOptions dump;
  dump.filter = filter;
  dump.json = as_json;
  dump.batch_rows = batch_rows;
  dump.spill = spill;
  auto write = [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); };
  if (!sqltail::logreader::DumpEvents(*source, dump, write, error)) return Fail(error);
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
  std::string page_ci_hex;  // record: the page's compression information (page-compressed layouts)
  uint32_t offset = 0;
  sqltail::dump::SourceArgs source_args;
  size_t batch_rows = 100000;
  size_t txn_memory_budget_mb = 256;
  sqltail::logreader::SpillOptions spill;
  std::vector<std::string> filter_tables, filter_ops;
  std::string filter_xact, filter_from, filter_to;
  po::options_description options;
  options.add_options()("help,h", "usage")("json", "print JSON")("dir", po::value(&dir), "fixture directory")(
      "layout", po::value(&layout_path), "table layout JSON file")("hex", po::value(&hex), "bytes as hex")(
      "before-hex", po::value(&before_hex), "splice: the full row before the change")(
      "offset", po::value(&offset), "splice: region offset")("before", po::value(&before), "splice: region before")(
      "after", po::value(&after), "splice: region after")("page-ci", po::value(&page_ci_hex),
                                                          "record: the page's CI structure as hex (page compression)");
  options.add_options()("server", po::value(&source_args.server), "live/backup: SQL Server host:port")(
      "user", po::value(&source_args.user), "live/backup: login")(
      "password-file", po::value(&source_args.password_file), "live/backup: file with the password")(
      "database", po::value(&source_args.database), "live/backup: database")(
      "backup", po::value(&source_args.backup_file), "backup: the log backup file, as the server sees it")(
      "backup-position", po::value(&source_args.backup_position), "backup: backup set number in the file (1)")(
      "reconnect-max-s", po::value(&source_args.reconnect_max_s), "live/backup: reconnect this long (30; 0: never)")(
      "batch-rows", po::value(&batch_rows), "rows per log query (100000)")(
      "txn-memory-budget-mb", po::value(&txn_memory_budget_mb),
      "events: open transactions past this many MB of row images spill to disk (256; 0: never)")(
      "spill-dir", po::value(&spill.dir), "events: directory for spill files (the system temp directory)");
  options.add_options()("table", po::value(&filter_tables)->composing(),
                        "events: only tables matching schema.table (* ?; repeatable)")(
      "op", po::value(&filter_ops)->composing(), "events: only these operations: c, u, d (repeatable or c,u)")(
      "xact", po::value(&filter_xact), "events: only transaction ID (0000:000002d6, as fn_dblog prints it)")(
      "from-lsn", po::value(&filter_from), "events: only change LSNs >= this (any LSN form)")(
      "to-lsn", po::value(&filter_to), "events: only change LSNs <= this");
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
  if (command == "fixture" || command == "live" || command == "backup") {
    if (batch_rows == 0) return Fail("--batch-rows must be positive");
    source_args.fixture_dir = dir;
    EventFilter filter;
    filter.tables = filter_tables;
    for (const auto& list : filter_ops)
      if (!filter.AddOps(list, error)) return Fail(error);
    if (!filter_xact.empty() && !filter.SetTransaction(filter_xact, error)) return Fail(error);
    Lsn lsn;
    if (!filter_from.empty()) {
      if (!EventFilter::ParseLsn(filter_from, lsn, error)) return Fail("--from-lsn " + error);
      filter.from_lsn = lsn;
    }
    if (!filter_to.empty()) {
      if (!EventFilter::ParseLsn(filter_to, lsn, error)) return Fail("--to-lsn " + error);
      filter.to_lsn = lsn;
    }
    spill.memory_budget_bytes = txn_memory_budget_mb << 20;
    return DumpEvents(command, source_args, batch_rows, as_json, filter, spill);
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
    std::optional<PageCompressionInfo> page_ci;
    if (!page_ci_hex.empty()) {
      std::vector<uint8_t> ci_bytes;
      if (!Hex("page-ci", page_ci_hex, ci_bytes)) return 1;
      page_ci = ParsePageCompressionInfo(ci_bytes, error);
      if (!page_ci) return Fail(error);
    }
    DecodedRecord decoded;
    DecodeError decode_error;
    if (!DecodeRecord(*layout, row, decoded, decode_error, page_ci ? &*page_ci : nullptr)) {
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
