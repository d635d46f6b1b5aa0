// Record structure: NULLs, bits, variable columns, missing columns, special record types.
#include <doctest/doctest.h>

#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

std::vector<uint8_t> Le32(uint32_t value) {
  return {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value >> 16),
          static_cast<uint8_t>(value >> 24)};
}

std::vector<uint8_t> Text(std::string_view text) { return {text.begin(), text.end()}; }

ColumnLayout VarcharColumn(std::string name, int ordinal, int null_bit) {
  ColumnLayout column = Column(std::move(name), "varchar", 50, -ordinal, null_bit);
  column.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  return column;
}

std::string DecodeToJson(const TableLayout& layout, const std::vector<uint8_t>& bytes) {
  DecodedRecord record;
  DecodeError error;
  const bool decoded = DecodeRecord(layout, bytes, record, error);
  INFO(error.message);
  REQUIRE(decoded);
  std::string json;
  std::string failure;
  const bool rendered = RenderRecordJson(layout, record, json, failure);
  INFO(failure);
  REQUIRE(rendered);
  return json;
}

void CheckJson(const std::string& actual, std::string_view expected) {
  std::string difference;
  INFO(actual);
  INFO(difference);
  CHECK_MESSAGE(JsonEquivalent(actual, expected, difference), difference);
}

}  // namespace

TEST_CASE("empty string and NULL are different") {
  TableLayout layout;
  layout.columns = {VarcharColumn("a", 1, 1), VarcharColumn("b", 2, 2), VarcharColumn("c", 3, 3)};
  // a = '', b = NULL (zero length, bit set), c = 'x'
  auto bytes = BuildRecord({}, 3, {2}, {{{}}, {{}}, {Text("x")}});
  CheckJson(DecodeToJson(layout, bytes), R"({"record_type":"primary","columns":{"a":"","b":null,"c":"x"}})");
}

TEST_CASE("all-NULL row and trailing NULL variable columns without offset entries") {
  TableLayout layout;
  layout.columns = {Column("i", "int", 4, 4, 1), VarcharColumn("a", 1, 2), VarcharColumn("b", 2, 3),
                    VarcharColumn("c", 3, 4)};
  auto all_null = BuildRecord({0, 0, 0, 0}, 4, {1, 2, 3, 4}, {});
  CheckJson(DecodeToJson(layout, all_null),
            R"({"record_type":"primary","columns":{"i":null,"a":null,"b":null,"c":null}})");
  auto trailing = BuildRecord(Le32(7), 4, {3, 4}, {{Text("hi")}});
  CheckJson(DecodeToJson(layout, trailing),
            R"({"record_type":"primary","columns":{"i":7,"a":"hi","b":null,"c":null}})");
}

TEST_CASE("bit columns read only their own bit (garbage in the others)") {
  TableLayout layout;
  ColumnLayout b0 = Column("b0", "bit", 1, 4, 1);
  ColumnLayout b1 = Column("b1", "bit", 1, 4, 2);
  b1.leaf_bit_position = 1;
  ColumnLayout b3 = Column("b3", "bit", 1, 4, 3);
  b3.leaf_bit_position = 3;
  ColumnLayout b7 = Column("b7", "bit", 1, 4, 4);
  b7.leaf_bit_position = 7;
  layout.columns = {b0, b1, b3, b7};
  auto bytes = BuildRecord({0x4A}, 4, {}, {});  // 0100 1010: bit1 and bit3 set, bit6 garbage
  CheckJson(DecodeToJson(layout, bytes),
            R"({"record_type":"primary","columns":{"b0":false,"b1":true,"b3":true,"b7":false}})");
}

TEST_CASE("fewer columns in the record than in the layout: default or NULL") {
  TableLayout layout;
  ColumnLayout added_with_default = Column("d", "int", 4, 8, 2);
  added_with_default.has_default = true;
  added_with_default.default_value = "42";
  ColumnLayout added_nullable = VarcharColumn("n", 1, 3);
  ColumnLayout added_text_default = VarcharColumn("t", 2, 4);
  added_text_default.has_default = true;
  added_text_default.default_value = "new \"row\"";
  layout.columns = {Column("id", "int", 4, 4, 1), added_with_default, added_nullable, added_text_default};
  auto old_row = BuildRecord(Le32(5), 1, {}, {});
  CheckJson(DecodeToJson(layout, old_row),
            R"({"record_type":"primary","columns":{"id":5,"d":42,"n":null,"t":"new \"row\""}})");

  DecodedRecord record;
  DecodeError error;
  REQUIRE(DecodeRecord(layout, old_row, record, error));
  CHECK(record.fields[1].state == FieldState::kDefault);
  CHECK(record.fields[2].state == FieldState::kNull);
  // A default text that is not an int is refused, not guessed.
  layout.columns[1].default_value = "((42))";
  std::string out;
  CHECK_FALSE(AppendCanonicalJson(layout.columns[1], record.fields[1], out));
  CHECK(out.empty());
}

