// The [Log Record] parser on real records (vectors 02, 22, 24, 25) and on corrupt input.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/logreader/log_record.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sqltail/logreader/dump_json.h"
#include "sqltail/logreader/log_source.h"

using namespace sqltail::logreader;

namespace {

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  REQUIRE(DecodeHex(hex, out));
  return out;
}

// Every key of `expected` must be in the parsed JSON with an equal value.
void CheckAgainst(const std::string& json, simdjson::dom::element expected) {
  simdjson::dom::parser parser;
  simdjson::dom::element actual = parser.parse(json).value();
  for (auto [key, value] : expected.get_object()) {
    CAPTURE(key);
    simdjson::dom::element got;
    REQUIRE_FALSE(actual[key].get(got));
    CHECK(simdjson::minify(got) == simdjson::minify(value));
  }
}

}  // namespace

TEST_CASE("vector 02: LOP_INSERT_ROWS on a heap") {
  auto bytes =
      Hex("0x00003E001A0000003B000000010002006D0200000000020191000000010000001B0000001A0000003B0000000F000001000"
          "00D00000000010000000041000300200000001400000030000E003930000044455054303104000002001B002000414243444"
          "2424242420101000C0000E7A4787D00000102000402030004");
  LogRecordView r;
  std::string error;
  REQUIRE(ParseLogRecord(bytes, r, error));
  CHECK(OperationName(r.operation) == "LOP_INSERT_ROWS");
  CHECK(ContextName(r.context) == "LCX_HEAP");
  CHECK(r.transaction_id.ToString() == "0000:0000026d");
  CHECK(r.previous_lsn.ToString() == "0000001a:0000003b:0001");
  CHECK(r.page.ToString() == "0001:00000091");
  CHECK(r.slot == 0);
  CHECK(r.allocation_unit_id == 72057594039697408ull);
  CHECK(r.partition_id == 72057594038779904ull);
  CHECK(r.previous_page_lsn.ToString() == "0000001a:0000003b:000f");
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[0].size() == 32);
  CHECK(r.elements[1].empty());
  CHECK(r.elements[2].size() == 20);
  CHECK(r.elements[0][0] == 0x30);
}

TEST_CASE("vector 24: BEGIN_XACT name and time, ABORT_XACT end time and begin LSN") {
  auto begin =
      Hex("0x00004C000000000000000000000002003E4400000000800057000000010000000100000000000000EDCBB9008CB400007D7B0"
          "2000000000000000000000000003E440000000000000000000002003E001C0000006900760"
          "05F00510075006500720079005200650070006C00610079005F0031003500350038006300310066006500310030003500320034"
          "00650034006600000001050000000000051500000054385A33A095BB2055BEA868EA030000");
  LogRecordView r;
  std::string error;
  REQUIRE(ParseLogRecord(begin, r, error));
  CHECK(r.op() == LogOp::kBeginXact);
  CHECK_FALSE(r.has_page);
  REQUIRE(r.elements.size() == 2);
  CHECK(r.elements[0].size() == 62);
  CHECK(r.elements[1].size() == 28);
  auto abort =
      Hex("0x000050003300000028FC0100010002003E44000000008200F9CBB9008CB400003300000028FC010001000100000000000000000"
          "00000000000000000000000007D7B020000000000000000000000000000000000");
  REQUIRE(ParseLogRecord(abort, r, error));
  CHECK(r.op() == LogOp::kAbortXact);
  CHECK(r.xact_begin_lsn.ToString() == "00000033:0001fc28:0001");
  CHECK(r.num_elements == 0);
}

TEST_CASE("every logrecord case in ../shared/vectors/cases agrees") {
  std::filesystem::path dir = SQLTAIL_SHARED_DIR "/vectors/cases";
  if (!std::filesystem::exists(dir)) {
    MESSAGE("no shared vectors here: 0 cases run (the embedded ones above still ran)");
    return;
  }
  simdjson::dom::parser parser;
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    simdjson::dom::element root = parser.parse(text.str()).value();
    std::string_view kind = root["kind"].get_string().value();
    if (kind != "logrecord") continue;
    CAPTURE(entry.path().filename().string());
    auto bytes = Hex(root["hex"].get_string().value());
    LogRecordView r;
    std::string error, json;
    REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
    REQUIRE_MESSAGE(LogRecordToJson(r, json, error), error);
    simdjson::dom::parser expected_parser;
    CheckAgainst(json, root["expected"].value());
    ++cases;
  }
  MESSAGE(cases << " logrecord cases checked");
  CHECK(cases >= 10);
}

TEST_CASE("corrupt log records give errors that name the byte, never a crash") {
  auto good =
      Hex("0x00003E001A0000003B000000010002006D0200000000020191000000010000001B0000001A0000003B0000000F000001000"
          "00D00000000010000000041000300200000001400000030000E003930000044455054303104000002001B002000414243444"
          "2424242420101000C0000E7A4787D00000102000402030004");
  LogRecordView r;
  std::string error;
  for (size_t cut = 0; cut < good.size(); ++cut) {
    CAPTURE(cut);
    std::vector<uint8_t> truncated(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    if (!ParseLogRecord(truncated, r, error)) CHECK(error.find("byte") != std::string::npos);
  }
  auto bad = good;
  bad[64] = 0xFF;  // element 0 length past the end
  CHECK_FALSE(ParseLogRecord(bad, r, error));
  CHECK(error.find("element 0") != std::string::npos);
  bad = good;
  bad[2] = 0x10;  // fixed length 16 < header
  CHECK_FALSE(ParseLogRecord(bad, r, error));
}

TEST_CASE("every splice case in ../shared/vectors/cases agrees") {
  std::filesystem::path dir = SQLTAIL_SHARED_DIR "/vectors/cases";
  if (!std::filesystem::exists(dir)) {
    MESSAGE("no shared vectors here: 0 splice cases run");
    return;
  }
  simdjson::dom::parser parser;
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    simdjson::dom::element root = parser.parse(text.str()).value();
    if (std::string_view(root["kind"].get_string().value()) != "splice") continue;
    CAPTURE(entry.path().filename().string());
    std::string error;
    auto layout = ParseTableLayout(simdjson::minify(root["layout"].value()), error);
    REQUIRE_MESSAGE(layout, error);
    std::vector<uint8_t> spliced;
    REQUIRE_MESSAGE(
        SpliceRegion(Hex(root["before_hex"].get_string().value()),
                     static_cast<uint32_t>(root["offset"].get_int64().value()),
                     Hex(root["before"].get_string().value()), Hex(root["after"].get_string().value()), spliced, error),
        error);
    DecodedRecord decoded;
    DecodeError decode_error;
    REQUIRE_MESSAGE(DecodeRecord(*layout, spliced, decoded, decode_error), decode_error.message);
    std::string json;
    REQUIRE_MESSAGE(DecodedRecordToJson(*layout, decoded, json, error), error);
    simdjson::dom::parser result_parser;
    simdjson::dom::element columns = result_parser.parse(json).value()["columns"].value();
    for (auto [key, value] : root["expected"]["columns"].get_object()) {
      CAPTURE(key);
      CHECK(simdjson::minify(columns[key].value()) == simdjson::minify(value));
    }
    ++cases;
  }
  MESSAGE(cases << " splice cases checked");
  CHECK(cases >= 1);
}
