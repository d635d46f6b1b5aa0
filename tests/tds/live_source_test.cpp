// The live log source against the in-process TDS server serving a generated fixture: reconnecting
// after dropped connections and a server restart, the log bounds of sys.dm_db_log_stats, and log
// retention (reading log backups with fn_dump_dblog, then the active log; a gap is an error naming
// the missing range). In every case the events must equal those of the fixture read directly.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/logreader/live_source.h"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sqltail/fixtures/add_column_workload.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/log_reader.h"
#include "sqltail/replay/fixture_query_handler.h"
#include "sqltail/replay/fn_dblog_query.h"
#include "sqltail/tds/server.h"

using namespace sqltail;
using logreader::Lsn;
namespace fs = std::filesystem;

namespace {

// The server logs every injected drop as an error; the checks below say what went wrong.
[[maybe_unused]] const bool quiet_server = [] {
  spdlog::set_level(spdlog::level::critical);
  return true;
}();

// A generated fixture in a scratch directory, removed at the end.
struct Fixture {
  explicit Fixture(uint64_t rows) {
    dir = fs::temp_directory_path() /
          ("sqltail-live-source-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fixtures::InsertsWorkloadOptions o;
    o.rows = rows;
    o.seed = 11;
    o.rows_per_transaction = 3;
    o.updates = rows / 4;
    o.deletes = rows / 10;
    fixtures::WriteInsertsFixture(o, dir);
    std::ifstream in(dir / "log.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto at = line.find("\"Current LSN\":\"");
      REQUIRE(at != std::string::npos);
      lsns.push_back(*Lsn::Parse(line.substr(at + 15, 22)));
      begins.push_back(line.find("\"LOP_BEGIN_XACT\"") != std::string::npos);
    }
    REQUIRE(lsns.size() > 100);
  }
  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  void WriteBackups(const std::string& json) const { std::ofstream(dir / "log_backups.json") << json; }
  // The index of the first transaction begin at or after row i: a start where no transaction is cut.
  size_t BeginAtOrAfter(size_t i) const {
    while (i < begins.size() && !begins[i]) ++i;
    REQUIRE(i < begins.size());
    return i;
  }
  fs::path dir;
  std::vector<Lsn> lsns;
  std::vector<bool> begins;
  static inline int counter = 0;
};

struct Replay {
  Replay(const fs::path& dir, replay::FixtureOptions options, uint16_t port = 0)
      : handler(dir.string(), std::move(options)), server(Configure(port), handler) {
    server.Start();
  }
  tds::ServerOptions Configure(uint16_t port) {
    tds::ServerOptions o;
    o.port = port;
    o.database = "source_db";
    return o;
  }
  replay::FixtureQueryHandler handler;
  tds::Server server;
};

tds::ConnectOptions Connect(uint16_t port) {
  tds::ConnectOptions o;
  o.port = port;
  o.user = "sqltail";
  o.password = "replay";
  o.database = "source_db";
  o.login_timeout_s = 5;
  o.query_timeout_s = 20;
  o.encryption = "off";
  return o;
}

logreader::LiveSourceOptions Fast() {
  logreader::LiveSourceOptions o;
  o.reconnect_max_s = 10;
  o.reconnect_initial_ms = 20;
  o.reconnect_backoff_max_ms = 200;
  o.log_stats_interval_ms = 100;
  return o;
}

struct Run {
  std::string events;     // the event lines, in order
  uint64_t new_rows = 0;  // rows the reader took as new (each log row at most once)
  bool ok = false;
  std::string error;
};

// Reads `source` from `start` to its end in batches of `batch`; `between` runs after each poll.
Run ReadAll(logreader::LogSource& source, Lsn start, size_t batch, const std::function<void(int)>& between = {}) {
  Run run;
  logreader::Catalog catalog;
  REQUIRE_MESSAGE(source.ReadCatalog(catalog, run.error), run.error);
  logreader::EventLineWriter writer;
  logreader::LogReader reader(source, catalog, [&](const logreader::CommittedTransaction& txn, std::string& error) {
    for (const auto& change : txn.changes)
      if (!writer.Append(txn, change, run.events, error)) return false;
    return true;
  });
  reader.Resume(start, Lsn());
  size_t rows = 0;
  int polls = 0;
  do {
    if (!reader.Poll(batch, rows, run.error)) return run;
    run.new_rows += rows;
    if (between) between(++polls);
  } while (rows > 0);
  run.ok = true;
  return run;
}

Run ReadFixture(const Fixture& f, Lsn start) {
  std::string error;
  auto source = logreader::OpenFixtureSource(f.dir.string(), error);
  REQUIRE_MESSAGE(source, error);
  return ReadAll(*source, start, 100000);
}

size_t LinesOf(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("fn_dump_dblog queries name the backup as tds-replay parses it") {
  logreader::LogBackup backup;
  backup.first_lsn = Lsn(0x21, 0x10, 1);
  backup.last_lsn = Lsn(0x22, 0x10, 1);
  backup.position = 3;
  backup.files = {"/backups/it's a.trn", "/backups/b.trn"};
  auto parsed = replay::ParseFnDblogQuery(logreader::FnDumpDblogQuery(Lsn(0x21, 0x20, 2), 77, backup));
  REQUIRE(std::holds_alternative<replay::FnDblogQuery>(parsed));
  const auto& q = std::get<replay::FnDblogQuery>(parsed);
  CHECK(q.from_backup);
  CHECK(q.top == 77u);
  CHECK(q.start == Lsn(0x21, 0x20, 2));
  CHECK(!q.end);
  CHECK(q.device_type == "DISK");
  CHECK(q.backup_position == 3);
  CHECK(q.backup_files == backup.files);
  // fn_dump_dblog takes 68 arguments.
  auto short_call = replay::ParseFnDblogQuery("SELECT * FROM sys.fn_dump_dblog(NULL, NULL, N'DISK', 1, N'x.trn')");
  REQUIRE(std::holds_alternative<replay::QueryError>(short_call));
  CHECK(std::get<replay::QueryError>(short_call).number == 174);
}

TEST_CASE("connections dropped mid-result: reconnects and hands every record out once") {
  Fixture f(400);
  const Run expected = ReadFixture(f, Lsn());
  REQUIRE(LinesOf(expected.events) > 300);
  replay::FixtureOptions options;
  options.drop_after_batches = 3;  // every third fn_dblog answer is cut off halfway
  Replay replay(f.dir, options);
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  const Run run = ReadAll(*source, Lsn(), 97);
  REQUIRE_MESSAGE(run.ok, run.error);
  CHECK(source->Health().reconnects >= 3);
  CHECK(run.new_rows == f.lsns.size());
  CHECK(run.events == expected.events);
}

// fn_dblog's [Log Record] is varbinary(8000): a longer record arrives cut to 8,000 bytes, and only
// [Log Record Length] tells. Row `row` of the fixture gets an 8,000-byte record and `length` (JSON).
void CutRecord(const Fixture& f, size_t row, const std::string& length) {
  std::ifstream in(f.dir / "log.jsonl");
  std::string line, text;
  for (size_t i = 0; std::getline(in, line); ++i) {
    if (i == row) {
      const auto length_at = line.find("\"Log Record Length\":");
      const auto record_at = line.find("\"Log Record\":\"0x");
      REQUIRE(length_at != std::string::npos);
      REQUIRE(record_at != std::string::npos);
      const auto record_end = line.find('"', record_at + 15);
      line.replace(record_at, record_end + 1 - record_at, "\"Log Record\":\"0x" + std::string(16000, 'A') + "\"");
      const auto value = length_at + 20;
      line.replace(value, line.find_first_of(",}", value) - value, length);
    }
    text += line + "\n";
  }
  in.close();
  std::ofstream(f.dir / "log.jsonl") << text;
}

// The fixture read live, with row 20 made an 8,000-byte record of `length` (JSON).
Run ReadWith8000ByteRecord(const Fixture& f, const std::string& length) {
  CutRecord(f, 20, length);
  Replay replay(f.dir, {});
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  return ReadAll(*source, Lsn(), 7);
}

TEST_CASE("a [Log Record] cut to 8,000 bytes stops the read, naming the LSN and both lengths") {
  Fixture f(60);
  const Run run = ReadWith8000ByteRecord(f, "8100");
  CHECK(!run.ok);
  CHECK_MESSAGE(run.error.find("log record " + f.lsns[20].ToString() +
                               ": [Log Record] has 8000 bytes but [Log Record Length] says 8100") != std::string::npos,
                run.error);
  CHECK(run.new_rows < 20);
}

TEST_CASE("a [Log Record] of exactly 8,000 bytes that its length confirms is parsed, not taken as cut") {
  Fixture f(60);
  const Run run = ReadWith8000ByteRecord(f, "8000");
  CHECK(!run.ok);  // 8,000 bytes of 0xAA are no log record
  CHECK_MESSAGE(run.error.find("log record " + f.lsns[20].ToString() + ": ") != std::string::npos, run.error);
  CHECK_MESSAGE(run.error.find("Log Record Length") == std::string::npos, run.error);
}

TEST_CASE("an 8,000-byte [Log Record] whose length is NULL or negative stops the read: cut or not is unknown") {
  for (const std::string length : {"null", "-100"}) {
    CAPTURE(length);
    Fixture f(60);
    const Run run = ReadWith8000ByteRecord(f, length);
    CHECK(!run.ok);
    const std::string shown = length == "null" ? "NULL" : length;
    CHECK_MESSAGE(run.error.find("fn_dblog: log record " + f.lsns[20].ToString() +
                                 ": [Log Record] has 8000 bytes and " + "[Log Record Length] is " + shown +
                                 ": whether the record was cut is not known") != std::string::npos,
                  run.error);
  }
}

TEST_CASE("reconnect off: a dropped connection fails the read with the cause") {
  Fixture f(100);
  replay::FixtureOptions options;
  options.drop_after_batches = 1;
  Replay replay(f.dir, options);
  auto live = Fast();
  live.reconnect_max_s = 0;
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), live);
  const Run run = ReadAll(*source, Lsn(), 50);
  CHECK(!run.ok);
  CHECK(run.error.find("no reconnect") != std::string::npos);
  CHECK(source->Health().reconnects == 0);
}

