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

namespace {

// A row-operation record (fixed length 62, log-internals 2.1) with the given elements, each padded to 4.
std::vector<uint8_t> RowOperationRecord(uint8_t operation, uint16_t offset_in_row,
                                        const std::vector<std::vector<uint8_t>>& elements) {
  std::vector<uint8_t> out(62, 0);
  out[2] = 62;
  out[14] = 0x02;
  out[22] = operation;
  out[23] = 2;  // LCX_CLUSTERED
  out[56] = static_cast<uint8_t>(offset_in_row);
  out[57] = static_cast<uint8_t>(offset_in_row >> 8);
  auto put16 = [&](size_t v) {
    out.push_back(static_cast<uint8_t>(v));
    out.push_back(static_cast<uint8_t>(v >> 8));
  };
  put16(elements.size());
  for (const auto& element : elements) put16(element.size());
  while (out.size() % 4) out.push_back(0);
  for (const auto& element : elements) {
    out.insert(out.end(), element.begin(), element.end());
    while (out.size() % 4) out.push_back(0);
  }
  return out;
}

}  // namespace

TEST_CASE("LOP_MODIFY_COLUMNS: every region, including those past RowLog Contents 5") {
  // Three regions at before offsets 4, 10 and 20: el0 = (before, after) offset word pairs, el1 =
  // before lengths, el2 key, el3 lock info, then (before, after) per region in elements 4..9.
  const std::vector<std::vector<uint8_t>> elements = {
      {4, 0, 4, 0, 10, 0, 10, 0, 20, 0, 21, 0},
      {1, 0, 2, 0, 3, 0},
      {0x16, 1, 0, 0, 0},
      {1, 1, 0, 12, 0, 0, 0x39, 0x30, 0, 0},
      {0xAA},
      {0xBB},
      {0x01, 0x02},
      {0x03, 0x04},
      {0x10, 0x11, 0x12},
      {0x20, 0x21, 0x22, 0x23},
  };
  auto bytes = RowOperationRecord(6, 0, elements);
  LogRecordView r;
  std::string error;
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK(r.op() == LogOp::kModifyColumns);
  CHECK(r.num_elements == 10);
  std::vector<ModifyRegion> regions;
  REQUIRE_MESSAGE(ModifyRegions(r, regions, error), error);
  REQUIRE(regions.size() == 3);
  const uint32_t offsets[3] = {4, 10, 20};
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(regions[i].offset == offsets[i]);
    CHECK(std::vector<uint8_t>(regions[i].before.begin(), regions[i].before.end()) == elements[4 + 2 * i]);
    CHECK(std::vector<uint8_t>(regions[i].after.begin(), regions[i].after.end()) == elements[5 + 2 * i]);
  }
  // The JSON the dump prints lists the same three regions.
  std::string json;
  REQUIRE_MESSAGE(LogRecordToJson(r, json, error), error);
  CHECK(json.find(R"("regions":[{"offset":4,"before":"0xAA","after":"0xBB"},{"offset":10,"before":"0x0102",)"
                  R"("after":"0x0304"},{"offset":20,"before":"0x101112","after":"0x20212223"}])") != std::string::npos);
}

TEST_CASE("LOP_MODIFY_COLUMNS: too few elements, or a half offset pair, is an error") {
  LogRecordView r;
  std::string error;
  std::vector<ModifyRegion> regions;
  // Two regions announced, only one (before, after) pair present.
  auto bytes = RowOperationRecord(6, 0, {{4, 0, 4, 0, 8, 0, 8, 0}, {1, 0, 1, 0}, {}, {}, {0xAA}, {0xBB}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK_FALSE(ModifyRegions(r, regions, error));
  CHECK(error.find("2 regions but only 6 elements") != std::string::npos);
  bytes = RowOperationRecord(6, 0, {{4, 0, 4, 0}, {1, 0}, {}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK_FALSE(ModifyRegions(r, regions, error));
  CHECK(error.find("fewer than 4 elements") != std::string::npos);
  bytes = RowOperationRecord(6, 0, {{4, 0, 4, 0, 8, 0}, {1, 0}, {}, {}, {0xAA}, {0xBB}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK_FALSE(ModifyRegions(r, regions, error));
  CHECK(error.find("element 0 has 6 bytes") != std::string::npos);
  // No regions at all is not an update we could apply; it parses to an empty list.
  bytes = RowOperationRecord(6, 0, {{}, {}, {}, {}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  REQUIRE(ModifyRegions(r, regions, error));
  CHECK(regions.empty());
  // A MODIFY_ROW needs its before and after elements; other operations have no regions.
  bytes = RowOperationRecord(4, 7, {{0x01}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK_FALSE(ModifyRegions(r, regions, error));
  bytes = RowOperationRecord(4, 7, {{0x01}, {0x02, 0x03}, {}, {}, {}, {}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  REQUIRE(ModifyRegions(r, regions, error));
  REQUIRE(regions.size() == 1);
  CHECK(regions[0].offset == 7);
  CHECK(regions[0].after.size() == 2);
  bytes = RowOperationRecord(2, 0, {{0x10}, {}, {}});
  REQUIRE_MESSAGE(ParseLogRecord(bytes, r, error), error);
  CHECK_FALSE(ModifyRegions(r, regions, error));
  CHECK(error.find("LOP_INSERT_ROWS") != std::string::npos);
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
