// `logreader-dump`'s change-event listing: the events any log source yields (fixture, live server,
// log backup), filtered, as the canonical JSON lines (change_event.h) or as a table for people.
// Independent of where the rows come from: the caller opens the source.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/logreader/log_record.h"
#include "sqltail/logreader/log_source.h"
#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/transaction_assembler.h"

namespace sqltail::logreader {

// Which events to show; an unset part selects everything.
struct EventFilter {
  std::vector<std::string> tables;  // "schema.table" patterns with * and ?, case-insensitive; any may match
  std::string ops;                  // the Debezium ops to keep ('c', 'u', 'd'); empty: all
  std::optional<TransactionId> transaction;
  std::optional<Lsn> from_lsn;  // change LSN >= from_lsn
  std::optional<Lsn> to_lsn;    // change LSN <= to_lsn

  bool Matches(const CommittedTransaction& txn, const RowChange& change) const;
  // Parsers for the command line; false with `error` saying what is accepted.
  bool AddOps(std::string_view list, std::string& error);                     // "c", "u,d", "insert,delete"
  bool SetTransaction(std::string_view text, std::string& error);             // "0000:000002d6" as fn_dblog prints it
  static bool ParseLsn(std::string_view text, Lsn& out, std::string& error);  // any form Lsn::Parse accepts
};

// One table row per event: LSN, operation, table, transaction, key and the changed columns (insert:
// the new values, update: "column: before -> after" for each column that differs, delete: the old
// values; "?" marks a column the log does not determine). Long values are shortened.
std::string EventTableHeader();
// `json_line` is one canonical event line (EventLineWriter). False when it is not one.
bool EventTableRow(std::string_view json_line, std::string& out, std::string& error);

struct EventDumpOptions {
  EventFilter filter;
  bool json = false;           // canonical JSON lines instead of the table
  size_t batch_rows = 100000;  // rows per ReadLog call
  SpillOptions spill;          // transactions past the memory budget go to disk (off by default)
};

// Reads `source` from the start of its log to its end, assembling transactions, and writes every
// matching event (with its trailing newline; the table header first) to `write`.
bool DumpEvents(LogSource& source, const EventDumpOptions& options, const std::function<void(std::string_view)>& write,
                std::string& error);

}  // namespace sqltail::logreader
