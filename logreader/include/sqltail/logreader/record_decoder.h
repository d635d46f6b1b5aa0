// Decodes one physical row record (FixedVar; CD for compressed partitions) against a layout,
// without copying the row bytes: fields point into the record.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/table_layout.h"

namespace sqltail::logreader {

struct PageCompressionInfo;  // sqltail/logreader/page_compression.h

enum class RecordType : uint8_t {
  kPrimary,
  kForwarded,
  kForwardingStub,
  kIndex,
  kBlobFragment,
  kGhostIndex,
  kGhostData,
  kGhostVersion,
};
std::string_view RecordTypeName(RecordType type);  // "primary", "forwarded", ... (DESIGN names)

enum class FieldState : uint8_t {
  kValue,        // bytes hold the stored value (for bit columns: one byte, 0 or 1)
  kNull,         // SQL NULL
  kDefault,      // column absent from this record (added later): the metadata default applies
  kOffRow,       // bytes hold an off-row pointer (row-overflow / LOB root / text pointer)
  kUnavailable,  // the value cannot be known from the log (placeholder, counted by the caller)
};

struct FieldView {
  FieldState state = FieldState::kNull;
  const uint8_t* data = nullptr;  // into the record (or into a decoder-owned buffer for CD/bit values)
  uint32_t size = 0;
};

struct DecodedRecord {
  RecordType record_type = RecordType::kPrimary;
  std::vector<FieldView> fields;    // one per layout column, same order; reused across calls
  std::string forwarded_to;         // forwarding stub: "1:2345:6"
  std::string back_pointer;         // forwarded record: "1:2345:6"
  std::vector<uint8_t> scratch;     // decoder-owned bytes (bit values, expanded CD values)
  std::span<const uint8_t> record;  // the bytes last decoded (for error messages; valid while they are)
};

struct DecodeError {
  std::string message;       // says what is wrong
  uint32_t byte_offset = 0;  // in the record
  std::string column;        // column name (or "#<partition_column_id>") when the error is in a column
};

// Decodes `record` into `out` (its vectors are reused: no allocation per record in steady state).
// Returns false and fills `error` on bad input; never reads outside `record`.
bool DecodeRecord(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error);

// The same, with the compression information of the record's page (may be null): needed for
// page-compressed records (anchor prefixes, dictionary symbols); without it a page-compressed
// layout is refused with an explicit error.
bool DecodeRecord(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error,
                  const PageCompressionInfo* ci);

// Appends the canonical JSON rendering (DESIGN.md "Canonical value rendering") of one field.
// Returns false (and appends nothing) when the bytes are not a valid value of the column's type.
bool AppendCanonicalJson(const ColumnLayout& column, const FieldView& field, std::string& out);

// For the error when a field does not render: "the stored bytes 0x0102 (2 bytes at byte 14 of the
// record)"; at most 32 bytes are shown, and the offset only when the bytes lie in the record.
std::string DescribeStoredBytes(const DecodedRecord& record, const FieldView& field);

}  // namespace sqltail::logreader
