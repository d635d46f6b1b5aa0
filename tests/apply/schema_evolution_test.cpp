// Schema evolution (apply.schema_evolution = basic), without a broker: reading schema change events
// (columns typed as the capture's change events type them, bad events refused with a reason), the
// DDL each dialect writes (golden), and EvolveTable on a real SQLite database and on the SQL Server
// target's batches (a recording session answers its catalog query).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

#include "apply/postgres_target.h"
#include "apply/schema_change.h"
#include "apply/sqlite_target.h"
#include "apply/sqlserver_target.h"

using namespace sqltail::engine;

namespace {

// A schema change value as the capture writes it (payload only; `columns` is the JSON array's text).
std::string Event(const std::string& type, const std::string& id, const std::string& keys, const std::string& columns) {
  return R"({"source":{"version":"sqltail-1","connector":"sqlserver","db":"shop","schema":"dbo","table":"orders",)"
         R"("commit_lsn":"0000002a:000001f0:0003"},"ts_ms":1,"databaseName":"shop","schemaName":"dbo","ddl":null,)"
         R"("tableChanges":[{"type":")" +
         type + R"(","id":)" + id + R"(,"table":{"defaultCharsetName":null,"primaryKeyColumnNames":[)" + keys +
         R"(],"columns":)" + columns + R"(,"comment":null}}]})";
}

std::string Col(const std::string& name, const std::string& type, const std::string& length, const std::string& scale,
                bool optional = true) {
  return R"({"name":")" + name + R"(","jdbcType":4,"nativeType":null,"typeName":")" + type + R"(","typeExpression":")" +
         type + R"(","charsetName":null,"length":)" + length + R"(,"scale":)" + scale + R"(,"position":1,"optional":)" +
         (optional ? "true" : "false") + "}";
}

const std::string kOrderColumns = "[" + Col("id", "int identity", "10", "0", false) + "," +
                                  Col("amount", "decimal", "12", "2") + "," + Col("note", "nvarchar", "50", "null") +
                                  "," + Col("placed", "datetime2", "27", "7") + "," +
                                  Col("photo", "varbinary", "null", "null") + "," + Col("ok", "bit", "1", "null") + "]";

TargetColumn Column(std::string name, ValueKind kind, std::string connect_type, bool key = false) {
  TargetColumn c;
  c.name = c.field = std::move(name);
  c.kind = kind;
  c.connect_type = std::move(connect_type);
  c.key = key;
  return c;
}

}  // namespace