TEST_CASE("server restart on the same port: the reader waits, reconnects and continues") {
  Fixture f(300);
  const Run expected = ReadFixture(f, Lsn());
  auto first = std::make_unique<Replay>(f.dir, replay::FixtureOptions{});
  const uint16_t port = first->server.port();
  std::unique_ptr<Replay> second;
  std::thread restarter;
  auto source = logreader::OpenLiveSource(Connect(port), Fast());
  const Run run = ReadAll(*source, Lsn(), 40, [&](int polls) {
    if (polls != 3) return;
    first.reset();  // the server goes away between two polls...
    restarter = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));  // ...and comes back later
      second = std::make_unique<Replay>(f.dir, replay::FixtureOptions{}, port);
    });
  });
  if (restarter.joinable()) restarter.join();
  REQUIRE_MESSAGE(run.ok, run.error);
  CHECK(source->Health().reconnects == 1);
  CHECK(run.new_rows == f.lsns.size());
  CHECK(run.events == expected.events);
}

TEST_CASE("log bounds come from sys.dm_db_log_stats") {
  Fixture f(100);
  Replay replay(f.dir, {});
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  const Run run = ReadAll(*source, Lsn(), 1000);
  REQUIRE_MESSAGE(run.ok, run.error);
  const auto health = source->Health();
  CHECK(health.log_bounds_known);
  CHECK(health.log_min_lsn == f.lsns.front());
  CHECK(health.log_end_lsn == f.lsns.back());
}

