// The fixture reader: rows in range and in order, and malformed files named by file and line.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/logreader/log_source.h"

using namespace sqltail;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("sqltail-fixture-source-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  void Write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};

std::vector<logreader::Lsn> ReadLsns(logreader::LogSource& source, logreader::Lsn from, size_t max_rows) {
  std::vector<logreader::Lsn> out;
  size_t delivered = 0;
  std::string error;
  REQUIRE(source.ReadLog(
      from, max_rows,
      [&](const logreader::LogRow& row, std::string&) {
        out.push_back(row.current_lsn);
        CHECK(static_cast<int>(row.log_record.size()) == row.log_record_length);
        return true;
      },
      delivered, error));
  CHECK(delivered == out.size());
  return out;
}

}  // namespace

TEST_CASE("a generated fixture reads back: catalog, every row, ranges from an LSN") {
  TempDir dir;
  fixtures::InsertsWorkloadOptions options;
  options.rows = 20;
  options.seed = 3;
  auto summary = fixtures::WriteInsertsFixture(options, dir.path);
  std::string error;
  auto source = logreader::OpenFixtureSource(dir.path.string(), error);
  REQUIRE_MESSAGE(source, error);
  logreader::Catalog catalog;
  REQUIRE(source->ReadCatalog(catalog, error));
  REQUIRE(catalog.tables().size() == 1);
  CHECK(catalog.tables()[0]->QualifiedName() == "dbo.test_table");
  CHECK(catalog.tables()[0]->key_columns == std::vector<size_t>{0});
  CHECK(catalog.database == "source_db");

  auto all = ReadLsns(*source, logreader::Lsn(), 1000);
  REQUIRE(all.size() == 60);
  CHECK(all.front() == summary.first_lsn);
  CHECK(all.back() == summary.last_lsn);
  auto from_middle = ReadLsns(*source, all[30], 5);
  CHECK(from_middle == std::vector<logreader::Lsn>(all.begin() + 30, all.begin() + 35));
}

TEST_CASE("malformed fixtures are errors naming the file and line") {
  TempDir dir;
  fixtures::InsertsWorkloadOptions options;
  options.rows = 1;
  options.seed = 3;
  fixtures::WriteInsertsFixture(options, dir.path);
  std::ifstream in(dir.path / "log.jsonl");
  std::string first;
  std::getline(in, first);
  std::string error;

  dir.Write("log.jsonl", first + "\n{\"Current LSN\":\"nope\",\"Log Record\":\"0x00\"}\n");
  CHECK_FALSE(logreader::OpenFixtureSource(dir.path.string(), error));
  CHECK(error.find("log.jsonl:2") != std::string::npos);
  CHECK(error.find("'nope' is not an LSN") != std::string::npos);

  dir.Write("log.jsonl", first + "\n" + first + "\n");
  CHECK_FALSE(logreader::OpenFixtureSource(dir.path.string(), error));
  CHECK(error.find("is not after the previous row's") != std::string::npos);

  dir.Write("log.jsonl", "{\"Current LSN\":\"00000001:00000002:0003\",\"Log Record\":\"0x0G\"}\n");
  CHECK_FALSE(logreader::OpenFixtureSource(dir.path.string(), error));
  CHECK(error.find("log.jsonl:1") != std::string::npos);

  dir.Write("log.jsonl", "not json\n");
  CHECK_FALSE(logreader::OpenFixtureSource(dir.path.string(), error));

  fs::remove(dir.path / "catalog.json");
  CHECK_FALSE(logreader::OpenFixtureSource(dir.path.string(), error));
  CHECK(error.find("catalog.json") != std::string::npos);
}
