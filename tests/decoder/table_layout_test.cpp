#include "sqltail/logreader/table_layout.h"

#include <doctest/doctest.h>

using namespace sqltail::logreader;

TEST_CASE("layout JSON: defaults, unknown keys ignored") {
  std::string error;
  auto layout = ParseTableLayout(
      R"({"schema":"dbo","table":"t","future_key":[1,2],"columns":[
           {"name":"id","type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1,"extra":{"x":1}},
           {"name":null,"type":"int","max_length":4,"leaf_offset":-1,"leaf_null_bit":2,"is_uniqueifier":true}]})",
      error);
  INFO(error);
  REQUIRE(layout);
  CHECK(layout->compression == Compression::kNone);
  REQUIRE(layout->columns.size() == 2);
  const ColumnLayout& id = layout->columns[0];
  CHECK(id.type == SqlType::kInt);
  CHECK(id.is_nullable);
  CHECK_FALSE(id.has_default);
  CHECK_FALSE(id.collation_name);
  CHECK(id.IsRendered());
  CHECK_FALSE(layout->columns[1].IsRendered());
}

TEST_CASE("layout JSON: is_identity, is_computed and default_definition are unknown unless given") {
  std::string error;
  auto layout = ParseTableLayout(
      R"json({"columns":[
           {"name":"a","type":"int","max_length":4,"leaf_offset":4,"leaf_null_bit":1},
           {"name":"b","type":"int","max_length":4,"leaf_offset":8,"leaf_null_bit":2,
            "is_identity":true,"is_computed":0,"default_definition":"((0))"},
           {"name":"c","type":"int","max_length":4,"leaf_offset":12,"leaf_null_bit":3,
            "is_identity":null,"is_computed":null,"default_definition":null}]})json",
      error);
  INFO(error);
  REQUIRE(layout);
  const auto& c = layout->columns;
  CHECK_FALSE(c[0].is_identity);
  CHECK_FALSE(c[0].is_computed);
  CHECK_FALSE(c[0].default_definition);
  CHECK(c[1].is_identity == true);
  CHECK(c[1].is_computed == false);
  CHECK(c[1].default_definition == "((0))");
  CHECK_FALSE(c[2].is_identity);
  CHECK_FALSE(c[2].is_computed);
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"a","type":"int","max_length":4,"leaf_offset":4,
                                   "leaf_null_bit":1,"is_identity":"yes"}]})",
                               error));
  CHECK(error.find("is_identity") != std::string::npos);
  CHECK(error.find("\"a\"") != std::string::npos);
}

TEST_CASE("layout JSON: errors name the key and column") {
  std::string error;
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"a","type":"int","max_length":4,"leaf_null_bit":1}]})", error));
  CHECK(error.find("leaf_offset") != std::string::npos);
  CHECK(error.find("\"a\"") != std::string::npos);
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"a","type":"int","max_length":"4","leaf_offset":4,
                                   "leaf_null_bit":1}]})",
                               error));
  CHECK(error.find("max_length") != std::string::npos);
  CHECK_FALSE(ParseTableLayout(R"({"compression":"zip","columns":[]})", error));
  CHECK(error.find("compression") != std::string::npos);
  CHECK_FALSE(ParseTableLayout(R"({"schema":"dbo"})", error));
  CHECK(error.find("columns") != std::string::npos);
  CHECK_FALSE(ParseTableLayout("{not json", error));
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"b","type":"bit","max_length":1,"leaf_offset":4,
                                   "leaf_null_bit":1,"leaf_bit_position":9}]})",
                               error));
  CHECK(error.find("leaf_bit_position") != std::string::npos);
}

TEST_CASE("layout JSON: precision bounds per type (float carries 53 mantissa bits)") {
  std::string error;
  auto layout = ParseTableLayout(
      R"({"columns":[{"name":"f","type":"float","max_length":8,"leaf_offset":4,"leaf_null_bit":1,"precision":53},
                     {"name":"r","type":"real","max_length":4,"leaf_offset":12,"leaf_null_bit":2,"precision":24},
                     {"name":"d","type":"decimal","max_length":17,"leaf_offset":16,"leaf_null_bit":3,
                      "precision":38,"scale":38}]})",
      error);
  INFO(error);
  REQUIRE(layout);
  CHECK(layout->columns[0].precision == 53);
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"f","type":"float","max_length":8,"leaf_offset":4,
                                   "leaf_null_bit":1,"precision":54}]})",
                               error));
  CHECK(error.find("precision") != std::string::npos);
  CHECK_FALSE(ParseTableLayout(R"({"columns":[{"name":"d","type":"decimal","max_length":17,"leaf_offset":4,
                                   "leaf_null_bit":1,"precision":39}]})",
                               error));
  CHECK(error.find("precision") != std::string::npos);
}

TEST_CASE("sys.types names map both ways") {
  CHECK(SqlTypeFromName("datetimeoffset") == SqlType::kDateTimeOffset);
  CHECK(SqlTypeFromName("rowversion") == SqlType::kTimestamp);
  CHECK(SqlTypeFromName("NVARCHAR") == SqlType::kNVarChar);
  CHECK(SqlTypeFromName("sysname") == SqlType::kNVarChar);
  CHECK(SqlTypeFromName("my_alias_type") == SqlType::kUnknown);
  CHECK(SqlTypeName(SqlType::kSqlVariant) == "sql_variant");
  CHECK(SqlTypeName(SqlType::kTimestamp) == "timestamp");
  CHECK(SqlTypeName(SqlType::kDateTime) == "datetime");
}
