// The initial snapshot's checkpoint fields (round trip, backward compatibility, malformed input),
// snapshot_mode parsing, and the `op: r` envelope of a snapshot row.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "sqltail/engine/checkpoint.h"
#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/engine/snapshot.h"
#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"

using namespace sqltail;
using logreader::Lsn;

TEST_CASE("snapshot_mode values") {
  engine::SnapshotMode mode = engine::SnapshotMode::kNever;
  CHECK(engine::ParseSnapshotMode("initial", mode));
  CHECK(mode == engine::SnapshotMode::kInitial);
  CHECK(engine::ParseSnapshotMode("when_needed", mode));
  CHECK(mode == engine::SnapshotMode::kWhenNeeded);
  CHECK(engine::ParseSnapshotMode("never", mode));
  CHECK(mode == engine::SnapshotMode::kNever);
  CHECK_FALSE(engine::ParseSnapshotMode("always", mode));
  CHECK_FALSE(engine::ParseSnapshotMode("", mode));
}

TEST_CASE("a checkpoint without snapshot keys parses with no snapshot state") {
  std::string error;
  auto c = engine::ParseCheckpoint(
      R"({"commit_lsn":"00000025:00000010:0003","change_lsn":"00000025:00000010:0002","event_serial_no":1,)"
      R"("restart_lsn":"00000025:00000010:0001"})",
      error);
  REQUIRE(c);
  CHECK_FALSE(c->snapshot.running);
  CHECK(c->snapshot.epochs.empty());
  // And writing it back adds no snapshot key.
  CHECK(engine::EncodeCheckpoint(*c).find("snapshot") == std::string::npos);
}

TEST_CASE("snapshot epochs round-trip") {
  engine::Checkpoint c;
  c.commit_lsn = Lsn(0x25, 0x10, 3);
  c.change_lsn = c.commit_lsn;
  c.snapshot.running = true;
  c.snapshot.epochs.push_back({Lsn(0x25, 0x10, 3), "dbo.a", {5, -7}});
  c.snapshot.epochs.push_back({Lsn(0x26, 0x1, 1), "dbo.\"b\"", {}});
  const std::string json = engine::EncodeCheckpoint(c);
  CHECK(json.find(
            R"("snapshot":true,"snapshot_epochs":[{"lsn":"00000025:00000010:0003","table":"dbo.a","key":[5,-7]})") !=
        std::string::npos);
  std::string error;
  auto back = engine::ParseCheckpoint(json, error);
  REQUIRE_MESSAGE(back, error);
  CHECK(back->snapshot.running);
  REQUIRE(back->snapshot.epochs.size() == 2);
  CHECK(back->snapshot.epochs[0].lsn == Lsn(0x25, 0x10, 3));
  CHECK(back->snapshot.epochs[0].table == "dbo.a");
  CHECK(back->snapshot.epochs[0].key == std::vector<int64_t>{5, -7});
  CHECK(back->snapshot.epochs[1].table == "dbo.\"b\"");
  CHECK(back->snapshot.epochs[1].key.empty());
}

TEST_CASE("malformed snapshot keys are errors") {
  const std::string base =
      R"({"commit_lsn":"00000025:00000010:0003","change_lsn":"00000025:00000010:0002","event_serial_no":1,)"
      R"("restart_lsn":"00000025:00000010:0001",)";
  std::string error;
  CHECK_FALSE(engine::ParseCheckpoint(base + R"("snapshot":true})", error));
  CHECK_FALSE(engine::ParseCheckpoint(base + R"("snapshot":true,"snapshot_epochs":[]})", error));
  CHECK_FALSE(engine::ParseCheckpoint(base + R"("snapshot":true,"snapshot_epochs":[{"lsn":"x","table":"t","key":[]}]})",
                                      error));
  CHECK_FALSE(engine::ParseCheckpoint(
      base + R"("snapshot":true,"snapshot_epochs":[{"lsn":"00000025:00000010:0003","table":"t","key":["1"]}]})",
      error));
  // Epochs must not go back in LSN order.
  CHECK_FALSE(engine::ParseCheckpoint(base + R"("snapshot":false,"snapshot_epochs":[)"
                                             R"({"lsn":"00000026:00000010:0003","table":"t","key":[]},)"
                                             R"({"lsn":"00000025:00000010:0003","table":"t","key":[]}]})",
                                      error));
}

TEST_CASE("a snapshot row is an op r event with the snapshot LSN and marker") {
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  for (size_t i = 0; i < table.layout.columns.size(); ++i)
    if (table.layout.columns[i].key_ordinal == 1) table.key_columns.push_back(i);
  const fixtures::ColumnValue values[] = {int64_t{42}, std::string("hello")};
  auto record = fixtures::EncodeFixedVarRecord(table.layout, values);
  engine::EncoderOptions options;
  options.topic_prefix = "srv";
  options.database = "source_db";
  options.schemas_enable = false;
  engine::DebeziumEncoder encoder(options);
  engine::EncodedEvent event;
  std::string error;
  REQUIRE_MESSAGE(
      encoder.EncodeSnapshotRead(table, record, Lsn(0x27, 0x758, 5), "last", 1700000000123456789, event, error), error);
  CHECK(event.key == R"({"id":42})");
  simdjson::dom::parser parser;
  simdjson::dom::element v;
  REQUIRE(!parser.parse(event.value).get(v));
  CHECK(std::string_view(v["op"]) == "r");
  CHECK(v["before"].is_null());
  CHECK(int64_t(v["after"]["id"]) == 42);
  CHECK(std::string_view(v["after"]["text"]) == "hello");
  CHECK(std::string_view(v["source"]["snapshot"]) == "last");
  CHECK(std::string_view(v["source"]["commit_lsn"]) == "00000027:00000758:0005");
  CHECK(v["source"]["change_lsn"].is_null());
  CHECK(v["source"]["event_serial_no"].is_null());
  CHECK(v["transaction"].is_null());
  CHECK(int64_t(v["source"]["ts_ms"]) == 1700000000123);
}
