// Pieces shared by the FixedVar and CD record decoders.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "sqltail/logreader/record_decoder.h"

namespace sqltail::logreader::decode {

// "name" for named columns, "#<partition_column_id>" for hidden ones (uniquifier, dropped).
std::string ColumnLabel(const TableLayout& layout, size_t column_index);

// Fills `error` and returns false, so call sites read `return Fail(...)`.
bool Fail(DecodeError& error, uint32_t byte_offset, std::string column, std::string message);

// The value a column takes when the record predates it (online ADD COLUMN).
FieldView MissingColumnField(const ColumnLayout& column);

// Row- or page-compressed (CD) record; `out.fields` and `out.scratch` are already sized. `ci` (may be
// null) is the page's compression information: anchor prefixes and dictionary symbols.
bool DecodeCompressedRecord(const TableLayout& layout, std::span<const uint8_t> record, const PageCompressionInfo* ci,
                            DecodedRecord& out, DecodeError& error);

}  // namespace sqltail::logreader::decode