TEST_CASE("1,024 columns") {
  TableLayout layout;
  std::vector<uint8_t> fixed;
  std::vector<int> nulls;
  std::string expected = R"({"record_type":"primary","columns":{)";
  for (int i = 0; i < 1024; ++i) {
    const std::string name = "c" + std::to_string(i);
    layout.columns.push_back(Column(name, "int", 4, 4 + 4 * i, i + 1));
    auto value = Le32(static_cast<uint32_t>(i * 1000 - 7));
    fixed.insert(fixed.end(), value.begin(), value.end());
    if (i > 0) expected += ',';
    if (i % 3 == 0) {
      nulls.push_back(i + 1);
      expected += "\"" + name + "\":null";
    } else {
      expected += "\"" + name + "\":" + std::to_string(i * 1000 - 7);
    }
  }
  expected += "}}";
  CheckJson(DecodeToJson(layout, BuildRecord(fixed, 1024, nulls, {})), expected);
}

TEST_CASE("8,060-byte row") {
  TableLayout layout;
  ColumnLayout fixed_text = Column("f", "char", 7000, 8, 2);
  fixed_text.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  layout.columns = {Column("id", "int", 4, 4, 1), fixed_text, VarcharColumn("v", 1, 3)};
  std::vector<uint8_t> fixed = Le32(1);
  fixed.resize(4 + 7000, 'a');
  std::vector<uint8_t> tail(1045, 'z');
  auto bytes = BuildRecord(fixed, 3, {}, {{tail}});
  REQUIRE(bytes.size() == 8060);
  const std::string json = DecodeToJson(layout, bytes);
  CheckJson(json, R"({"record_type":"primary","columns":{"id":1,"f":")" + std::string(7000, 'a') + R"(","v":")" +
                      std::string(1045, 'z') + "\"}}");
}

TEST_CASE("dropped columns and the uniquifier are located but not rendered") {
  TableLayout layout;
  ColumnLayout dropped = Column("old", "int", 4, 4, 1);
  dropped.name.reset();
  dropped.is_dropped = true;
  ColumnLayout uniquifier = Column("", "int", 4, -1, 3);
  uniquifier.name.reset();
  uniquifier.is_uniqueifier = true;
  layout.columns = {dropped, Column("x", "int", 4, 8, 2), uniquifier, VarcharColumn("v", 2, 4)};
  auto bytes = BuildRecord({9, 9, 9, 9, 3, 0, 0, 0}, 4, {}, {{Le32(1)}, {Text("q")}});
  CheckJson(DecodeToJson(layout, bytes), R"({"record_type":"primary","columns":{"x":3,"v":"q"}})");
}

TEST_CASE("forwarding stub and forwarded record") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), VarcharColumn("v", 1, 2)};
  // stub: 0x04, page 0x929 (2345), file 1, slot 6
  auto stub_bytes = HexToBytes("042909000001000600");
  DecodedRecord record;
  DecodeError error;
  REQUIRE(DecodeRecord(layout, stub_bytes, record, error));
  CHECK(record.record_type == RecordType::kForwardingStub);
  CHECK(record.forwarded_to == "1:2345:6");
  CHECK(record.fields[0].state == FieldState::kUnavailable);

  // forwarded: type 1, var columns: v = 'ab', then the back pointer 0x0004 + RID (1:100:2)
  VarValue back_pointer{HexToBytes("04006400000001000200"), true};
  auto forwarded = BuildRecord(Le32(8), 2, {}, {{Text("ab")}, back_pointer}, 1);
  REQUIRE(DecodeRecord(layout, forwarded, record, error));
  CHECK(record.record_type == RecordType::kForwarded);
  CHECK(record.back_pointer == "1:100:2");
  CheckJson(DecodeToJson(layout, forwarded),
            R"({"record_type":"forwarded","back_pointer":"1:100:2","columns":{"id":8,"v":"ab"}})");
  // A forwarded record whose last column is not a back pointer is refused.
  auto bad = BuildRecord(Le32(8), 2, {}, {{Text("ab")}}, 1);
  CHECK_FALSE(DecodeRecord(layout, bad, record, error));
}

