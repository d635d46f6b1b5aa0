// Benchmark (not a test): records decoded per second per core, for a typical 10-column row, with and
// without rendering the values as JSON. Usage: decode_bench [seconds]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "sqltail/logreader/record_decoder.h"

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
  return 0;
}
