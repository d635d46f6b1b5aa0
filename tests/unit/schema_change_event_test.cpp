// Schema change events (DebeziumEncoder::EncodeSchemaChange): the JsonConverter schema has the
// fields, names and versions of Debezium's SchemaFactory in its order; the payload conforms to that
// schema; the column entries carry the values worked out by hand below from the catalog.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "sqltail/engine/debezium_encoder.h"

using namespace sqltail;
using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

ColumnLayout Column(const char* name, int column_id, SqlType type, int max_length, int precision, int scale,
                    bool nullable) {
  ColumnLayout c;
  c.name = name;
  c.column_id = column_id;
  c.type = type;
  c.type_name = std::string(logreader::SqlTypeName(type));
  c.max_length = max_length;
  c.precision = precision;
  c.scale = scale;
  c.is_nullable = nullable;
  return c;
}

// What each column must say: JDBC type code, length (-1: null), scale (-1: null).
struct Expected {
  const char* name;
  int jdbc_type;
  int length;
  int scale;
  bool optional;
};

// java.sql.Types: BIT -7, TINYINT -6, SMALLINT 5, INTEGER 4, BIGINT -5, REAL 7, DOUBLE 8, NUMERIC 2,
// DECIMAL 3, DATE 91, TIME 92, TIMESTAMP 93, CHAR 1, VARCHAR 12, LONGVARCHAR -1, NCHAR -15,
// NVARCHAR -9, LONGNVARCHAR -16, BINARY -2, VARBINARY -3, LONGVARBINARY -4, SQLXML 2009;
// microsoft.sql.Types DATETIMEOFFSET -155, SQL_VARIANT -156.
const Expected kExpected[] = {
    {"id", 4, 10, 0, false},      {"code", 1, 6, -1, false},   {"amount", 3, 12, 2, true},  {"price", 3, 19, 4, true},
    {"flag", -7, 1, 0, true},     {"tiny", -6, 3, 0, true},    {"small", 5, 5, 0, true},    {"big", -5, 19, 0, false},
    {"ratio", 8, 53, -1, true},   {"approx", 7, 24, -1, true}, {"num", 2, 5, 1, true},      {"day", 91, 10, -1, true},
    {"at", 92, 16, 7, true},      {"stamp", 93, 27, 7, true},  {"old", 93, 23, 3, true},    {"zone", -155, 34, 7, true},
    {"ref", 1, 36, -1, true},     {"note", 12, 60, -1, true},  {"body", -1, -1, -1, true},  {"title", -9, 40, -1, true},
    {"ntitle", -15, 8, -1, true}, {"blob", -16, -1, -1, true}, {"raw", -2, 4, -1, true},    {"tag", -3, 16, -1, true},
    {"image", -4, -1, -1, true},  {"doc", 2009, -1, -1, true}, {"var", -156, -1, -1, true}, {"rv", -2, 8, -1, false},
};

