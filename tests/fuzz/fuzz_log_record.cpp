// Fuzz target: the [Log Record] parser and the JSON rendering of what it parsed.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "sqltail/logreader/dump_json.h"
#include "sqltail/logreader/log_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sqltail::logreader::LogRecordView record;
  std::string error, json;
  if (sqltail::logreader::ParseLogRecord(std::span<const uint8_t>(data, size), record, error)) {
    (void)sqltail::logreader::LogRecordToJson(record, json, error);
  }
  return 0;
}
