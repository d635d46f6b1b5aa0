// Golden tests of the SQL Server target's T-SQL: the exact batches it sends for upserts (MERGE),
// deletes, partial updates, truncates, progress, identity insert, and its quoting of identifiers and
// literals. A recording session stands in for the connection and answers the catalog query.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "apply/sqlserver_target.h"

using namespace sqltail::engine;

namespace {

class RecordingSession final : public SqlServerSession {
 public:
  std::vector<std::string> batches;
  // Rows answered to the sys.columns query of a table: "[dbo].[t]" -> (name, is_identity).
  std::map<std::string, std::vector<std::pair<std::string, bool>>> catalog;
  std::vector<std::vector<std::optional<std::string>>> progress_rows;
  std::string fail_with;  // the next batch fails with this error

  bool Execute(std::string_view sql, const RowHandler& on_row, std::string& error) override {
    batches.emplace_back(sql);
    if (!fail_with.empty()) {
      error = fail_with;
      fail_with.clear();
      return false;
    }
    if (sql.find("sys.columns") != std::string_view::npos) {
      for (const auto& [table, columns] : catalog) {
        if (sql.find("N'" + table + "'") == std::string_view::npos) continue;
        for (const auto& [name, identity] : columns) {
          std::optional<std::string_view> cells[2] = {name, identity ? "1" : "0"};
          on_row(cells);
        }
      }
    } else if (sql.find("FROM [dbo].[sqltail_progress]") != std::string_view::npos && on_row) {
      for (const auto& row : progress_rows) {
        std::vector<std::optional<std::string_view>> cells;
        for (const auto& c : row) cells.push_back(c ? std::optional<std::string_view>(*c) : std::nullopt);
        on_row(cells);
      }
    }
    return true;
  }
  std::string Describe() const override { return "SQL Server test"; }
};

TargetColumn Column(std::string name, ValueKind kind, std::string connect_type, bool key = false) {
  TargetColumn c;
  c.name = name;
  c.field = name;
  c.kind = kind;
  c.connect_type = std::move(connect_type);
  c.key = key;
  return c;
}

FieldValue Int(int64_t v) {
  FieldValue f;
  f.type = FieldValue::Type::kInteger;
  f.integer = v;
  return f;
}
FieldValue Text(std::string_view v) {
  FieldValue f;
  f.type = FieldValue::Type::kText;
  f.text = v;
  return f;
}
FieldValue Real(double v) {
  FieldValue f;
  f.type = FieldValue::Type::kReal;
  f.real = v;
  return f;
}
FieldValue Bool(bool v) {
  FieldValue f;
  f.type = FieldValue::Type::kBool;
  f.boolean = v;
  return f;
}
FieldValue Null() { return FieldValue{}; }

const RowOrigin kOrigin{"p.db.dbo.t", 0, 7};

struct Fixture {
  RecordingSession* session;
  SqlServerTarget target;
  Fixture() : Fixture(std::make_unique<RecordingSession>()) {}
  explicit Fixture(std::unique_ptr<RecordingSession> s) : session(s.get()), target(std::move(s), "dbo") {}
};

}  // namespace

TEST_CASE("quoting: identifiers in brackets, Unicode strings as N'...', NUL spliced, bytes as 0x") {
  CHECK(SqlServerQuoteIdentifier("a]b c") == "[a]]b c]");
  std::string out;
  AppendSqlServerString(out, "it's \xC3\xA9t\xC3\xA9");
  CHECK(out == "N'it''s \xC3\xA9t\xC3\xA9'");
  out.clear();
  AppendSqlServerString(out, std::string_view("a\0b", 3));
  CHECK(out == "N'a' + NCHAR(0) + N'b'");
  CHECK(SqlServerType(Column("x", ValueKind::kText, "string", true)) == "nvarchar(450)");
  CHECK(SqlServerType(Column("x", ValueKind::kText, "string")) == "nvarchar(max)");
  CHECK(SqlServerType(Column("x", ValueKind::kInteger, "int16")) == "smallint");
  CHECK(SqlServerType(Column("x", ValueKind::kReal, "double")) == "float");
  TargetColumn d = Column("x", ValueKind::kDecimal, "bytes");
  d.precision = 10, d.scale = 2;
  CHECK(SqlServerType(d) == "decimal(10,2)");
}