logreader::CapturedTable MakeTable() {
  logreader::CapturedTable t;
  t.layout.schema = "dbo";
  t.layout.table = "it\"s mixed";
  auto& c = t.layout.columns;
  // Physical order differs from column order (the key first): positions follow column_id.
  c.push_back(Column("big", 8, SqlType::kBigInt, 8, 19, 0, false));
  c.push_back(Column("id", 1, SqlType::kInt, 4, 10, 0, false));
  c.back().is_identity = true;
  c.back().is_computed = false;
  c.push_back(Column("code", 2, SqlType::kChar, 6, 0, 0, false));
  c.push_back(Column("amount", 3, SqlType::kDecimal, 9, 12, 2, true));
  c.push_back(Column("price", 4, SqlType::kMoney, 8, 19, 4, true));
  c.back().is_identity = false;
  c.back().is_computed = true;
  c.back().default_definition = "((0))";
  c.push_back(Column("flag", 5, SqlType::kBit, 1, 1, 0, true));
  c.push_back(Column("tiny", 6, SqlType::kTinyInt, 1, 3, 0, true));
  c.push_back(Column("small", 7, SqlType::kSmallInt, 2, 5, 0, true));
  c.push_back(Column("ratio", 9, SqlType::kFloat, 8, 53, 0, true));
  c.push_back(Column("approx", 10, SqlType::kReal, 4, 24, 0, true));
  c.push_back(Column("num", 11, SqlType::kNumeric, 5, 5, 1, true));
  c.push_back(Column("day", 12, SqlType::kDate, 3, 10, 0, true));
  c.push_back(Column("at", 13, SqlType::kTime, 5, 16, 7, true));
  c.push_back(Column("stamp", 14, SqlType::kDateTime2, 8, 27, 7, true));
  c.push_back(Column("old", 15, SqlType::kDateTime, 8, 23, 3, true));
  c.push_back(Column("zone", 16, SqlType::kDateTimeOffset, 10, 34, 7, true));
  c.push_back(Column("ref", 17, SqlType::kUniqueIdentifier, 16, 0, 0, true));
  c.push_back(Column("note", 18, SqlType::kVarChar, 60, 0, 0, true));
  c.push_back(Column("body", 19, SqlType::kVarChar, -1, 0, 0, true));
  c.push_back(Column("title", 20, SqlType::kNVarChar, 80, 0, 0, true));
  c.push_back(Column("ntitle", 21, SqlType::kNChar, 16, 0, 0, true));
  c.push_back(Column("blob", 22, SqlType::kNVarChar, -1, 0, 0, true));
  c.push_back(Column("raw", 23, SqlType::kBinary, 4, 0, 0, true));
  c.push_back(Column("tag", 24, SqlType::kVarBinary, 16, 0, 0, true));
  c.push_back(Column("image", 25, SqlType::kVarBinary, -1, 0, 0, true));
  c.push_back(Column("doc", 26, SqlType::kXml, -1, 0, 0, true));
  c.push_back(Column("var", 27, SqlType::kSqlVariant, 8016, 0, 0, true));
  c.push_back(Column("rv", 28, SqlType::kTimestamp, 8, 0, 0, false));
  // A dropped column and the uniquifier are not part of the table's structure.
  ColumnLayout dropped = Column("gone", 29, SqlType::kInt, 4, 10, 0, true);
  dropped.is_dropped = true;
  c.push_back(dropped);
  ColumnLayout uniquifier = Column("", 0, SqlType::kInt, 4, 10, 0, true);
  uniquifier.name.reset();
  uniquifier.is_uniqueifier = true;
  c.push_back(uniquifier);
  t.key_columns = {2, 1};  // (code, id): key order, not column order
  return t;
}

std::vector<std::string> FieldNames(simdjson::dom::element schema) {
  std::vector<std::string> names;
  simdjson::dom::array fields = schema["fields"].get_array().value();
  for (auto f : fields) names.emplace_back(std::string(f["field"].get_string().value()));
  return names;
}

simdjson::dom::element Field(simdjson::dom::element schema, std::string_view name) {
  simdjson::dom::array fields = schema["fields"].get_array().value();
  for (auto f : fields)
    if (f["field"].get_string().value() == name) return f;
  FAIL("no field " << name);
  return schema;
}

// JsonConverter's rule: a struct payload has exactly the schema's fields, a non-optional field is
// never null, and every value has the schema's type.
void CheckConforms(simdjson::dom::element schema, simdjson::dom::element value, const std::string& where) {
  const bool optional = schema["optional"].get_bool().value();
  if (value.is_null()) {
    CHECK_MESSAGE(optional, where << " is null but not optional");
    return;
  }
  const std::string_view type = schema["type"].get_string().value();
  if (type == "struct") {
    REQUIRE_MESSAGE(value.is_object(), where << " is not an object");
    size_t fields = 0;
    simdjson::dom::array schema_fields = schema["fields"].get_array().value();
    for (auto f : schema_fields) {
      const std::string name(f["field"].get_string().value());
      auto member = value[name];
      REQUIRE_MESSAGE(member.error() == simdjson::SUCCESS, where << "." << name << " is missing");
      CheckConforms(f, member.value(), where + "." + name);
      ++fields;
    }
    CHECK_MESSAGE(value.get_object().value().size() == fields, where << " has fields the schema does not");
  } else if (type == "array") {
    REQUIRE_MESSAGE(value.is_array(), where << " is not an array");
    size_t i = 0;
    simdjson::dom::array items = value.get_array().value();
    for (auto item : items) CheckConforms(schema["items"].value(), item, where + "[" + std::to_string(i++) + "]");
  } else if (type == "string") {
    CHECK_MESSAGE(value.is_string(), where << " is not a string");
  } else if (type == "boolean") {
    CHECK_MESSAGE(value.is_bool(), where << " is not a boolean");
  } else if (type == "int32" || type == "int64") {
    CHECK_MESSAGE(value.is_int64(), where << " is not an integer");
  } else {
    FAIL(where << ": unexpected schema type " << type);
  }
}