TEST_CASE("a table change id splits into db, schema and table, quotes undone") {
  std::vector<std::string> parts;
  REQUIRE(SplitTableId(R"("shop"."dbo"."orders")", parts));
  CHECK(parts == std::vector<std::string>{"shop", "dbo", "orders"});
  REQUIRE(SplitTableId(R"("sh.op"."dbo"."a""b")", parts));
  CHECK(parts == std::vector<std::string>{"sh.op", "dbo", "a\"b"});
  REQUIRE(SplitTableId("shop.dbo.orders", parts));
  CHECK(parts.size() == 3);
  CHECK_FALSE(SplitTableId(R"("shop"."dbo"."orders)", parts));  // not closed
  CHECK_FALSE(SplitTableId(R"("shop"x."dbo")", parts));
}

TEST_CASE("an ALTER event's columns are typed as the change events type them") {
  simdjson::dom::parser parser;
  std::vector<EventTableChange> changes;
  std::string error;
  const std::string value = Event("ALTER", R"("\"shop\".\"dbo\".\"orders\"")", R"("id")", kOrderColumns);
  REQUIRE_MESSAGE(ParseSchemaChangeEvent(parser, value, EncoderOptions{}, changes, error), error);
  REQUIRE(changes.size() == 1);
  const EventTableChange& c = changes[0];
  CHECK(c.type == "ALTER");
  CHECK(c.db == "shop");
  CHECK(c.schema == "dbo");
  CHECK(c.table == "orders");
  CHECK(c.column_error.empty());
  REQUIRE(c.columns.size() == 6);
  CHECK(c.columns[0].name == "id");
  CHECK(c.columns[0].key);
  CHECK(c.columns[0].connect.type == "int32");  // "int identity" is an int
  CHECK_FALSE(c.columns[1].key);
  CHECK(c.columns[1].connect.type == "bytes");
  CHECK(c.columns[1].connect.logical_name == "org.apache.kafka.connect.data.Decimal");
  CHECK(c.columns[1].connect.precision == 12);
  CHECK(c.columns[1].connect.scale == 2);
  CHECK(c.columns[2].connect.type == "string");
  CHECK(c.columns[3].connect.type == "int64");
  CHECK(c.columns[3].connect.logical_name == "io.debezium.time.NanoTimestamp");
  CHECK(c.columns[4].connect.type == "bytes");
  CHECK(c.columns[5].connect.type == "boolean");

  // The capture's other modes (apply.*_mode) type them as its events do.
  EncoderOptions modes;
  modes.decimal_handling_mode = DecimalHandlingMode::kString;
  modes.binary_handling_mode = BinaryHandlingMode::kHex;
  modes.time_precision_mode = TimePrecisionMode::kConnect;
  REQUIRE(ParseSchemaChangeEvent(parser, value, modes, changes, error));
  CHECK(changes[0].columns[1].connect.type == "string");
  CHECK(changes[0].columns[3].connect.logical_name == "org.apache.kafka.connect.data.Timestamp");
  CHECK(changes[0].columns[4].connect.type == "string");

  // Enveloped ({"schema", "payload"}) reads the same.
  REQUIRE(ParseSchemaChangeEvent(parser, R"({"schema":{"type":"struct"},"payload":)" + value + "}", EncoderOptions{},
                                 changes, error));
  CHECK(changes[0].columns.size() == 6);
}

TEST_CASE("bad schema change events are refused with a reason") {
  simdjson::dom::parser parser;
  std::vector<EventTableChange> changes;
  std::string error;
  const std::string id = R"("\"shop\".\"dbo\".\"orders\"")";
  CHECK_FALSE(ParseSchemaChangeEvent(parser, "{not json", EncoderOptions{}, changes, error));
  CHECK(error.find("not JSON") != std::string::npos);
  CHECK_FALSE(ParseSchemaChangeEvent(parser, R"({"op":"c"})", EncoderOptions{}, changes, error));
  CHECK(error == "not a schema change event (no payload.tableChanges)");
  CHECK_FALSE(ParseSchemaChangeEvent(parser, Event("RENAME", id, "", "[]"), EncoderOptions{}, changes, error));
  CHECK(error.find("'RENAME'") != std::string::npos);
  CHECK_FALSE(
      ParseSchemaChangeEvent(parser, Event("ALTER", R"("orders")", "", "[]"), EncoderOptions{}, changes, error));
  CHECK(error.find("is not \"db\".\"schema\".\"table\"") != std::string::npos);
  // An unknown type name is the table's error (reported only when the table is applied).
  REQUIRE(ParseSchemaChangeEvent(parser, Event("ALTER", id, "", "[" + Col("p", "dbo.Phone", "20", "null") + "]"),
                                 EncoderOptions{}, changes, error));
  CHECK(changes[0].column_error == "column p: unknown type 'dbo.Phone'");
  // DROP carries no structure to read.
  REQUIRE(ParseSchemaChangeEvent(parser, Event("DROP", id, "", "[]"), EncoderOptions{}, changes, error));
  CHECK(changes[0].type == "DROP");
  CHECK(changes[0].column_error.empty());
}

TEST_CASE("the DDL of each dialect, golden") {
  const TargetColumn note = Column("no\"te", ValueKind::kText, "string");
  TargetColumn amount = Column("amount", ValueKind::kDecimal, "bytes");
  amount.precision = 12, amount.scale = 2;
  const TargetColumn qty = Column("qty", ValueKind::kInteger, "int16");
  const TargetColumn key_text = Column("code", ValueKind::kText, "string", true);

  CHECK(SqliteAddColumnSql("orders", note) == R"(ALTER TABLE "orders" ADD COLUMN "no""te" TEXT)");
  CHECK(SqliteAddColumnSql("orders", qty) == R"(ALTER TABLE "orders" ADD COLUMN "qty" INTEGER)");
  CHECK(SqliteCreateTableSql("orders", {key_text, qty}) ==
        R"(CREATE TABLE IF NOT EXISTS "orders" ("code" TEXT, "qty" INTEGER, PRIMARY KEY ("code")))");

  CHECK(PgAddColumnSql(R"("public"."orders")", amount) ==
        R"(ALTER TABLE "public"."orders" ADD COLUMN IF NOT EXISTS "amount" numeric(12,2))");
  CHECK(PgAddColumnSql(R"("public"."orders")", note) ==
        R"(ALTER TABLE "public"."orders" ADD COLUMN IF NOT EXISTS "no""te" text)");
  CHECK(PgCreateTableSql(R"("s"."orders")", {key_text, qty}) ==
        R"(CREATE TABLE IF NOT EXISTS "s"."orders" ("code" text, "qty" smallint, PRIMARY KEY ("code")))");

  CHECK(PgWidenColumnSql(R"("public"."orders")", amount) ==
        R"(ALTER TABLE "public"."orders" ALTER COLUMN "amount" TYPE numeric(12,2))");
}