TEST_CASE("open creates the progress table; progress is read back") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Open(error));
  REQUIRE(f.session->batches.size() == 1);
  CHECK(f.session->batches[0] ==
        "SET XACT_ABORT ON;\nSET NOCOUNT ON;\nIF OBJECT_ID(N'[dbo].[sqltail_progress]', N'U') IS NULL CREATE TABLE "
        "[dbo].[sqltail_progress] ([topic] nvarchar(255) NOT NULL, [partition] int NOT NULL, [next_offset] bigint "
        "NOT NULL, PRIMARY KEY ([topic], [partition]));");
  f.session->progress_rows = {{"t1", "0", "42"}, {"t1", "3", "9000000000"}};
  ProgressMap progress;
  REQUIRE(f.target.LoadProgress(progress, error));
  CHECK(f.session->batches.back() == "SELECT [topic], [partition], [next_offset] FROM [dbo].[sqltail_progress];");
  CHECK(progress.size() == 2);
  CHECK(progress[{"t1", 0}] == 42);
  CHECK(progress[{"t1", 3}] == 9000000000);
  f.session->progress_rows = {{"t1", "zero", "1"}};
  progress.clear();
  CHECK_FALSE(f.target.LoadProgress(progress, error));
}

TEST_CASE("a new table: CREATE TABLE, one MERGE for consecutive upserts, one DELETE for deletes, progress, COMMIT") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  std::vector<TargetColumn> columns = {
      Column("id", ValueKind::kInteger, "int32", true), Column("name", ValueKind::kText, "string"),
      Column("score", ValueKind::kReal, "double"), Column("blob", ValueKind::kBytes, "bytes"),
      Column("ok", ValueKind::kBoolean, "boolean")};
  TargetTable* t = f.target.DefineTable("t", columns, error);
  REQUIRE(t != nullptr);
  CHECK(f.session->batches.back() ==
        "SELECT c.[name], c.[is_identity] FROM sys.columns AS c WHERE c.[object_id] = OBJECT_ID(N'[dbo].[t]') ORDER BY "
        "c.[column_id];");
  REQUIRE(f.target.Upsert(*t, {Int(1), Text("O'Brien"), Null(), Text("\x01\xAB"), Bool(true)}, kOrigin, error));
  REQUIRE(f.target.Upsert(*t, {Int(2), Null(), Real(0.5), Text(""), Bool(false)}, kOrigin, error));
  REQUIRE(f.target.Delete(*t, {Int(3), Null(), Null(), Null(), Null()}, kOrigin, error));
  REQUIRE(f.target.Delete(*t, {Int(4), Null(), Null(), Null(), Null()}, kOrigin, error));
  REQUIRE(f.target.SaveProgress("p.db.dbo.t", 0, -1, 8, error));
  REQUIRE(f.target.Commit(error));
  REQUIRE(f.session->batches.size() == 2);
  CHECK(f.session->batches[1] ==
        "BEGIN TRANSACTION;\n"
        "CREATE TABLE [dbo].[t] ([id] int NOT NULL, [name] nvarchar(max) NULL, [score] float NULL, [blob] "
        "varbinary(max) NULL, [ok] bit NULL, PRIMARY KEY ([id]));\n"
        "MERGE [dbo].[t] WITH (UPDLOCK, HOLDLOCK) AS t\n"
        "USING (VALUES\n"
        "(1, N'O''Brien', CAST(NULL AS float), 0x01AB, 1),\n"
        "(2, NULL, 5e-01, 0x, 0)\n"
        ") AS s ([id], [name], [score], [blob], [ok])\n"
        "ON t.[id] = s.[id]\n"
        "WHEN MATCHED THEN UPDATE SET t.[name] = s.[name], t.[score] = s.[score], t.[blob] = s.[blob], t.[ok] = "
        "s.[ok]\n"
        "WHEN NOT MATCHED THEN INSERT ([id], [name], [score], [blob], [ok]) VALUES (s.[id], s.[name], s.[score], "
        "s.[blob], s.[ok]);\n"
        "DELETE t FROM [dbo].[t] AS t INNER JOIN (VALUES\n"
        "(3),\n"
        "(4)\n"
        ") AS s ([id]) ON t.[id] = s.[id];\n"
        "IF EXISTS (SELECT 1 FROM [dbo].[sqltail_progress] WITH (UPDLOCK, HOLDLOCK) WHERE [topic] = N'p.db.dbo.t' AND "
        "[partition] = 0) THROW 51000, N'topic p.db.dbo.t, partition 0: the stored progress is no longer absent: "
        "another applier wrote it meanwhile (sqltail: progress moved)', 1;\n"
        "INSERT INTO [dbo].[sqltail_progress] ([topic], [partition], [next_offset]) VALUES (N'p.db.dbo.t', 0, 8);\n"
        "COMMIT TRANSACTION;\n");
  CHECK_FALSE(f.target.TakeProgressMoved());
}