TEST_CASE("a position older than the active log is read from the log backups, then the active log") {
  Fixture f(300);
  const auto& l = f.lsns;
  const size_t n = l.size();
  // Backup 1 holds [0, n/4), backup 2 (two striped files, set 2 of its media) [n/4, 2n/3); the
  // active log begins at n/2, so backup 2 and the active log overlap.
  std::ostringstream json;
  json << R"({"active_log_from": ")" << l[n / 2].ToString() << R"(", "backups": [)"
       << R"({"files": ["/backups/log1.trn"], "first_lsn": ")" << l[0].ToString() << R"(", "last_lsn": ")"
       << l[n / 4].ToString() << R"("},)"
       << R"({"files": ["/backups/log2a.trn", "/backups/log2b.trn"], "position": 2, "first_lsn": ")"
       << l[n / 4].ToString() << R"(", "last_lsn": ")" << l[2 * n / 3].ToString() << R"("}]})";
  f.WriteBackups(json.str());
  const size_t first = f.BeginAtOrAfter(5);
  const Lsn start = l[first];
  const Run expected = ReadFixture(f, start);
  REQUIRE(LinesOf(expected.events) > 200);

  replay::FixtureOptions options;
  options.record_batches_path = (f.dir / "batches.jsonl").string();
  Replay replay(f.dir, options);
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  const Run run = ReadAll(*source, start, 64);
  REQUIRE_MESSAGE(run.ok, run.error);
  CHECK(run.events == expected.events);
  CHECK(run.new_rows == n - first);
  const auto health = source->Health();
  // Every row before the active log came from a backup; backup 2 is left for the active log at the
  // first poll that starts inside the active log.
  CHECK(health.backup_rows >= n / 2 - first);
  CHECK(health.backup_rows <= 2 * n / 3 - first);
  CHECK(health.log_min_lsn == l[n / 2]);
  std::ifstream in(options.record_batches_path);
  std::stringstream batches;
  batches << in.rdbuf();
  CHECK(batches.str().find("N'/backups/log2a.trn', N'/backups/log2b.trn'") != std::string::npos);
  CHECK(batches.str().find("N'DISK', 2") != std::string::npos);

  SUBCASE("and with reconnects in between") {
    replay::FixtureOptions drop;
    drop.drop_after_batches = 2;
    Replay dropping(f.dir, drop);
    auto flaky = logreader::OpenLiveSource(Connect(dropping.server.port()), Fast());
    const Run again = ReadAll(*flaky, start, 64);
    REQUIRE_MESSAGE(again.ok, again.error);
    CHECK(flaky->Health().reconnects > 0);
    CHECK(again.events == expected.events);
  }
}

