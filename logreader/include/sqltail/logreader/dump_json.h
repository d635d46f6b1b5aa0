// The JSON shapes of `logreader-dump record | logrecord | splice` (DESIGN.md; other tools compare
// against these keys).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/log_record.h"
#include "sqltail/logreader/record_decoder.h"
#include "sqltail/logreader/table_layout.h"

namespace sqltail::logreader {

// {"record_type": "primary", "columns": {...}} (+ forwarded_to / back_pointer). False with `error`
// naming the column when a value cannot be rendered.
bool DecodedRecordToJson(const TableLayout& layout, const DecodedRecord& record, std::string& out, std::string& error);

// {"operation": ..., "context": ..., "transaction_id": ..., ...}
bool LogRecordToJson(const LogRecordView& record, std::string& out, std::string& error);

// after = before_row[:offset] + after_bytes + before_row[offset + len(before_bytes):]; false when the
// region does not lie inside the row or the row does not hold `before` at `offset`.
bool SpliceRegion(std::span<const uint8_t> row, uint32_t offset, std::span<const uint8_t> before,
                  std::span<const uint8_t> after, std::vector<uint8_t>& out, std::string& error);

}  // namespace sqltail::logreader
