// The snapshot's text forms: columns whose CONVERT(varbinary) layout is unconfirmed are SELECTed as
// the text of a CONVERT style Microsoft documents, and that text is turned back into the stored
// bytes (log-internals §3.2) the record decoder reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/logreader/table_layout.h"

namespace sqltail::engine {

// The SELECT expression for a column read as text ("CONVERT(char(10), [c], 23)"), or nullopt when
// the column's type is not read as text.
std::optional<std::string> SnapshotTextExpression(const logreader::ColumnLayout& column, std::string_view quoted_name);

// The stored bytes of `text` (what SnapshotTextExpression's CONVERT printed) for `column`. False
// with `what` saying why the text is not a value of the column.
bool StoredBytesFromSnapshotText(const logreader::ColumnLayout& column, std::string_view text,
                                 std::vector<uint8_t>& out, std::string& what);

}  // namespace sqltail::engine