TEST_CASE("progress is a compare-and-set: UPDATE only from the offset loaded, THROW when another applier moved it") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  REQUIRE(f.target.SaveProgress("p.db.dbo.t", 2, 8, 11, error));
  REQUIRE(f.target.Commit(error));
  CHECK(f.session->batches.back() ==
        "BEGIN TRANSACTION;\n"
        "UPDATE [dbo].[sqltail_progress] SET [next_offset] = 11 WHERE [topic] = N'p.db.dbo.t' AND [partition] = 2 AND "
        "[next_offset] = 8;\n"
        "IF @@ROWCOUNT = 0 THROW 51000, N'topic p.db.dbo.t, partition 2: the stored progress is no longer 8: another "
        "applier wrote it meanwhile (sqltail: progress moved)', 1;\n"
        "COMMIT TRANSACTION;\n");
  CHECK_FALSE(f.target.TakeProgressMoved());

  // The server throws: Commit fails, and the target says the progress moved (not a bad event).
  REQUIRE(f.target.Begin(error));
  REQUIRE(f.target.SaveProgress("p.db.dbo.t", 2, 11, 12, error));
  f.session->fail_with = "Msg 51000: topic p.db.dbo.t, partition 2: ... (sqltail: progress moved)";
  CHECK_FALSE(f.target.Commit(error));
  CHECK(f.target.TakeProgressMoved());
  CHECK_FALSE(f.target.TakeProgressMoved());
  f.target.Rollback();

  // Any other failure of the batch is not a moved progress.
  REQUIRE(f.target.Begin(error));
  REQUIRE(f.target.SaveProgress("p.db.dbo.t", 2, 11, 12, error));
  f.session->fail_with = "Msg 1205: deadlock victim";
  CHECK_FALSE(f.target.Commit(error));
  CHECK_FALSE(f.target.TakeProgressMoved());
}

TEST_CASE("a key twice in a row of upserts starts a new MERGE (a MERGE may touch a row only once)") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  TargetTable* t = f.target.DefineTable(
      "k", {Column("id", ValueKind::kText, "string", true), Column("v", ValueKind::kInteger, "int64")}, error);
  REQUIRE(t != nullptr);
  REQUIRE(f.target.Upsert(*t, {Text("a"), Int(1)}, kOrigin, error));
  REQUIRE(f.target.Upsert(*t, {Text("b"), Int(2)}, kOrigin, error));
  REQUIRE(f.target.Upsert(*t, {Text("a"), Int(3)}, kOrigin, error));
  REQUIRE(f.target.Commit(error));
  const std::string& batch = f.session->batches.back();
  size_t merges = 0;
  for (size_t at = batch.find("MERGE "); at != std::string::npos; at = batch.find("MERGE ", at + 1)) ++merges;
  CHECK(merges == 2);
  CHECK(batch.find("(N'a', 1),\n(N'b', 2)\n) AS s") != std::string::npos);
  CHECK(batch.find("USING (VALUES\n(N'a', 3)\n) AS s") != std::string::npos);
  // The later upsert of the key comes after the earlier one.
  CHECK(batch.find("(N'a', 1)") < batch.find("(N'a', 3)"));
}

