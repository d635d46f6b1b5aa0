// Fuzz target: the text parsers of external input: table layout JSON, LSN text, checkpoint values,
// fn_dblog query text (tds-replay), the TDS LOGIN7 / PRELOGIN parsers, and the catalog versions of
// the schema history (records from Kafka, one per line) and of a fixture's catalog.json, and the
// applier's reading of a schema change event (a Kafka message value).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apply/schema_change.h"
#include "sqltail/engine/checkpoint.h"
#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/table_layout.h"
#include "sqltail/replay/fn_dblog_query.h"
#include "sqltail/tds/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::span<const uint8_t> bytes(data + 1, size - 1);
  std::string error;
  // Two first bytes select the catalog parsers (so the older corpus keeps its mapping below).
  if (data[0] == 0xF0) {
    std::vector<std::string> records;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      records.emplace_back(text.substr(start, end - start));
      start = end + 1;
    }
    sqltail::logreader::Catalog current;
    auto rebuilt = sqltail::logreader::Catalog::FromHistory(records, current, error);
    if (rebuilt) {
      (void)rebuilt->FindByAllocationUnit(1, sqltail::logreader::Lsn(1, 1, 1));
      (void)rebuilt->FirstHistoryRecords("g");
    }
    return 0;
  }
  if (data[0] == 0xF2) {
    static simdjson::dom::parser parser;
    std::vector<sqltail::engine::EventTableChange> changes;
    if (sqltail::engine::ParseSchemaChangeEvent(parser, text, sqltail::engine::EncoderOptions{}, changes, error)) {
      std::vector<std::string> parts;
      for (const auto& change : changes) (void)sqltail::engine::SplitTableId(change.id, parts);
    }
    return 0;
  }
  if (data[0] == 0xF1) {
    auto catalog = sqltail::logreader::Catalog::FromFixtureJson(text, error);
    if (catalog) (void)catalog->HistoryRecords(catalog->changes());
    return 0;
  }
  switch (data[0] % 5) {
    case 0:
      (void)sqltail::logreader::ParseTableLayout(text, error);
      break;
    case 1:
      (void)sqltail::logreader::Lsn::Parse(text);
      break;
    case 2:
      (void)sqltail::engine::ParseCheckpoint(text, error);
      break;
    case 3:
      (void)sqltail::replay::ParseFnDblogQuery(text);
      break;
    case 4:
      (void)sqltail::tds::wire::ParseLogin7(bytes, &error);
      (void)sqltail::tds::wire::ValidatePrelogin(bytes, &error);
      break;
  }
  return 0;
}
