// The capture checkpoint's JSON: round trips, checkpoints without the split keys (written before
// source transactions could be split) parse unchanged, and inconsistent split keys are rejected.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/engine/checkpoint.h"

#include <doctest/doctest.h>

#include <string>

using sqltail::engine::Checkpoint;
using sqltail::engine::EncodeCheckpoint;
using sqltail::engine::ParseCheckpoint;
using sqltail::logreader::Lsn;

namespace {

Lsn L(const char* text) {
  auto lsn = Lsn::Parse(text);
  REQUIRE(lsn.has_value());
  return *lsn;
}

}  // namespace

TEST_CASE("a checkpoint without split keys parses as before, and encodes without them") {
  const std::string old_value =
      R"({"commit_lsn":"00000027:00000758:0005","change_lsn":"00000027:00000750:0002","event_serial_no":1,)"
      R"("restart_lsn":"00000027:00000700:0001"})";
  std::string error;
  auto parsed = ParseCheckpoint(old_value, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  CHECK(parsed->commit_lsn == L("00000027:00000758:0005"));
  CHECK(parsed->restart_lsn == L("00000027:00000700:0001"));
  CHECK(parsed->split_events == 0);
  CHECK(EncodeCheckpoint(*parsed) == old_value);
}

TEST_CASE("the position inside a split transaction round-trips") {
  Checkpoint c;
  c.commit_lsn = L("00000027:00000758:0005");
  c.change_lsn = L("00000027:00000750:0002");
  c.event_serial_no = 1;
  c.restart_lsn = L("00000027:00000760:0001");
  c.split_commit_lsn = L("00000030:00000010:0003");
  c.split_events = 5000;
  const std::string value = EncodeCheckpoint(c);
  CHECK(value.find(R"("split_commit_lsn":"00000030:00000010:0003","split_events":5000)") != std::string::npos);
  std::string error;
  auto parsed = ParseCheckpoint(value, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  CHECK(parsed->split_commit_lsn == c.split_commit_lsn);
  CHECK(parsed->split_events == 5000);
  CHECK(parsed->commit_lsn == c.commit_lsn);
}

TEST_CASE("inconsistent split keys are rejected") {
  const std::string head =
      R"({"commit_lsn":"00000027:00000758:0005","change_lsn":"00000027:00000750:0002","event_serial_no":1,)"
      R"("restart_lsn":"00000027:00000700:0001")";
  std::string error;
  CHECK_FALSE(ParseCheckpoint(head + R"(,"split_events":10})", error));  // no split_commit_lsn
  CHECK_FALSE(ParseCheckpoint(head + R"(,"split_commit_lsn":"00000030:00000010:0003","split_events":0})", error));
  CHECK_FALSE(ParseCheckpoint(head + R"(,"split_commit_lsn":"00000030:00000010:0003","split_events":"x"})", error));
  // The split transaction commits after the last one emitted whole.
  CHECK_FALSE(ParseCheckpoint(head + R"(,"split_commit_lsn":"00000027:00000758:0005","split_events":3})", error));
  CHECK(error.find("split_events") != std::string::npos);
}

TEST_CASE("read_lsn round-trips, is optional, and must be an LSN") {
  Checkpoint c;
  c.commit_lsn = L("00000027:00000758:0005");
  c.change_lsn = L("00000027:00000750:0002");
  c.event_serial_no = 1;
  c.restart_lsn = L("00000027:00000700:0001");
  c.read_lsn = L("00000027:00000790:0004");
  const std::string value = EncodeCheckpoint(c);
  CHECK(value.find(R"("read_lsn":"00000027:00000790:0004")") != std::string::npos);
  std::string error;
  auto parsed = ParseCheckpoint(value, error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  CHECK(parsed->read_lsn == c.read_lsn);
  const std::string head =
      R"({"commit_lsn":"00000027:00000758:0005","change_lsn":"00000027:00000750:0002","event_serial_no":1,)"
      R"("restart_lsn":"00000027:00000700:0001")";
  CHECK(ParseCheckpoint(head + "}", error)->read_lsn.IsZero());
  CHECK_FALSE(ParseCheckpoint(head + R"(,"read_lsn":"later"})", error));
  CHECK(error.find("read_lsn") != std::string::npos);
}
