// Fuzz target: the text parsers of external input: table layout JSON, LSN text, checkpoint values,
// fn_dblog query text (tds-replay), and the TDS LOGIN7 / PRELOGIN parsers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sqltail/engine/checkpoint.h"
#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/table_layout.h"
#include "sqltail/replay/fn_dblog_query.h"
#include "sqltail/tds/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::span<const uint8_t> bytes(data + 1, size - 1);
  std::string error;
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
