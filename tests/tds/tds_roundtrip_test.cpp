// The db-lib client against the TDS server: in-process (FixtureQueryHandler and a generated large
// result) and the tds-replay program (also read by tsql when installed).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sqltail/replay/fixture_query_handler.h"
#include "sqltail/tds/connection.h"
#include "sqltail/tds/server.h"

using namespace sqltail;

namespace {

const std::string kMini = std::string(SQLTAIL_TDS_TEST_DATA) + "/mini";

struct ReplayServer {
  explicit ReplayServer(tds::ServerOptions options = {})
      : handler(kMini), server(Configure(std::move(options)), handler) {
    server.Start();
  }
  tds::ServerOptions Configure(tds::ServerOptions o) {
    o.port = 0;
    o.database = handler.database();
    return o;
  }
  replay::FixtureQueryHandler handler;
  tds::Server server;
};

tds::ConnectOptions Options(uint16_t port) {
  tds::ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.user = "sqltail";
  o.password = "secret";
  o.database = "source_db";
  o.login_timeout_s = 5;
  o.query_timeout_s = 20;
  o.encryption = "off";
  return o;
}

// One fn_dblog row as the client saw it.
struct SeenRow {
  std::string lsn, operation, page;
  std::optional<int64_t> length, alloc_unit, slot;
  std::vector<uint8_t> record;
  bool page_null = false;
};

std::vector<SeenRow> ReadLog(tds::Connection& c, const std::string& sql) {
  std::vector<SeenRow> rows;
  auto err = c.Execute(sql, [&](const tds::Row& row) {
    SeenRow r;
    r.lsn = row.Text(row.ColumnIndex("Current LSN"));
    r.operation = row.Text(row.ColumnIndex("Operation"));
    r.page = row.Text(row.ColumnIndex("Page ID"));
    r.page_null = row.IsNull(row.ColumnIndex("Page ID"));
    r.length = row.Int(row.ColumnIndex("Log Record Length"));
    r.alloc_unit = row.Int(row.ColumnIndex("AllocUnitId"));
    r.slot = row.Int(row.ColumnIndex("Slot ID"));
    auto bytes = row.Bytes(row.ColumnIndex("Log Record"));
    r.record.assign(bytes.begin(), bytes.end());
    rows.push_back(std::move(r));
    return true;
  });
  REQUIRE_MESSAGE(!err, err->ToString());
  return rows;
}

const char* kAllColumns =
    "SELECT [Current LSN], [Operation], [Context], [Transaction ID], [Log Record Length], [AllocUnitId], "
    "[PartitionId], [Page ID], [Slot ID], [Log Record] FROM sys.fn_dblog(";

}  // namespace

TEST_CASE("login succeeds and a plain statement gets DONE") {
  ReplayServer replay;
  auto c = tds::Connection::Connect(Options(replay.server.port()));
  CHECK_FALSE(c.IsDead());
  CHECK_FALSE(c.Execute("set textsize 65536"));
  int rows = 0;
  CHECK_FALSE(c.Execute("SELECT DB_NAME()", [&](const tds::Row& row) {
    CHECK(row.Text(0) == "source_db");
    ++rows;
    return true;
  }));
  CHECK(rows == 1);
}