TEST_CASE("a gap between the log backups and the active log stops the read, naming the missing range") {
  Fixture f(200);
  const auto& l = f.lsns;
  const size_t n = l.size();
  std::ostringstream json;
  json << R"({"active_log_from": ")" << l[n / 2].ToString() << R"(", "backups": [)"
       << R"({"files": ["/backups/log1.trn"], "first_lsn": ")" << l[0].ToString() << R"(", "last_lsn": ")"
       << l[n / 4].ToString() << R"("}]})";
  f.WriteBackups(json.str());
  Replay replay(f.dir, {});
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  const Lsn start = l[f.BeginAtOrAfter(3)];
  const Run run = ReadAll(*source, start, 50);
  REQUIRE(!run.ok);
  CHECK_MESSAGE(run.error.find("the log from LSN " + l[n / 4].ToString() + " up to " + l[n / 2].ToString() +
                               " is missing") != std::string::npos,
                run.error);

  SUBCASE("and without any backup, from the restart LSN") {
    f.WriteBackups(R"({"active_log_from": ")" + l[n / 2].ToString() + R"("})");
    Replay bare(f.dir, {});
    auto none = logreader::OpenLiveSource(Connect(bare.server.port()), Fast());
    const Run r = ReadAll(*none, start, 50);
    REQUIRE(!r.ok);
    CHECK_MESSAGE(
        r.error.find("the log from LSN " + start.ToString() + " up to " + l[n / 2].ToString()) != std::string::npos,
        r.error);
    CHECK(r.events.empty());
  }

  SUBCASE("and with backups off") {
    auto live = Fast();
    live.read_log_backups = false;
    auto off = logreader::OpenLiveSource(Connect(replay.server.port()), live);
    const Run r = ReadAll(*off, start, 50);
    REQUIRE(!r.ok);
    CHECK(r.error.find("read_log_backups is off") != std::string::npos);
  }
}

