// The output side of updates: Debezium `u` events with before/after and Debezium's placeholder for
// unavailable string columns (named in EncodedEvent::unavailable, the sqltail.unavailable header),
// and the SQLite target leaving unavailable columns untouched.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../../engine/src/apply/sqlite_target.h"
#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/transaction_assembler.h"

using namespace sqltail;
using logreader::Lsn;

namespace {

constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);

fixtures::Bytes Row(int64_t id, const std::string& text) {
  std::vector<fixtures::ColumnValue> values = {id, text};
  return fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
}

// Encodes every change of the log (insert of row 1, update of row 1, update of row 2 never inserted).
std::vector<engine::EncodedEvent> EncodeUpdates() {
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.allocation_unit_id = kUnit;
  table.index_id = 1;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  engine::EncoderOptions options;
  options.topic_prefix = "demo";
  options.database = "source_db";
  options.schemas_enable = false;
  engine::DebeziumEncoder encoder(options);
  std::vector<engine::EncodedEvent> events;
  logreader::TransactionAssembler assembler(catalog, [&](const logreader::CommittedTransaction& txn, std::string& e) {
    for (const auto& change : txn.changes) {
      engine::EncodedEvent event;
      if (!encoder.Encode(txn, change, 1, 1, 0, event, e)) return false;
      events.push_back(event);
    }
    return true;
  });

  std::vector<fixtures::Bytes> records;
  fixtures::BeginXactRecord begin;
  begin.transaction_id.low = 1;
  begin.transaction_name = "user_transaction";
  begin.login_sid = {1};
  records.push_back(fixtures::EncodeBeginXact(begin));
  fixtures::InsertRowsRecord insert;
  insert.transaction_id.low = 1;
  insert.allocation_unit_id = kUnit;
  insert.record = Row(1, "first text");
  insert.lock_info = fixtures::InsertLockInfo(7);
  records.push_back(fixtures::EncodeInsertRows(insert));
  for (int64_t id : {1, 2}) {
    fixtures::ByteRegion region = fixtures::MinimalModifyRegion(Row(id, "first text"), Row(id, "second text"));
    fixtures::ModifyRowRecord modify;
    modify.transaction_id.low = 1;
    modify.allocation_unit_id = kUnit;
    modify.slot = static_cast<uint16_t>(id);
    modify.offset_in_row = region.offset;
    modify.modify_size = static_cast<uint16_t>(region.before.size());
    modify.before = region.before;
    modify.after = region.after;
    fixtures::Bytes key;
    fixtures::AppendU32(key, static_cast<uint32_t>(id));
    modify.key_info = fixtures::ClusteredKeyInfo(std::span<const fixtures::Bytes>(&key, 1));
    records.push_back(fixtures::EncodeModifyRow(modify));
  }
  fixtures::EndXactRecord commit;
  commit.transaction_id.low = 1;
  records.push_back(fixtures::EncodeEndXact(commit));

  logreader::LogRecordView view;
  std::string error;
  for (size_t i = 0; i < records.size(); ++i) {
    REQUIRE(logreader::ParseLogRecord(records[i], view, error));
    REQUIRE_MESSAGE(assembler.Add(Lsn(0x25, 0x100, static_cast<uint16_t>(i + 1)), view, error), error);
  }
  return events;
}

}  // namespace

TEST_CASE("Debezium: u events carry before and after; unavailable string columns carry the placeholder") {
  auto events = EncodeUpdates();
  REQUIRE(events.size() == 3);
  const std::string& spliced = events[1].value;
  CHECK(spliced.find("\"before\":{\"id\":1,\"text\":\"first text\"},\"after\":{\"id\":1,\"text\":\"second text\"}") !=
        std::string::npos);
  CHECK(spliced.find("\"op\":\"u\"") != std::string::npos);
  CHECK(events[1].unavailable.empty());
  const std::string& partial = events[2].value;
  CHECK(partial.find("\"before\":{\"id\":2,\"text\":\"__debezium_unavailable_value\"},"
                     "\"after\":{\"id\":2,\"text\":\"__debezium_unavailable_value\"}") != std::string::npos);
  CHECK(events[2].unavailable == "text");
}

TEST_CASE("SQLite target: an update with unavailable columns writes only the known ones") {
  auto path = std::filesystem::temp_directory_path() / ("sqltail_update_output_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    engine::SqliteTarget target;
    std::string error;
    REQUIRE_MESSAGE(target.Open(path.string(), error), error);
    std::vector<engine::TargetColumn> columns(3);
    columns[0].name = "id";
    columns[0].kind = engine::ValueKind::kInteger;
    columns[0].key = true;
    columns[1].name = "a";
    columns[2].name = "b";
    engine::TargetTable* table = target.DefineTable("t", columns, error);
    REQUIRE_MESSAGE(table != nullptr, error);
    auto text = [](std::string_view value) {
      engine::FieldValue field;
      field.type = engine::FieldValue::Type::kText;
      field.text = value;
      return field;
    };
    engine::FieldValue id;
    id.type = engine::FieldValue::Type::kInteger;
    id.integer = 5;
    engine::RowOrigin origin{"topic", 0, 1};
    REQUIRE(target.Begin(error));
    REQUIRE(target.Upsert(*table, {id, text("a0"), text("b0")}, origin, error));
    REQUIRE_MESSAGE(target.UpdateKnownColumns(*table, {id, text("a1"), text("__debezium_unavailable_value")},
                                              {false, false, true}, origin, error),
                    error);
    // The stored rows as "id,a,b;" text.
    auto stored = [&] {
      std::string rows;
      REQUIRE(target.ReadRows(
          "t",
          [&](const std::vector<std::string>&, const std::vector<engine::VerifyValue>& row) {
            for (const auto& v : row)
              rows +=
                  (v.type == engine::VerifyValue::Type::kInteger ? std::to_string(v.integer) : std::string(v.text)) +
                  ",";
            rows += ";";
          },
          error));
      return rows;
    };
    CHECK(stored() == "5,a1,b0,;");
    id.integer = 6;  // a row the target does not have: its other values are unknown
    CHECK_FALSE(target.UpdateKnownColumns(*table, {id, text("a1"), text("x")}, {false, false, true}, origin, error));
    CHECK(error.find("does not have") != std::string::npos);
    target.Rollback();
  }
  std::filesystem::remove(path);
}