engine::EncoderOptions Options(bool schemas) {
  engine::EncoderOptions o;
  o.topic_prefix = "shop";
  o.database = "source_db";
  o.schemas_enable = schemas;
  return o;
}

}  // namespace

TEST_CASE("schema change: Debezium's SchemaChangeKey/Value layout, and a payload that conforms to it") {
  engine::DebeziumEncoder encoder(Options(true));
  const auto table = MakeTable();
  engine::EncodedEvent event;
  const int64_t ts_ns = 1717171717123456789;
  encoder.EncodeSchemaChange(table, "CREATE", logreader::Lsn::Parse("0000002c:0000d8f0:0001"), "true", ts_ns, event);
  REQUIRE(event.topic != nullptr);
  CHECK(*event.topic == "shop");
  CHECK(encoder.SchemaChangeTopic() == "shop");
  CHECK(event.txn_header.empty());

  simdjson::dom::parser kp;
  auto key = kp.parse(event.key).value();
  CHECK(key["schema"]["name"].get_string().value() == "io.debezium.connector.sqlserver.SchemaChangeKey");
  CHECK(FieldNames(key["schema"].value()) == std::vector<std::string>{"databaseName"});
  CHECK(key["payload"]["databaseName"].get_string().value() == "source_db");

  simdjson::dom::parser vp;
  auto value = vp.parse(event.value).value();
  auto schema = value["schema"].value();
  CHECK(schema["name"].get_string().value() == "io.debezium.connector.sqlserver.SchemaChangeValue");
  CHECK(schema["version"].get_int64().value() == 1);
  CHECK(FieldNames(schema) ==
        std::vector<std::string>{"source", "ts_ms", "databaseName", "schemaName", "ddl", "tableChanges"});
  auto change = Field(schema, "tableChanges")["items"].value();
  CHECK(change["name"].get_string().value() == "io.debezium.connector.schema.Change");
  CHECK(FieldNames(change) == std::vector<std::string>{"type", "id", "table"});
  auto table_schema = Field(change, "table");
  CHECK(table_schema["name"].get_string().value() == "io.debezium.connector.schema.Table");
  CHECK(table_schema["optional"].get_bool().value());
  CHECK(FieldNames(table_schema) ==
        std::vector<std::string>{"defaultCharsetName", "primaryKeyColumnNames", "columns", "comment"});
  auto column = Field(table_schema, "columns")["items"].value();
  CHECK(column["name"].get_string().value() == "io.debezium.connector.schema.Column");
  CHECK(FieldNames(column) == std::vector<std::string>{"name", "jdbcType", "nativeType", "typeName", "typeExpression",
                                                       "charsetName", "length", "scale", "position", "optional",
                                                       "autoIncremented", "generated", "comment",
                                                       "defaultValueExpression", "enumValues"});
  // The same source block as the data events of the table.
  CHECK(Field(schema, "source")["name"].get_string().value() == "io.debezium.connector.sqlserver.Source");

  CheckConforms(schema, value["payload"].value(), "payload");

  auto payload = value["payload"].value();
  CHECK(payload["ts_ms"].get_int64().value() == 1717171717123);
  CHECK(payload["databaseName"].get_string().value() == "source_db");
  CHECK(payload["schemaName"].get_string().value() == "dbo");
  CHECK(payload["ddl"].is_null());
  auto source = payload["source"].value();
  CHECK(source["connector"].get_string().value() == "sqlserver");
  CHECK(source["name"].get_string().value() == "shop");
  CHECK(source["snapshot"].get_string().value() == "true");
  CHECK(source["db"].get_string().value() == "source_db");
  CHECK(source["table"].get_string().value() == "it\"s mixed");
  CHECK(source["ts_ns"].get_int64().value() == ts_ns);
  CHECK(source["change_lsn"].is_null());
  CHECK(source["commit_lsn"].get_string().value() == "0000002c:0000d8f0:0001");
  CHECK(source["event_serial_no"].is_null());

  auto changes = payload["tableChanges"].get_array().value();
  REQUIRE(changes.size() == 1);
  auto c0 = changes.at(0).value();
  CHECK(c0["type"].get_string().value() == "CREATE");
  // TableId.toDoubleQuotedString: each part in double quotes, a quote inside doubled.
  CHECK(c0["id"].get_string().value() == "\"source_db\".\"dbo\".\"it\"\"s mixed\"");
  auto t = c0["table"].value();
  std::vector<std::string> keys;
  simdjson::dom::array key_names = t["primaryKeyColumnNames"].get_array().value();
  for (auto k : key_names) keys.emplace_back(std::string(k.get_string().value()));
  CHECK(keys == std::vector<std::string>{"code", "id"});
  auto columns = t["columns"].get_array().value();
  REQUIRE(columns.size() == std::size(kExpected));
  size_t position = 0;
  for (auto col : columns) {
    const Expected& want = kExpected[position++];
    INFO("column " << want.name);
    CHECK(col["name"].get_string().value() == want.name);
    CHECK(col["position"].get_int64().value() == static_cast<int64_t>(position));
    CHECK(col["jdbcType"].get_int64().value() == want.jdbc_type);
    if (want.length < 0) {
      CHECK(col["length"].is_null());
    } else {
      CHECK(col["length"].get_int64().value() == want.length);
    }
    if (want.scale < 0) {
      CHECK(col["scale"].is_null());
    } else {
      CHECK(col["scale"].get_int64().value() == want.scale);
    }
    CHECK(col["optional"].get_bool().value() == want.optional);
    CHECK(col["typeName"].get_string().value() == col["typeExpression"].get_string().value());
    const std::string_view name = want.name;
    if (name == "id") {  // IDENTITY
      CHECK(col["typeName"].get_string().value() == "int identity");
      CHECK(col["autoIncremented"].get_bool().value());
      CHECK_FALSE(col["generated"].get_bool().value());
      CHECK(col["defaultValueExpression"].is_null());
    } else if (name == "price") {  // computed, with a default constraint
      CHECK(col["typeName"].get_string().value() == "money");
      CHECK_FALSE(col["autoIncremented"].get_bool().value());
      CHECK(col["generated"].get_bool().value());
      CHECK(col["defaultValueExpression"].get_string().value() == "((0))");
    } else {  // the catalog does not say: unknown, not a guessed false
      CHECK(col["autoIncremented"].is_null());
      CHECK(col["generated"].is_null());
      CHECK(col["defaultValueExpression"].is_null());
    }
  }
  CHECK(std::string(columns.at(13).value()["typeName"].get_string().value()) == "datetime2");
}