TEST_CASE("PostgreSQL: which stored types are widened to the type the events now have") {
  struct Case {
    const char* stored;
    const char* wanted;
    bool widens;
  };
  const Case cases[] = {
      {"smallint", "integer", true},
      {"integer", "bigint", true},
      {"smallint", "bigint", true},
      {"bigint", "integer", false},
      {"integer", "smallint", false},
      {"integer", "integer", false},
      {"integer", "numeric", true},
      {"integer", "numeric(10,0)", true},
      {"integer", "numeric(12,3)", false},
      {"bigint", "numeric(21,2)", true},
      {"bigint", "numeric(20,2)", false},
      {"integer", "double precision", true},
      {"bigint", "double precision", false},
      {"smallint", "real", true},
      {"integer", "real", false},
      {"real", "double precision", true},
      {"double precision", "real", false},
      {"numeric(10,2)", "numeric(12,2)", true},
      {"numeric(10,2)", "numeric(12,4)", true},
      {"numeric(10,2)", "numeric(12,5)", false},
      {"numeric(10,2)", "numeric(10,1)", false},
      {"numeric(10,2)", "numeric", true},
      {"numeric", "numeric(38,2)", false},
      {"numeric(10,2)", "bigint", false},
      {"numeric(10,2)", "double precision", false},
      {"text", "bigint", false},
      {"integer", "text", false},
      {"character varying(20)", "text", false},
      {"numeric(x,2)", "numeric", false},
      {"numeric(3,4)", "numeric", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.stored);
    CAPTURE(c.wanted);
    CHECK(PgTypeWidens(c.stored, c.wanted) == c.widens);
  }
}

TEST_CASE("the DDL of each dialect, golden (SQL Server)") {
  TargetColumn amount = Column("amount", ValueKind::kDecimal, "bytes");
  amount.precision = 12, amount.scale = 2;
  const TargetColumn qty = Column("qty", ValueKind::kInteger, "int16");
  const TargetColumn key_text = Column("code", ValueKind::kText, "string", true);
  CHECK(SqlServerAddColumnSql("[dbo].[orders]", amount) ==
        "IF COL_LENGTH(N'[dbo].[orders]', N'amount') IS NULL ALTER TABLE [dbo].[orders] ADD [amount] decimal(12,2) "
        "NULL;\n");
  // A column named in the new key is still added as a plain nullable column (the key is not changed).
  CHECK(SqlServerAddColumnSql("[dbo].[orders]", key_text) ==
        "IF COL_LENGTH(N'[dbo].[orders]', N'code') IS NULL ALTER TABLE [dbo].[orders] ADD [code] nvarchar(max) "
        "NULL;\n");
  CHECK(SqlServerCreateTableSql("[dbo].[orders]", {key_text, qty}) ==
        "CREATE TABLE [dbo].[orders] ([code] nvarchar(450) NOT NULL, [qty] smallint NULL, PRIMARY KEY ([code]));\n");
}

