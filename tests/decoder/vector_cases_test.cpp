// Runs every kind "record" case of shared/vectors/cases (real SQL Server bytes) plus embedded copies.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "embedded_cases.h"
#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

// Decodes and renders one case; returns an empty string on success, else what went wrong.
std::string RunRecordCase(std::string_view layout_json, std::string_view hex, std::string_view expected_json) {
  std::string layout_error;
  auto layout = ParseTableLayout(layout_json, layout_error);
  if (!layout) return "layout: " + layout_error;
  const std::vector<uint8_t> bytes = HexToBytes(hex);
  DecodedRecord record;
  DecodeError error;
  if (!DecodeRecord(*layout, bytes, record, error)) return "decode: " + error.message;
  std::string json;
  std::string failure;
  if (!RenderRecordJson(*layout, record, json, failure)) return "render: " + failure;
  std::string difference;
  if (!JsonEquivalent(json, expected_json, difference)) return "mismatch: " + difference + "\n  got " + json;
  return "";
}

}  // namespace

TEST_CASE("embedded real record cases decode to the published values") {
  for (const auto& test_case : kEmbeddedRecordCases) {
    INFO(test_case.name);
    CHECK(RunRecordCase(test_case.layout_json, test_case.hex, test_case.expected_json) == "");
  }
}

TEST_CASE("every record case in shared/vectors/cases decodes to its expected values") {
  const std::filesystem::path directory = std::filesystem::path(SQLTAIL_SHARED_DIR) / "vectors" / "cases";
  if (!std::filesystem::is_directory(directory)) {
    MESSAGE("no vector directory at " << directory.string() << ": ran 0 record cases");
    return;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  int record_cases = 0;
  int passed = 0;
  int other_kinds = 0;
  for (const auto& file : files) {
    INFO(file.filename().string());
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE(parser.load(file.string()).get(root) == simdjson::SUCCESS);
    std::string_view kind;
    REQUIRE(root["kind"].get_string().get(kind) == simdjson::SUCCESS);
    if (kind != "record") {
      ++other_kinds;  // logrecord / splice cases belong to other decoders
      continue;
    }
    ++record_cases;
    simdjson::dom::element layout;
    simdjson::dom::element expected;
    std::string_view hex;
    REQUIRE(root["layout"].get(layout) == simdjson::SUCCESS);
    REQUIRE(root["expected"].get(expected) == simdjson::SUCCESS);
    REQUIRE(root["hex"].get_string().get(hex) == simdjson::SUCCESS);
    const std::string problem = RunRecordCase(simdjson::to_string(layout), hex, simdjson::to_string(expected));
    CHECK_MESSAGE(problem.empty(), file.filename().string() << ": " << problem);
    if (problem.empty()) ++passed;
  }
  MESSAGE("record cases: " << passed << "/" << record_cases << " passed; " << other_kinds
                           << " cases of other kinds skipped");
  CHECK(record_cases > 0);
}