TEST_CASE("schema change: no LSN known, and schemas.enable=false gives the payload alone") {
  engine::DebeziumEncoder encoder(Options(false));
  auto table = MakeTable();
  table.key_columns.clear();
  engine::EncodedEvent event;
  encoder.EncodeSchemaChange(table, "CREATE", std::nullopt, "true", 1000000, event);
  simdjson::dom::parser kp;
  auto key = kp.parse(event.key).value();
  CHECK(key["databaseName"].get_string().value() == "source_db");
  CHECK(key["schema"].error() == simdjson::NO_SUCH_FIELD);
  simdjson::dom::parser vp;
  auto payload = vp.parse(event.value).value();
  CHECK(payload["schema"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(payload["source"]["commit_lsn"].is_null());
  CHECK(payload["ts_ms"].get_int64().value() == 1);
  // A table without a primary key: an empty list, as Debezium writes it.
  CHECK(payload["tableChanges"].at(0)["table"]["primaryKeyColumnNames"].get_array().value().size() == 0);
  // Encoding again into the same event replaces, not appends.
  encoder.EncodeSchemaChange(table, "CREATE", std::nullopt, "true", 1000000, event);
  simdjson::dom::parser again;
  CHECK(again.parse(event.value).error() == simdjson::SUCCESS);
}