TEST_CASE("SQLite: EvolveTable creates, adds what is missing, and is a no-op the second time") {
  SqliteTarget target;
  std::string error;
  REQUIRE_MESSAGE(target.Open(":memory:", error), error);
  const RowOrigin origin{"p", 0, 7};
  EvolveResult result;
  REQUIRE(target.Begin(error));
  REQUIRE_MESSAGE(target.EvolveTable("t", {Column("id", ValueKind::kInteger, "int32", true)}, origin, result, error),
                  error);
  CHECK(result.created);
  // The stored id keeps its type; Note (another case of "note") counts as there.
  REQUIRE(sqlite3_exec(target.handle(), "ALTER TABLE t ADD COLUMN note TEXT", nullptr, nullptr, nullptr) == SQLITE_OK);
  const std::vector<TargetColumn> wanted = {Column("id", ValueKind::kText, "string", true),
                                            Column("Note", ValueKind::kText, "string"),
                                            Column("qty", ValueKind::kInteger, "int64")};
  REQUIRE_MESSAGE(target.EvolveTable("t", wanted, origin, result, error), error);
  CHECK_FALSE(result.created);
  CHECK(result.added == std::vector<std::string>{"qty"});
  REQUIRE_MESSAGE(target.EvolveTable("t", wanted, origin, result, error), error);
  CHECK(result.added.empty());
  REQUIRE(target.Commit(error));
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(target.handle(), "SELECT name || ':' || type FROM pragma_table_info('t')", -1, &stmt,
                             nullptr) == SQLITE_OK);
  std::vector<std::string> columns;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    columns.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  CHECK(columns == std::vector<std::string>{"id:INTEGER", "note:TEXT", "qty:INTEGER"});
  // A table defined before the change is forgotten: the next event defines it again.
  REQUIRE(target.DefineTable("t", wanted, error) != nullptr);
  REQUIRE(target.EvolveTable("t", wanted, origin, result, error));
  CHECK(target.FindTable("t") == nullptr);
}

namespace {

class Recorder final : public SqlServerSession {
 public:
  std::vector<std::string> batches;
  std::vector<std::string> stored;  // the columns the catalog query answers for [dbo].[orders]
  bool Execute(std::string_view sql, const RowHandler& on_row, std::string& error) override {
    (void)error;
    batches.emplace_back(sql);
    if (sql.find("sys.columns") != std::string_view::npos && sql.find("N'[dbo].[orders]'") != std::string_view::npos) {
      for (const auto& name : stored) {
        std::optional<std::string_view> cells[2] = {name, "0"};
        on_row(cells);
      }
    }
    return true;
  }
  std::string Describe() const override { return "recorder"; }
};

}  // namespace

TEST_CASE("SQL Server: the columns an existing table lacks are added in a batch of their own, once") {
  auto session = std::make_unique<Recorder>();
  Recorder& recorder = *session;
  recorder.stored = {"id", "NOTE"};
  SqlServerTarget target(std::move(session), "dbo");
  std::string error;
  EvolveResult result;
  const RowOrigin origin{"p", 0, 3};
  const std::vector<TargetColumn> wanted = {Column("id", ValueKind::kInteger, "int32", true),
                                            Column("note", ValueKind::kText, "string"),
                                            Column("qty", ValueKind::kInteger, "int64")};
  REQUIRE(target.Begin(error));
  REQUIRE_MESSAGE(target.EvolveTable("orders", wanted, origin, result, error), error);
  CHECK(result.added == std::vector<std::string>{"qty"});
  REQUIRE(recorder.batches.size() == 2);
  CHECK(recorder.batches[0].find("sys.columns") != std::string::npos);
  CHECK(recorder.batches[1] ==
        "BEGIN TRANSACTION;\nIF COL_LENGTH(N'[dbo].[orders]', N'qty') IS NULL ALTER TABLE [dbo].[orders] ADD [qty] "
        "bigint NULL;\n");
  // Again: known (the target remembers what it added), nothing sent; the table defines without a query.
  REQUIRE(target.EvolveTable("orders", wanted, origin, result, error));
  CHECK(result.added.empty());
  REQUIRE_MESSAGE(target.DefineTable("orders", wanted, error) != nullptr, error);
  CHECK(recorder.batches.size() == 2);
  // A table the target lacks is created with the rows' batch, not sent on its own.
  REQUIRE(target.EvolveTable("fresh", wanted, origin, result, error));
  CHECK(result.created);
  CHECK(recorder.batches.size() == 3);  // the catalog query only
  REQUIRE(target.Commit(error));
  CHECK(recorder.batches.back().find("CREATE TABLE [dbo].[fresh] ([id] int NOT NULL, [note] nvarchar(max) NULL, [qty] "
                                     "bigint NULL, PRIMARY KEY ([id]));\n") != std::string::npos);
}