TEST_CASE("statements hold at most kRowsPerStatement rows") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  TargetTable* t = f.target.DefineTable("n", {Column("id", ValueKind::kInteger, "int64", true)}, error);
  REQUIRE(t != nullptr);
  for (int i = 0; i < 1001; ++i) REQUIRE(f.target.Upsert(*t, {Int(i)}, kOrigin, error));
  REQUIRE(f.target.Commit(error));
  const std::string& batch = f.session->batches.back();
  size_t merges = 0;
  for (size_t at = batch.find("MERGE "); at != std::string::npos; at = batch.find("MERGE ", at + 1)) ++merges;
  CHECK(merges == 2);
  // Only the key: no WHEN MATCHED clause.
  CHECK(batch.find("WHEN MATCHED") == std::string::npos);
  CHECK(batch.find("USING (VALUES\n(1000)\n) AS s ([id])") != std::string::npos);
}

TEST_CASE("an existing table with an identity column: IDENTITY_INSERT around the MERGE, identity never updated") {
  auto session = std::make_unique<RecordingSession>();
  session->catalog["[dbo].[orders]"] = {{"id", true}, {"seq", true}, {"note", false}, {"extra", false}};
  Fixture f(std::move(session));
  std::string error;
  REQUIRE(f.target.Begin(error));
  // seq: a non-key identity column (the key is id + note here, say).
  TargetTable* t =
      f.target.DefineTable("orders",
                           {Column("ID", ValueKind::kInteger, "int32", true),
                            Column("seq", ValueKind::kInteger, "int64"), Column("note", ValueKind::kText, "string")},
                           error);
  REQUIRE(t != nullptr);
  REQUIRE(f.target.Upsert(*t, {Int(5), Int(50), Text("x")}, kOrigin, error));
  REQUIRE(f.target.Commit(error));
  CHECK(f.session->batches.back() ==
        "BEGIN TRANSACTION;\n"
        "SET IDENTITY_INSERT [dbo].[orders] ON;\n"
        "MERGE [dbo].[orders] WITH (UPDLOCK, HOLDLOCK) AS t\n"
        "USING (VALUES\n"
        "(5, 50, N'x')\n"
        ") AS s ([ID], [seq], [note])\n"
        "ON t.[ID] = s.[ID]\n"
        "WHEN MATCHED THEN UPDATE SET t.[note] = s.[note]\n"
        "WHEN NOT MATCHED THEN INSERT ([ID], [seq], [note]) VALUES (s.[ID], s.[seq], s.[note]);\n"
        "SET IDENTITY_INSERT [dbo].[orders] OFF;\n"
        "COMMIT TRANSACTION;\n");
}

TEST_CASE("an existing table without a column of the event is a schema mismatch") {
  auto session = std::make_unique<RecordingSession>();
  session->catalog["[dbo].[t]"] = {{"id", false}};
  Fixture f(std::move(session));
  std::string error;
  REQUIRE(f.target.Begin(error));
  CHECK(f.target.DefineTable(
            "t", {Column("id", ValueKind::kInteger, "int32", true), Column("gone", ValueKind::kText, "string")},
            error) == nullptr);
  CHECK(error.find("has no column gone") != std::string::npos);
}