TEST_CASE("a single backup file is read on its own (logreader-dump --backup)") {
  Fixture f(200);
  const auto& l = f.lsns;
  const size_t n = l.size();
  f.WriteBackups(R"({"active_log_from": ")" + l[n / 2].ToString() + R"(", "backups": [{"files": ["/b/one.trn"], )" +
                 R"("first_lsn": ")" + l[0].ToString() + R"(", "last_lsn": ")" + l[n / 2].ToString() + R"("}]})");
  Replay replay(f.dir, {});
  logreader::LogBackup backup;
  backup.files = {"/b/one.trn"};
  auto source = logreader::OpenBackupFileSource(Connect(replay.server.port()), backup, Fast());
  const Run run = ReadAll(*source, Lsn(), 33);
  REQUIRE_MESSAGE(run.ok, run.error);
  CHECK(run.new_rows == n / 2);
  CHECK(source->Health().backup_rows == n / 2);

  logreader::LogBackup missing;
  missing.files = {"/b/absent.trn"};
  auto bad = logreader::OpenBackupFileSource(Connect(replay.server.port()), missing, Fast());
  const Run failed = ReadAll(*bad, Lsn(), 33);
  CHECK(!failed.ok);
  CHECK(failed.error.find("3201") != std::string::npos);
}

namespace {

// fixture-gen --workload add-column: three INSERTs, ALTER TABLE ADD qty inside BEGIN TRAN (only its
// sys.syscolpars record tells), three more INSERTs.
struct SchemaChangeFixture {
  SchemaChangeFixture() {
    dir = fs::temp_directory_path() / ("sqltail-schema-change-" + std::to_string(::getpid()));
    rows = fixtures::WriteAddColumnFixture({3, true}, dir).log_records;
  }
  ~SchemaChangeFixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  fs::path dir;
  size_t rows = 0;
};

}  // namespace

TEST_CASE("a schema change read live: the catalog is re-read on a second connection at its commit") {
  SchemaChangeFixture f;
  std::string error;
  auto fixture = logreader::OpenFixtureSource(f.dir.string(), error);
  REQUIRE_MESSAGE(fixture, error);
  const Run expected = ReadAll(*fixture, Lsn(), 100000);
  REQUIRE_MESSAGE(expected.ok, expected.error);
  REQUIRE(LinesOf(expected.events) == 6);
  CHECK(expected.events.find(R"("after":{"id":3,"text":"after 3","qty":30})") != std::string::npos);
  CHECK(expected.events.find(R"("after":{"id":1,"text":"before 1"})") != std::string::npos);

  // The log grows while it is read, so the first catalog read sees the table before the ALTER; the
  // reader must find the ALTER in the log and read the catalog again, mid-result.
  replay::FixtureOptions options;
  options.log_growth_rows_per_s = 40;
  Replay replay(f.dir, options);
  auto source = logreader::OpenLiveSource(Connect(replay.server.port()), Fast());
  logreader::Catalog catalog;
  REQUIRE_MESSAGE(source->ReadCatalog(catalog, error), error);
  REQUIRE(catalog.FindByName("dbo", "test_table") != nullptr);
  CHECK(catalog.FindByName("dbo", "test_table")->layout.columns.size() == 2);
  REQUIRE(catalog.system_allocation_units().size() == 1);
  CHECK(catalog.system_allocation_units_error.empty());

  std::string events;
  logreader::EventLineWriter writer;
  std::vector<std::string> schema_changes;
  logreader::LogReader reader(*source, catalog, [&](const logreader::CommittedTransaction& txn, std::string& e) {
    for (const auto& change : txn.changes)
      if (!writer.Append(txn, change, events, e)) return false;
    return true;
  });
  reader.SetSchemaChangeHandler(
      [&](const logreader::SchemaChangeCommit& commit, std::span<const logreader::TableChange> changes, std::string&) {
        for (const auto& c : changes)
          schema_changes.push_back(std::string(logreader::TableChangeKindName(c.kind)) + " " +
                                   c.table->QualifiedName() + " " + std::string(commit.reason));
        return true;
      });
  reader.Resume(Lsn(), Lsn());
  size_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen < f.rows && std::chrono::steady_clock::now() < deadline) {
    size_t rows = 0;
    REQUIRE_MESSAGE(reader.Poll(4, rows, error), error);
    seen += rows;
    if (rows == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(seen == f.rows);
  CHECK(reader.catalog_reads() == 1);
  CHECK(schema_changes == std::vector<std::string>{"ALTER dbo.test_table sys.syscolpars"});
  CHECK(events == expected.events);
}
