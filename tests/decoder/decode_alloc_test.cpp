// DecodeRecord and AppendCanonicalJson allocate nothing per record once their buffers are warm (issue 3:
// "no heap allocation per record in steady state"). Counts every operator new in the process, so it
// is its own executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "embedded_cases.h"
#include "sqltail/fixtures/fixed_var_record_encoder.h"
#include "support/allocation_counter.h"
#include "test_support.h"

using namespace sqltail;
using namespace sqltail::logreader;

namespace {

struct Sample {
  std::string name;
  TableLayout layout;
  std::vector<uint8_t> bytes;
};

// The typical 10-column row of decode_bench, with and without a NULL variable column.
void AddTypicalRows(std::vector<Sample>& samples) {
  auto column = [](const char* name, const char* type, int max_length, int leaf_offset, int null_bit, int precision,
                   int scale) {
    ColumnLayout c = test::Column(name, type, max_length, leaf_offset, null_bit);
    c.precision = precision;
    c.scale = scale;
    if (c.type == SqlType::kVarChar || c.type == SqlType::kChar) c.collation_name = "SQL_Latin1_General_CP1_CI_AS";
    return c;
  };
  TableLayout layout;
  layout.schema = "dbo";
  layout.table = "orders";
  layout.columns = {column("id", "bigint", 8, 4, 1, 19, 0),
                    column("customer_id", "int", 4, 12, 2, 10, 0),
                    column("status", "smallint", 2, 16, 3, 5, 0),
                    column("amount", "decimal", 9, 18, 4, 18, 2),
                    column("created_at", "datetime", 8, 27, 5, 23, 3),
                    column("ratio", "float", 8, 35, 6, 53, 0),
                    column("country", "char", 2, 43, 7, 0, 0),
                    column("email", "varchar", 100, -1, 8, 0, 0),
                    column("name", "nvarchar", 200, -2, 9, 0, 0),
                    column("note", "varchar", 400, -3, 10, 0, 0)};
  for (int i = 0; i < 2; ++i) {
    std::vector<fixtures::ColumnValue> values = {
        int64_t{1000000 + i},
        int64_t{7},
        int64_t{3},
        fixtures::SqlDecimal::Parse("1234.25", 2),
        fixtures::SqlDateTime::FromCivil(2026, 11, 25, 10, 4, 5, 70),
        0.5,
        std::string("DE"),
        std::string("customer@example.org"),
        std::string("Kunde Nummer 1"),
        i == 0 ? fixtures::ColumnValue(fixtures::SqlNull{}) : fixtures::ColumnValue(std::string(40, 'n')),
    };
    samples.push_back({"typical row " + std::to_string(i), layout, fixtures::EncodeFixedVarRecord(layout, values)});
  }
}

void AddRealRecords(std::vector<Sample>& samples) {
  for (const auto& embedded : test::kEmbeddedRecordCases) {
    samples.push_back({embedded.name, test::LayoutFromJson(embedded.layout_json), test::HexToBytes(embedded.hex)});
  }
  const std::filesystem::path directory = std::filesystem::path(SQLTAIL_SHARED_DIR) / "vectors" / "cases";
  if (!std::filesystem::is_directory(directory)) return;
  simdjson::dom::parser parser;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    simdjson::dom::element root;
    std::string_view kind;
    std::string_view hex;
    simdjson::dom::element layout;
    if (parser.load(entry.path().string()).get(root) || root["kind"].get_string().get(kind) || kind != "record" ||
        root["hex"].get_string().get(hex) || root["layout"].get(layout))
      continue;
    samples.push_back(
        {entry.path().filename().string(), test::LayoutFromJson(simdjson::to_string(layout)), test::HexToBytes(hex)});
  }
}

}  // namespace

TEST_CASE("decode and render allocate nothing per record once warm") {
  std::vector<Sample> samples;
  AddTypicalRows(samples);
  AddRealRecords(samples);
  REQUIRE(samples.size() >= 6);
  DecodedRecord decoded;
  DecodeError error;
  std::string json;
  json.reserve(64 * 1024);
  error.message.reserve(512);
  error.column.reserve(256);
  // Warm-up: every buffer grows to what the largest sample needs.
  std::vector<bool> decodes(samples.size());
  for (size_t s = 0; s < samples.size(); ++s) {
    decodes[s] = DecodeRecord(samples[s].layout, samples[s].bytes, decoded, error);
    if (!decodes[s]) continue;
    for (size_t c = 0; c < samples[s].layout.columns.size(); ++c) {
      if (samples[s].layout.columns[c].IsRendered())
        AppendCanonicalJson(samples[s].layout.columns[c], decoded.fields[c], json);
    }
    json.clear();
  }
  size_t rendered = 0;
  for (size_t s = 0; s < samples.size(); ++s) {
    if (!decodes[s]) continue;
    CAPTURE(samples[s].name);
    const size_t before = test::Allocations();
    for (int round = 0; round < 200; ++round) {
      REQUIRE(DecodeRecord(samples[s].layout, samples[s].bytes, decoded, error));
      for (size_t c = 0; c < samples[s].layout.columns.size(); ++c) {
        if (samples[s].layout.columns[c].IsRendered())
          AppendCanonicalJson(samples[s].layout.columns[c], decoded.fields[c], json);
      }
      json.clear();
    }
    CHECK(test::Allocations() - before == 0);
    ++rendered;
  }
  MESSAGE(rendered << " record shapes decoded and rendered 200 times each with no allocation");
  // The counter does see allocations (the test cannot pass by counting nothing).
  const size_t before = test::Allocations();
  std::vector<int> probe(1000);
  probe[999] = 1;
  CHECK(test::Allocations() - before >= 1);
}