TEST_CASE("partial update, keyless table, truncate, decimals") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  TargetColumn amount = Column("amount", ValueKind::kDecimal, "bytes");
  amount.precision = 10, amount.scale = 2;
  TargetTable* t = f.target.DefineTable(
      "p", {Column("id", ValueKind::kInteger, "int32", true), Column("a", ValueKind::kText, "string"), amount}, error);
  REQUIRE(t != nullptr);
  REQUIRE(f.target.UpdateKnownColumns(*t, {Int(9), Text("new"), Null()}, {false, false, true}, kOrigin, error));
  REQUIRE(f.target.Upsert(*t, {Int(10), Null(), Text("-12.50")}, kOrigin, error));
  TargetTable* h = f.target.DefineTable(
      "heap", {Column("a", ValueKind::kInteger, "int32"), Column("b", ValueKind::kText, "string")}, error);
  REQUIRE(h != nullptr);
  REQUIRE(f.target.Upsert(*h, {Int(1), Text("x")}, kOrigin, error));
  REQUIRE(f.target.Upsert(*h, {Int(1), Text("x")}, kOrigin, error));
  REQUIRE(f.target.Delete(*h, {Int(1), Null()}, kOrigin, error));
  REQUIRE(f.target.Truncate("p", kOrigin, error));
  REQUIRE(f.target.Commit(error));
  CHECK(f.session->batches.back() ==
        "BEGIN TRANSACTION;\n"
        "CREATE TABLE [dbo].[p] ([id] int NOT NULL, [a] nvarchar(max) NULL, [amount] decimal(10,2) NULL, PRIMARY KEY "
        "([id]));\n"
        "UPDATE [dbo].[p] SET [a] = N'new' WHERE [id] = 9;\n"
        "IF @@ROWCOUNT = 0 THROW 50000, N'sqltail: topic p.db.dbo.t, partition 0, offset 7: table p, key (id)=(9): an "
        "update with unavailable columns for a row the target does not have', 1;\n"
        "MERGE [dbo].[p] WITH (UPDLOCK, HOLDLOCK) AS t\n"
        "USING (VALUES\n"
        "(10, CAST(NULL AS nvarchar(max)), -12.50)\n"
        ") AS s ([id], [a], [amount])\n"
        "ON t.[id] = s.[id]\n"
        "WHEN MATCHED THEN UPDATE SET t.[a] = s.[a], t.[amount] = s.[amount]\n"
        "WHEN NOT MATCHED THEN INSERT ([id], [a], [amount]) VALUES (s.[id], s.[a], s.[amount]);\n"
        "CREATE TABLE [dbo].[heap] ([a] int NULL, [b] nvarchar(max) NULL);\n"
        "INSERT INTO [dbo].[heap] ([a], [b]) VALUES\n"
        "(1, N'x'),\n"
        "(1, N'x');\n"
        "DELETE TOP (1) FROM [dbo].[heap] WHERE [a] = 1 AND [b] IS NULL;\n"
        "IF OBJECT_ID(N'[dbo].[p]', N'U') IS NOT NULL DELETE FROM [dbo].[p];\n"
        "COMMIT TRANSACTION;\n");
}

TEST_CASE("a failed batch names the event; rollback is sent only when the server saw the transaction") {
  Fixture f;
  std::string error;
  REQUIRE(f.target.Begin(error));
  TargetTable* t = f.target.DefineTable("t", {Column("id", ValueKind::kInteger, "int32", true)}, error);
  REQUIRE(t != nullptr);
  REQUIRE(f.target.Upsert(*t, {Int(1)}, kOrigin, error));
  f.session->fail_with = "sqlserver: server error 515: Cannot insert the value NULL";
  CHECK_FALSE(f.target.Commit(error));
  CHECK(
      error ==
      "topic p.db.dbo.t, partition 0, offset 7: table t, key (id)=(1): sqlserver: server error 515: Cannot insert the "
      "value NULL");
  const size_t sent = f.session->batches.size();
  f.target.Rollback();
  REQUIRE(f.session->batches.size() == sent + 1);
  CHECK(f.session->batches.back() == "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;");
  // Rollback forgets the tables (one created in the rolled-back transaction is gone).
  CHECK(f.target.FindTable("t") == nullptr);
  REQUIRE(f.target.Begin(error));
  f.target.Rollback();
  CHECK(f.session->batches.size() == sent + 1);
}
