// Decoding a row change and rendering it as a canonical change-event line
// (docs/fixture-format.md; what `logreader-dump fixture --json` prints and expected.jsonl holds).
#pragma once

#include <string>

#include "sqltail/logreader/record_decoder.h"
#include "sqltail/logreader/transaction_assembler.h"

namespace sqltail::logreader {

// Decodes the row image of `change` with its table's layout (insert and update: the after image;
// delete: the before image). A partial update yields its known columns and kUnavailable for the
// rest. On failure `error` names the LSN, the table, the column and the byte offset.
bool DecodeChange(const RowChange& change, DecodedRecord& out, std::string& error);
// The before image of an update, decoded the same way.
bool DecodeChangeBefore(const RowChange& change, DecodedRecord& out, std::string& error);

// Appends `"text"` with JSON escaping.
void AppendJsonString(std::string_view text, std::string& out);

class EventLineWriter {
 public:
  // Appends one line (with the trailing newline) for `change` of `txn`.
  bool Append(const CommittedTransaction& txn, const RowChange& change, std::string& out, std::string& error);

 private:
  bool AppendRow(const RowChange& change, const DecodedRecord& decoded, const std::vector<size_t>* only,
                 std::string& out, std::string& error);
  DecodedRecord decoded_;
  DecodedRecord decoded_before_;
};

}  // namespace sqltail::logreader
