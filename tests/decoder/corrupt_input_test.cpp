// Corrupt input: every failure is a clean false with the byte offset (and column when in one).
#include <doctest/doctest.h>

#include <random>

#include "embedded_cases.h"
#include "sqltail/logreader/dump_json.h"
#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

bool Decode(const TableLayout& layout, const std::vector<uint8_t>& bytes, DecodeError& error) {
  DecodedRecord record;
  if (!DecodeRecord(layout, bytes, record, error)) return false;
  // Rendering must also never read outside the record.
  std::string out;
  for (size_t i = 0; i < layout.columns.size(); ++i) AppendCanonicalJson(layout.columns[i], record.fields[i], out);
  return true;
}

}  // namespace

TEST_CASE("truncated records fail cleanly at every length") {
  for (const auto& test_case : kEmbeddedRecordCases) {
    INFO(test_case.name);
    const TableLayout layout = LayoutFromJson(test_case.layout_json);
    const std::vector<uint8_t> full = HexToBytes(test_case.hex);
    for (size_t length = 0; length < full.size(); ++length) {
      // Exact-size copies so ASan sees any read past the end.
      std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
      DecodeError error;
      if (!Decode(layout, prefix, error)) CHECK_FALSE(error.message.empty());
    }
  }
}

TEST_CASE("offsets past the end name the byte offset and column") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), Column("v", "varchar", 10, -1, 2)};
  layout.columns[1].collation_name = "SQL_Latin1_General_CP1_CI_AS";
  DecodeError error;

  // Fixed-part end beyond the record.
  auto bytes = BuildRecord({1, 0, 0, 0}, 2, {}, {{{'a'}}});
  bytes[2] = 0xFF;
  CHECK_FALSE(Decode(layout, bytes, error));
  CHECK(error.byte_offset == 2);

  // Variable column end offset past the record.
  bytes = BuildRecord({1, 0, 0, 0}, 2, {}, {{{'a'}}});
  bytes[13] = 0x40;
  CHECK_FALSE(Decode(layout, bytes, error));
  CHECK(error.byte_offset == 13);
  CHECK(error.message.find("at byte 13") != std::string::npos);
  CHECK(error.column == "v");  // the column whose end offset it is

  // A fixed column the record's fixed part cannot hold is named.
  layout.columns[0].leaf_offset = 6;
  bytes = BuildRecord({1, 0, 0, 0}, 2, {}, {{{'a'}}});
  CHECK_FALSE(Decode(layout, bytes, error));
  CHECK(error.column == "id");
  CHECK(error.byte_offset == 6);
}

TEST_CASE("a value that does not render is named with its bytes and their offset") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), Column("at", "datetime", 8, 8, 2)};
  // Time ticks 25,920,000 (a whole day) are past 23:59:59.997.
  auto bytes = BuildRecord({1, 0, 0, 0, 0x00, 0x82, 0x8B, 0x01, 0, 0, 0, 0}, 2, {}, {});
  DecodedRecord record;
  DecodeError decode_error;
  REQUIRE(DecodeRecord(layout, bytes, record, decode_error));
  std::string json, error;
  CHECK_FALSE(DecodedRecordToJson(layout, record, json, error));
  CHECK(error ==
        "column at: the stored bytes 0x00828B0100000000 (8 bytes at byte 8 of the record) are not a valid datetime "
        "value");
  // Bytes outside the record (an expanded compressed value) are shown without an offset.
  const uint8_t elsewhere[2] = {0xAB, 0xCD};
  CHECK(DescribeStoredBytes(record, FieldView{FieldState::kValue, elsewhere, 2}) ==
        "the stored bytes 0xABCD (2 bytes)");
  // Long values are cut at 32 bytes.
  std::vector<uint8_t> long_value(40, 0x11);
  CHECK(DescribeStoredBytes(record, FieldView{FieldState::kValue, long_value.data(), 40}) ==
        "the stored bytes 0x" + std::string(64, '1') + "... (40 bytes)");
}

TEST_CASE("column count beyond the layout is refused") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1)};
  auto bytes = BuildRecord({1, 0, 0, 0}, 3, {}, {});
  DecodeError error;
  CHECK_FALSE(Decode(layout, bytes, error));
  CHECK(error.byte_offset == 8);
  CHECK(error.message.find("3 columns") != std::string::npos);

  // More variable columns than the layout has.
  layout.columns.push_back(Column("v", "varchar", 10, -1, 2));
  bytes = BuildRecord({1, 0, 0, 0}, 2, {}, {{{'a'}}, {{'b'}}});
  CHECK_FALSE(Decode(layout, bytes, error));
}

TEST_CASE("NULL bit beyond the record's bitmap is refused, naming the column") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), Column("x", "int", 4, 8, 12)};
  auto bytes = BuildRecord({1, 0, 0, 0, 2, 0, 0, 0}, 2, {}, {});
  DecodeError error;
  CHECK_FALSE(Decode(layout, bytes, error));
  CHECK(error.column == "x");
}

TEST_CASE("random corruption never crashes") {
  std::mt19937 random(20240601);
  for (const auto& test_case : kEmbeddedRecordCases) {
    const TableLayout layout = LayoutFromJson(test_case.layout_json);
    const std::vector<uint8_t> original = HexToBytes(test_case.hex);
    for (int round = 0; round < 3000; ++round) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < flips; ++i) bytes[random() % bytes.size()] = static_cast<uint8_t>(random());
      if (random() % 4 == 0) bytes.resize(random() % (bytes.size() + 1));
      DecodeError error;
      if (!Decode(layout, bytes, error)) REQUIRE_FALSE(error.message.empty());
    }
  }
  // Row-compressed records too.
  TableLayout layout = LayoutFromJson(
      R"({"compression":"row","columns":[
        {"name":"n","type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1},
        {"name":"t","type":"varchar","max_length":100,"leaf_offset":-1,"leaf_null_bit":2,
         "collation_name":"SQL_Latin1_General_CP1_CI_AS"},
        {"name":"f","type":"char","max_length":2000,"leaf_offset":8,"leaf_null_bit":3,
         "collation_name":"SQL_Latin1_General_CP1_CI_AS"}]})");
  const std::vector<uint8_t> original = HexToBytes("2103A216E5526F7720310101000D005468697320697320726F772031");
  for (int round = 0; round < 5000; ++round) {
    std::vector<uint8_t> bytes = original;
    bytes[random() % bytes.size()] = static_cast<uint8_t>(random());
    if (random() % 4 == 0) bytes.resize(random() % (bytes.size() + 1));
    DecodeError error;
    if (!Decode(layout, bytes, error)) REQUIRE_FALSE(error.message.empty());
  }
}
