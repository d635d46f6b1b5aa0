// Benchmark (not a test): records decoded per second per core, for a typical 10-column row, with and
// without rendering the values as JSON; and the capture path's assembly of single-row INSERT
// transactions (parse + TransactionAssembler + UpdateResolver image cache, full and evicting).
// Usage: decode_bench [seconds]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/record_decoder.h"
#include "sqltail/logreader/transaction_assembler.h"

using namespace sqltail;
using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

ColumnLayout Column(const char* name, SqlType type, int max_length, int leaf_offset, int null_bit, int precision = 0,
                    int scale = 0) {
  ColumnLayout c;
  c.name = name;
  c.type = type;
  c.type_name = std::string(logreader::SqlTypeName(type));
  c.max_length = max_length;
  c.leaf_offset = leaf_offset;
  c.leaf_null_bit = null_bit;
  c.column_id = null_bit;
  c.precision = precision;
  c.scale = scale;
  if (type == SqlType::kVarChar || type == SqlType::kNVarChar || type == SqlType::kChar)
    c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
  return c;
}

template <class F>
double RecordsPerSecond(double seconds, size_t batch, F&& body) {
  auto start = std::chrono::steady_clock::now();
  size_t done = 0;
  double elapsed = 0;
  do {
    for (size_t i = 0; i < batch; ++i) body(i);
    done += batch;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(done) / elapsed;
}

// Single-row INSERT transactions (BEGIN, INSERT_ROWS, COMMIT) of distinct ids through the
// assembler, as the capture path feeds it; ids never repeat, so once 100,000 images are cached every
// insert evicts one.
double AssembledInsertsPerSecond(double seconds) {
  constexpr uint64_t kUnit = fixtures::MakeAllocationUnitId(101, 256);
  logreader::Catalog catalog;
  logreader::CapturedTable table;
  table.layout = fixtures::TestTableLayout();
  table.index_id = 1;
  table.allocation_unit_id = kUnit;
  table.key_columns = {0};
  catalog.Add(std::move(table));
  uint64_t committed = 0;
  logreader::TransactionAssembler assembler(catalog, [&](const logreader::CommittedTransaction& txn, std::string&) {
    committed += txn.changes.size();
    return true;
  });
  fixtures::BeginXactRecord begin;
  begin.transaction_id.low = 7;
  begin.transaction_name = "INSERT";
  begin.login_sid = {1};
  fixtures::InsertRowsRecord insert;
  insert.transaction_id.low = 7;
  insert.allocation_unit_id = kUnit;
  std::vector<fixtures::ColumnValue> values = {int64_t{0}, std::string(100, 'x')};
  insert.record = fixtures::EncodeFixedVarRecord(fixtures::TestTableLayout(), values);
  insert.lock_info = fixtures::InsertLockInfo(7);
  fixtures::EndXactRecord commit;
  commit.transaction_id.low = 7;
  const fixtures::Bytes begin_bytes = fixtures::EncodeBeginXact(begin);
  fixtures::Bytes insert_bytes = fixtures::EncodeInsertRows(insert);
  const fixtures::Bytes commit_bytes = fixtures::EncodeEndXact(commit);
  logreader::LogRecordView view;
  std::string error;
  if (!logreader::ParseLogRecord(insert_bytes, view, error)) std::abort();
  const size_t id_at = static_cast<size_t>(view.elements[0].data() - insert_bytes.data()) + 4;  // id: leaf_offset 4
  uint32_t next_id = 0;
  const double rate = RecordsPerSecond(seconds, 1000, [&](size_t) {
    const uint32_t block = 1 + next_id / 1000;
    const auto slot = static_cast<uint16_t>(1 + 3 * (next_id % 1000));
    std::memcpy(insert_bytes.data() + id_at, &next_id, 4);
    ++next_id;
    if (!logreader::ParseLogRecord(begin_bytes, view, error) ||
        !assembler.Add(logreader::Lsn(0x30, block, slot), view, error) ||
        !logreader::ParseLogRecord(insert_bytes, view, error) ||
        !assembler.Add(logreader::Lsn(0x30, block, slot + 1), view, error) ||
        !logreader::ParseLogRecord(commit_bytes, view, error) ||
        !assembler.Add(logreader::Lsn(0x30, block, slot + 2), view, error))
      std::abort();
  });
  if (committed != next_id || assembler.resolver().cached_rows() != std::min<size_t>(next_id, 100000)) std::abort();
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  logreader::TableLayout layout;
  layout.schema = "dbo";
  layout.table = "orders";
  layout.columns = {
      Column("id", SqlType::kBigInt, 8, 4, 1),
      Column("customer_id", SqlType::kInt, 4, 12, 2),
      Column("status", SqlType::kSmallInt, 2, 16, 3),
      Column("amount", SqlType::kDecimal, 9, 18, 4, 18, 2),
      Column("created_at", SqlType::kDateTime, 8, 27, 5),
      Column("ratio", SqlType::kFloat, 8, 35, 6),
      Column("country", SqlType::kChar, 2, 43, 7),
      Column("email", SqlType::kVarChar, 100, -1, 8),
      Column("name", SqlType::kNVarChar, 200, -2, 9),
      Column("note", SqlType::kVarChar, 400, -3, 10),
  };
  std::vector<fixtures::Bytes> records;
  for (int i = 0; i < 1024; ++i) {
    std::vector<fixtures::ColumnValue> values = {
        int64_t{1000000 + i},
        int64_t{i * 7},
        int64_t{i % 5},
        fixtures::SqlDecimal::Parse(std::to_string(i * 13) + ".25", 2),
        fixtures::SqlDateTime::FromCivil(2026, 11, 25, 10, i % 60, i % 60, i % 1000),
        i * 0.5,
        std::string("DE"),
        "customer" + std::to_string(i) + "@example.org",
        std::string("Kunde Nummer ") + std::to_string(i),
        i % 3 == 0 ? fixtures::ColumnValue(fixtures::SqlNull{}) : fixtures::ColumnValue(std::string(40, 'n')),
    };
    records.push_back(fixtures::EncodeFixedVarRecord(layout, values));
  }
  logreader::DecodedRecord decoded;
  logreader::DecodeError error;
  std::string json;
  size_t bytes = 0;
  for (const auto& r : records) bytes += r.size();
  double decode = RecordsPerSecond(seconds, records.size(), [&](size_t i) {
    if (!logreader::DecodeRecord(layout, records[i], decoded, error)) std::abort();
  });
  double render = RecordsPerSecond(seconds, records.size(), [&](size_t i) {
    if (!logreader::DecodeRecord(layout, records[i], decoded, error)) std::abort();
    json.clear();
    for (size_t c = 0; c < layout.columns.size(); ++c)
      if (!logreader::AppendCanonicalJson(layout.columns[c], decoded.fields[c], json)) std::abort();
  });
  std::printf("decode_bench: 10 mixed columns, %zu bytes per record on average\n", bytes / records.size());
  std::printf("decode_bench: decode only:            %.2f M records/s\n", decode / 1e6);
  std::printf("decode_bench: decode + render JSON:   %.2f M records/s\n", render / 1e6);
  const double assembled = AssembledInsertsPerSecond(seconds);
  std::printf("decode_bench: assemble INSERT txns:   %.2f M transactions/s (3 records each; image cache full)\n",
              assembled / 1e6);
  return 0;
}