TEST_CASE("a wrong password fails with server error 18456 in one line naming host:port and user") {
  tds::ServerOptions options;
  options.user = "sqltail";
  options.password = "right";
  ReplayServer replay(options);
  auto o = Options(replay.server.port());
  o.password = "wrong";
  try {
    tds::Connection::Connect(o);
    FAIL("login should fail");
  } catch (const tds::TdsException& e) {
    CHECK(e.error().server_number == 18456);
    CHECK(e.error().server_severity == 14);
    const std::string expected =
        "tds: login to 127.0.0.1:" + std::to_string(replay.server.port()) +
        " as 'sqltail' (database source_db) failed: server error 18456: Login failed for user 'sqltail'.";
    CHECK(std::string(e.what()) == expected);
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
  o.password = "right";
  CHECK_NOTHROW(tds::Connection::Connect(o));
}

TEST_CASE("an unreachable server fails with a one-line error naming host:port") {
  // Bind and close a port so nothing listens there.
  uint16_t port = 0;
  {
    replay::FixtureQueryHandler handler(kMini);
    tds::Server probe(tds::ServerOptions{}, handler);
    probe.Start();
    port = probe.port();
  }
  auto o = Options(port);
  o.login_timeout_s = 2;
  try {
    tds::Connection::Connect(o);
    FAIL("connect should fail");
  } catch (const tds::TdsException& e) {
    const std::string what = e.what();
    MESSAGE(what);
    CHECK(what.find("tds: login to 127.0.0.1:" + std::to_string(port)) == 0);
    CHECK(what.find('\n') == std::string::npos);
    CHECK(e.error().dblib_code != 0);
  }
}

TEST_CASE("fn_dblog: whole log, ranges in every LSN form, NULLs and values") {
  ReplayServer replay;
  auto c = tds::Connection::Connect(Options(replay.server.port()));

  auto all = ReadLog(c, std::string(kAllColumns) + "NULL, NULL)");
  REQUIRE(all.size() == 5);
  CHECK(all[0].lsn == "00000025:00000010:0001");
  CHECK(all[0].operation == "LOP_BEGIN_XACT");
  CHECK(all[0].page_null);
  CHECK_FALSE(all[0].alloc_unit);
  CHECK_FALSE(all[0].slot);
  CHECK(all[0].length == 176);
  CHECK(all[0].record.size() == 176);
  CHECK(all[1].operation == "LOP_INSERT_ROWS");
  CHECK(all[1].alloc_unit == 72057594039697408LL);
  CHECK(all[1].slot == 0);
  CHECK(all[1].page == "0001:00000091");
  REQUIRE(all[1].record.size() == 124);
  CHECK(all[1].record[2] == 0x3E);   // fixed length 62 (vector 02)
  CHECK(all[1].record[22] == 0x02);  // LOP_INSERT_ROWS
  CHECK_FALSE(all[3].alloc_unit);    // key absent in the line -> NULL
  CHECK(all[4].slot == 7);

  // Inclusive bounds, hex argument form.
  auto mid = ReadLog(c, std::string(kAllColumns) + "N'0x00000025:00000010:0002', N'0x00000025:00000018:0001')");
  REQUIRE(mid.size() == 3);
  CHECK(mid[0].lsn == "00000025:00000010:0002");
  CHECK(mid[2].lsn == "00000025:00000018:0001");
  // Decimal colon form and numeric form; DEFAULT end.
  CHECK(ReadLog(c, std::string(kAllColumns) + "'37:16:3', DEFAULT)").size() == 3);
  CHECK(ReadLog(c, std::string(kAllColumns) + "'37000000002400001', NULL)").size() == 2);
  // Past the end, and an empty range.
  CHECK(ReadLog(c, std::string(kAllColumns) + "N'0x00000027:00000001:0001', NULL)").empty());
  CHECK(ReadLog(c, std::string(kAllColumns) + "N'0x00000025:00000011:0001', N'0x00000025:00000017:0001')").empty());
}

TEST_CASE("fn_dblog: TOP (n), column subsets and their types") {
  ReplayServer replay;
  auto c = tds::Connection::Connect(Options(replay.server.port()));
  std::vector<std::string> ops;
  auto err = c.Execute(
      "SELECT TOP (2) [Operation], [Log Record Length], [PartitionId] FROM sys.fn_dblog(N'0x00000025:00000010:0002', "
      "NULL)",
      [&](const tds::Row& row) {
        CHECK(row.ColumnCount() == 3);
        CHECK(row.ColumnName(0) == "Operation");
        CHECK(row.ColumnType(0) == 47);   // SYBCHAR: nvarchar arrives as UTF-8 text
        CHECK(row.ColumnType(1) == 52);   // SYBINT2: smallint
        CHECK(row.ColumnType(2) == 127);  // SYBINT8: bigint
        ops.emplace_back(row.Text(0));
        return true;
      });
  REQUIRE_MESSAGE(!err, err->ToString());
  CHECK(ops == std::vector<std::string>{"LOP_INSERT_ROWS", "LOP_ABORT_XACT"});
}

TEST_CASE("errors: 207 for an unknown column, 102 for what is not understood; the connection stays usable") {
  ReplayServer replay;
  auto c = tds::Connection::Connect(Options(replay.server.port()));
  auto err =
      c.Execute("SELECT [Current LSN], [Bogus] FROM sys.fn_dblog(NULL, NULL)", [](const tds::Row&) { return true; });
  REQUIRE(err);
  CHECK(err->server_number == 207);
  CHECK(err->server_text == "Invalid column name 'Bogus'.");
  CHECK(err->ToString().find("query on 127.0.0.1:") != std::string::npos);

  err = c.Execute("SELECT name FROM sys.tables WHERE 1 = (", [](const tds::Row&) { return true; });
  REQUIRE(err);
  CHECK(err->server_number == 102);

  CHECK(ReadLog(c, std::string(kAllColumns) + "NULL, NULL)").size() == 5);
}

TEST_CASE("the catalog query returns the documented columns from the newest catalog version") {
  ReplayServer replay;
  auto c = tds::Connection::Connect(Options(replay.server.port()));
  const std::vector<std::string> expected = {"schema_name",
                                             "table_name",
                                             "object_id",
                                             "index_id",
                                             "partition_id",
                                             "hobt_id",
                                             "allocation_unit_id",
                                             "data_compression_desc",
                                             "partition_column_id",
                                             "column_name",
                                             "column_id",
                                             "type_name",
                                             "max_length",
                                             "precision",
                                             "scale",
                                             "collation_name",
                                             "is_nullable",
                                             "leaf_offset",
                                             "leaf_null_bit",
                                             "leaf_bit_position",
                                             "is_dropped",
                                             "is_uniqueifier",
                                             "is_sparse",
                                             "key_ordinal",
                                             "has_default",
                                             "default_value",
                                             "is_identity",
                                             "is_computed",
                                             "default_definition"};
  int rows = 0;
  auto err = c.Execute("SELECT ... FROM sys.system_internals_partition_columns AS pc ...", [&](const tds::Row& row) {
    REQUIRE(row.ColumnCount() == static_cast<int>(expected.size()));
    for (size_t i = 0; i < expected.size(); ++i) CHECK(row.ColumnName(static_cast<int>(i)) == expected[i]);
    CHECK(row.Text(0) == "dbo");
    CHECK(row.Text(1) == "tEmployee");
    CHECK(row.Int(2) == 901578250);
    CHECK(row.Int(6) == 72057594039697408LL);
    CHECK(row.Text(7) == "NONE");
    CHECK(row.Int(8) == rows + 1);
    if (rows == 0) {
      CHECK(row.Text(9) == "id");
      CHECK(row.Int(10) == 1);
      CHECK(row.Text(11) == "int");
      CHECK(row.Int(12) == 4);
      CHECK(row.Int(13) == 10);
      CHECK(row.IsNull(15));
      CHECK(row.Int(16) == 0);
      CHECK(row.Int(17) == 4);
      CHECK(row.Int(23) == 1);
      CHECK(row.IsNull(25));
      CHECK(row.Int(26) == 1);  // is_identity
      CHECK(row.Int(27) == 0);
      CHECK(row.IsNull(28));
    } else if (rows == 1) {
      CHECK(row.Text(15) == "SQL_Latin1_General_CP1_CI_AS");
      CHECK(row.Int(16) == 1);
      CHECK(row.Int(24) == 1);
      CHECK(row.Text(25) == "('DEPT01')");
      CHECK(row.Int(26) == 0);
      CHECK(row.Text(28) == "('DEPT01')");
    } else {
      CHECK(row.IsNull(9));  // dropped column: no name, no column_id
      CHECK(row.IsNull(10));
      CHECK(row.Int(17) == -1);
      CHECK(row.Int(20) == 1);
      // No sys.columns row: NULL, even where the fixture says otherwise.
      CHECK(row.IsNull(26));
      CHECK(row.IsNull(27));
      CHECK(row.IsNull(28));
    }
    ++rows;
    return true;
  });
  REQUIRE_MESSAGE(!err, err->ToString());
  CHECK(rows == 3);
}

namespace {

// Generates `rows` rows of fn_dblog-like shape, NULLs every third row.
class GeneratedHandler final : public tds::BatchHandler {
 public:
  explicit GeneratedHandler(int rows) : rows_(rows) {}
  void HandleBatch(std::string_view, tds::ResultWriter& out) override {
    static const std::vector<tds::ColumnSpec> columns = {
        {"id", tds::SqlType::kBigInt, 0, true},      {"lsn", tds::SqlType::kNVarChar, 23, true},
        {"small", tds::SqlType::kSmallInt, 0, true}, {"tiny", tds::SqlType::kTinyInt, 0, true},
        {"flag", tds::SqlType::kBit, 0, true},       {"record", tds::SqlType::kVarBinary, 8000, true}};
    std::vector<uint8_t> record(300);
    char lsn[32];
    out.BeginResult(columns);
    for (int i = 0; i < rows_ && !out.Cancelled(); ++i) {
      out.BeginRow();
      out.AddInt(int64_t{1} << 40 | i);
      std::snprintf(lsn, sizeof lsn, "%08x:%08x:%04x", 37, i, i & 0xFFFF);
      out.AddText(lsn);
      if (i % 3 == 0)
        out.AddNull();
      else
        out.AddInt(static_cast<int16_t>(i));
      out.AddInt(i & 0xFF);
      out.AddInt(i & 1);
      const size_t n = 100 + static_cast<size_t>(i % 200);
      for (size_t k = 0; k < n; ++k) record[k] = static_cast<uint8_t>(i + k);
      if (i % 3 == 1)
        out.AddNull();
      else
        out.AddBytes({record.data(), n});
      out.EndRow();
    }
    out.EndResult();
  }

 private:
  int rows_;
};

}  // namespace

TEST_CASE("a large result streams across many packets intact; cancelling mid-stream keeps the connection usable") {
  constexpr int kRows = 100000;
  GeneratedHandler handler(kRows);
  tds::ServerOptions options;
  tds::Server server(options, handler);
  server.Start();
  for (int packet_size : {0, 32767}) {
    auto o = Options(server.port());
    o.packet_size = packet_size;
    auto c = tds::Connection::Connect(o);
    int i = 0;
    bool ok = true;
    char lsn[32];
    const auto start = std::chrono::steady_clock::now();
    auto err = c.Execute("select", [&](const tds::Row& row) {
      std::snprintf(lsn, sizeof lsn, "%08x:%08x:%04x", 37, i, i & 0xFFFF);
      ok = ok && row.Int(0) == (int64_t{1} << 40 | i) && row.Text(1) == lsn;
      ok = ok && (i % 3 == 0 ? row.IsNull(2) : row.Int(2) == static_cast<int16_t>(i));
      ok = ok && row.Int(3) == (i & 0xFF) && row.Int(4) == (i & 1);
      if (i % 3 == 1) {
        ok = ok && row.IsNull(5);
      } else {
        auto bytes = row.Bytes(5);
        ok = ok && bytes.size() == 100 + static_cast<size_t>(i % 200) && bytes[7] == static_cast<uint8_t>(i + 7);
      }
      ++i;
      return ok;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("packet size " << packet_size << ": " << i << " rows in " << seconds
                           << " s = " << static_cast<int>(i / seconds) << " rows/s");
    REQUIRE_MESSAGE(!err, err->ToString());
    CHECK(ok);
    CHECK(i == kRows);

    // Stop after 1000 rows: db-lib sends ATTENTION; the server stops and answers DONE_ATTN.
    int seen = 0;
    err = c.Execute("select", [&](const tds::Row&) { return ++seen < 1000; });
    CHECK_FALSE(err);
    CHECK(seen == 1000);
    seen = 0;
    err = c.Execute("select", [&](const tds::Row&) { return ++seen > 0; });
    CHECK_FALSE(err);
    CHECK(seen == kRows);
  }
}

namespace {

// Runs tds-replay on a free port; stops it with SIGTERM.
struct ReplayProcess {
  explicit ReplayProcess(const std::vector<std::string>& extra = {}) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> args = {SQLTAIL_TDS_REPLAY_BIN, "--fixture", kMini, "--port", "0"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_file = fdopen(out[0], "r");
    char line[512] = {};
    REQUIRE(fgets(line, sizeof line, stdout_file) != nullptr);
    first_line = line;
    const auto colon = first_line.rfind(':');
    REQUIRE(colon != std::string::npos);
    port = static_cast<uint16_t>(std::stoi(first_line.substr(colon + 1)));
  }
  int Stop() {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
  ~ReplayProcess() {
    if (pid > 0) Stop();
    if (stdout_file != nullptr) fclose(stdout_file);
  }
  pid_t pid = -1;
  FILE* stdout_file = nullptr;
  std::string first_line;
  uint16_t port = 0;
};

std::string Run(const std::string& command) {
  std::string output;
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  pclose(p);
  return output;
}

}  // namespace

TEST_CASE("tds-replay: prints its serving line, records batches, exits cleanly on SIGTERM") {
  const auto record =
      std::filesystem::temp_directory_path() / ("tds-replay-batches-" + std::to_string(getpid()) + ".jsonl");
  ReplayProcess replay({"--user", "sqltail", "--password", "secret", "--record-batches", record.string()});
  CHECK(replay.first_line == "tds-replay: serving " + kMini + " on 127.0.0.1:" + std::to_string(replay.port) + "\n");
  {
    auto c = tds::Connection::Connect(Options(replay.port));
    CHECK(ReadLog(c, std::string(kAllColumns) + "NULL, NULL)").size() == 5);
  }
  const int status = replay.Stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::ifstream in(record);
  std::stringstream recorded;
  recorded << in.rdbuf();
  CHECK(recorded.str().find("\"sql\":\"SELECT [Current LSN]") != std::string::npos);
  std::filesystem::remove(record);
}

TEST_CASE("tsql reads the fn_dblog result set from tds-replay") {
  if (system("command -v tsql >/dev/null 2>&1") != 0) {
    MESSAGE("tsql (freetds-bin) is not installed; skipped");
    return;
  }
  ReplayProcess replay;
  // TDSVER pins TDS 7.4 whatever freetds.conf says; -o q drops tsql's banner.
  const std::string command =
      "printf 'SELECT [Current LSN], [Operation], [Slot ID], [Log Record] FROM sys.fn_dblog(NULL, "
      "NULL)\\ngo\\nexit\\n' | "
      "TDSVER=7.4 tsql -H 127.0.0.1 -p " +
      std::to_string(replay.port) + " -U sqltail -P x -D source_db 2>&1";
  const std::string output = Run(command);
  MESSAGE(output);
  CHECK(output.find("00000025:00000010:0002") != std::string::npos);
  CHECK(output.find("LOP_INSERT_ROWS") != std::string::npos);
  CHECK(output.find("LOP_ABORT_XACT") != std::string::npos);
  CHECK(output.find("(5 rows affected)") != std::string::npos);
}