TEST_CASE("ghost data records decode like data records; versioning tag excluded") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), VarcharColumn("v", 1, 2)};
  auto ghost = BuildRecord(Le32(3), 2, {}, {{Text("gone")}}, 6);
  CheckJson(DecodeToJson(layout, ghost), R"({"record_type":"ghost_data","columns":{"id":3,"v":"gone"}})");

  auto versioned = BuildRecord(Le32(3), 2, {}, {{Text("kept")}});
  versioned[0] |= 0x40;
  for (int i = 0; i < 14; ++i) versioned.push_back(0xEE);
  CheckJson(DecodeToJson(layout, versioned), R"({"record_type":"primary","columns":{"id":3,"v":"kept"}})");
  // The tag bytes cannot be claimed by a variable column.
  auto overreach = BuildRecord(Le32(3), 2, {}, {{Text("kept")}});
  overreach[0] |= 0x40;
  for (int i = 0; i < 14; ++i) overreach.push_back(0xEE);
  overreach[overreach.size() - 14 - 4 - 2] = static_cast<uint8_t>(overreach.size() - 2);  // end offset into the tag
  DecodedRecord record;
  DecodeError error;
  CHECK_FALSE(DecodeRecord(layout, overreach, record, error));
}

TEST_CASE("sparse vector (vector 13)") {
  TableLayout layout;
  layout.columns.push_back(Column("ID", "int", 4, 4, 1));
  layout.columns[0].column_id = 1;
  const char* names[] = {"A", "B", "C", "D", "E"};
  for (int i = 0; i < 5; ++i) {
    ColumnLayout sparse = Column(names[i], "int", 4, 0, 0);
    sparse.is_sparse = true;
    sparse.column_id = i + 2;
    layout.columns.push_back(sparse);
  }
  auto bytes = BuildRecord(Le32(1), 1, {}, {{HexToBytes("05000200030006001000140003000000d2040000"), true}});
  CheckJson(DecodeToJson(layout, bytes),
            R"({"record_type":"primary","columns":{"ID":1,"A":null,"B":3,"C":null,"D":null,"E":1234}})");
}

TEST_CASE("row-compressed and page-compressed partitions") {
  TableLayout layout;
  layout.compression = Compression::kRow;
  ColumnLayout text = VarcharColumn("t", 1, 2);
  ColumnLayout fixed_text = Column("f", "char", 10, 8, 3);
  fixed_text.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  layout.columns = {Column("n", "int", 4, 4, 1), text, fixed_text, Column("b", "bit", 1, 18, 4)};
  // n = -1 (1 byte 0x7F), t = 'Hi' (2 bytes short), f = 'ab' padded, b = 1 (code 0xB)
  const auto bytes = HexToBytes(
      "0104"
      "32"
      "B3"
      "7F"
      "4869"
      "6162");
  CheckJson(DecodeToJson(layout, bytes),
            R"({"record_type":"primary","columns":{"n":-1,"t":"Hi","f":"ab        ","b":true}})");
  layout.compression = Compression::kPage;
  DecodedRecord record;
  DecodeError error;
  CHECK_FALSE(DecodeRecord(layout, bytes, record, error));
  CHECK(error.message.find("page-compressed record needs the page's compression information") != std::string::npos);
}

TEST_CASE("steady state reuses the output buffers") {
  TableLayout layout;
  layout.columns = {Column("id", "int", 4, 4, 1), VarcharColumn("v", 1, 2), Column("b", "bit", 1, 8, 3)};
  auto bytes = BuildRecord({1, 0, 0, 0, 1}, 3, {}, {{Text("abc")}});
  DecodedRecord record;
  DecodeError error;
  REQUIRE(DecodeRecord(layout, bytes, record, error));
  const FieldView* fields = record.fields.data();
  const uint8_t* scratch = record.scratch.data();
  for (int i = 0; i < 100; ++i) REQUIRE(DecodeRecord(layout, bytes, record, error));
  CHECK(record.fields.data() == fields);
  CHECK(record.scratch.data() == scratch);
}
