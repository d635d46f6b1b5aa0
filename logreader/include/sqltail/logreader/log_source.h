// Where log rows come from: a live database (fn_dblog over TDS), a log backup (fn_dump_dblog) or a
// fixture directory. All yield the same rows: the fn_dblog columns of docs/fixture-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/lsn.h"

namespace sqltail::logreader {

// fn_dblog's [Log Record] is varbinary(8000): a longer record is cut to this many bytes.
inline constexpr size_t kMaxLogRecordColumnBytes = 8000;

struct LogRow {
  Lsn current_lsn;
  std::span<const uint8_t> log_record;  // [Log Record]; valid only during the callback
  // [Log Record Length]; -1: not known. The live source reads it only for a [Log Record] of
  // kMaxLogRecordColumnBytes, the one length at which the record may have been cut.
  int log_record_length = -1;
};

// What a source knows about the server's log and its own connection (metrics); all zero for
// sources that have no server behind them.
struct SourceHealth {
  uint64_t reconnects = 0;        // connections re-established after a drop or a timeout
  uint64_t backup_rows = 0;       // rows read from log backups (fn_dump_dblog) instead of the active log
  bool log_bounds_known = false;  // sys.dm_db_log_stats answered with LSNs (see docs/operator-guide.md)
  Lsn log_min_lsn;                // the oldest LSN still in the active log
  Lsn log_end_lsn;                // the last LSN written
  // The last ReadLog failed because its position is in neither the active log nor a readable log
  // backup (capture.snapshot_mode = when_needed then takes a new snapshot).
  bool position_lost = false;
};

// capture.log_safeguard = open_transaction: where the safeguard's row lives (docs/operator-guide.md).
struct LogHoldOptions {
  std::string schema = "dbo";
  std::string table = "sqltail_truncation_safeguard";
  std::string owner;  // the rows' key: which capture holds them (its topic prefix)
};

// Holds transactions open on dedicated connections (kSlots of them, one transaction each): while a
// transaction is open, SQL Server does not truncate the log past the virtual log file that holds its
// begin record. Every call names what failed in `error`.
class LogHolder {
 public:
  static constexpr int kSlots = 2;
  virtual ~LogHolder() = default;
  // Creates the safeguard table when it is missing. `fatal`: the mode cannot work on this database
  // (retrying will not help), as opposed to a refusal that may be fixed meanwhile (a permission).
  virtual bool Prepare(std::string& error, bool& fatal) = 0;
  // On slot's connection (connected or reconnected first): begins a transaction that writes the
  // slot's row and leaves it open; `begin` is the LSN of its begin record as the server reports it.
  virtual bool Hold(int slot, Lsn& begin, std::string& error) = 0;
  // Whether the slot's transaction is still open. A lost connection is not an error: `open` is then
  // false (the server rolled the transaction back). False only when the question could not be asked.
  virtual bool Check(int slot, bool& open, std::string& error) = 0;
  // Commits the slot's transaction (the log before it may then be truncated).
  virtual bool Release(int slot, std::string& error) = 0;
  // Connections re-established after a loss.
  virtual uint64_t Reconnects() const = 0;
};

class LogSource {
 public:
  using RowHandler = std::function<bool(const LogRow&, std::string& error)>;
  virtual ~LogSource() = default;

  virtual bool ReadCatalog(Catalog& out, std::string& error) = 0;

  // Delivers rows with LSN >= from (from the start of the log when `from` is zero), in log order, at
  // most max_rows. `delivered` counts them. Stops early when the handler returns false.
  virtual bool ReadLog(Lsn from, size_t max_rows, const RowHandler& on_row, size_t& delivered, std::string& error) = 0;

  virtual SourceHealth Health() const { return {}; }

  // capture.log_safeguard = repldone: tells the server that every transaction up to the one that
  // began at `begin` and committed at `commit` has been captured (its checkpoint is durable), so the
  // log before them may be truncated. False with `error` when the server refused. Sources without a
  // server do nothing.
  virtual bool MarkCaptured(Lsn /*begin*/, Lsn /*commit*/, std::string& /*error*/) { return true; }

  // capture.log_safeguard = open_transaction: a holder on connections of its own. Sources without a
  // server return nullptr with `error`.
  virtual std::unique_ptr<LogHolder> OpenHolder(const LogHoldOptions& /*options*/, std::string& error) {
    error = "this log source has no server to hold a transaction on";
    return nullptr;
  }
};

// The sp_repldone batch that marks the transaction (begin, commit) as the last one distributed;
// LSNs as binary(10) (4-byte VLF, 4-byte block, 2-byte slot, big-endian).
std::string RepldoneBatch(Lsn begin, Lsn commit);

// A fixture directory (catalog.json + log.jsonl), read once into memory.
std::unique_ptr<LogSource> OpenFixtureSource(const std::string& directory, std::string& error);

// Decodes "0x..." hex into bytes (appended to out). False on odd length or a non-hex digit.
bool DecodeHex(std::string_view hex, std::vector<uint8_t>& out);

}  // namespace sqltail::logreader
