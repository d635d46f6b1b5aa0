// A parsed raw [Log Record]: the 24-byte header, the row-operation part and the element list.
// Views point into the caller's bytes; nothing is copied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sqltail/logreader/lsn.h"

namespace sqltail::logreader {

// Operation codes (log-internals §2.2).
enum class LogOp : uint8_t {
  kFormatPage = 1,
  kInsertRows = 2,
  kDeleteRows = 3,
  kModifyRow = 4,
  kModifyHeader = 5,
  kModifyColumns = 6,
  kSetBits = 7,
  kSetFreeSpace = 10,
  kDeleteSplit = 11,
  kUndoDeleteSplit = 12,
  kExpungeRows = 13,
  kBeginXact = 0x80,
  kCommitXact = 0x81,
  kAbortXact = 0x82,
  kMarkSavepoint = 0x84,
  kBeginCheckpoint = 0x96,
  kEndCheckpoint = 0x99,
};

enum class LogContext : uint8_t {
  kNull = 0,
  kHeap = 1,
  kClustered = 2,
  kIndexLeaf = 3,
  kIndexInterior = 4,
  kTextMix = 5,
  kTextTree = 6,
  kMarkAsGhost = 19,
};

// "LOP_INSERT_ROWS", "LCX_CLUSTERED"; "LOP_0x.." / "LCX_0x.." for codes without a known name.
std::string OperationName(uint8_t code);
std::string ContextName(uint8_t code);

struct TransactionId {
  uint16_t high = 0;
  uint32_t low = 0;
  std::string ToString() const;  // "0000:000002d6", as fn_dblog prints [Transaction ID]
  auto operator<=>(const TransactionId&) const = default;
};

struct PageId {
  uint16_t file = 0;
  uint32_t page = 0;
  std::string ToString() const;  // "0001:00002848", as fn_dblog prints [Page ID]
};

inline constexpr uint16_t kFlagCompensation = 0x0001;  // the record is a CLR (log-internals §2.1)

struct LogRecordView {
  std::span<const uint8_t> bytes;  // the whole record
  uint16_t fixed_length = 0;
  Lsn previous_lsn;
  uint16_t flag_bits = 0;
  TransactionId transaction_id;
  uint8_t operation = 0;
  uint8_t context = 0;

  // Page records (row operations, page formats, allocation bits...), when has_page.
  bool has_page = false;
  PageId page;
  int slot = -1;  // 0xFFFF (no slot) is -1, as fn_dblog prints it

  // Row-operation part (insert/delete/modify records), when has_row_part.
  bool has_row_part = false;
  uint64_t allocation_unit_id = 0;
  Lsn previous_page_lsn;
  uint64_t partition_id = 0;
  uint16_t offset_in_row = 0;
  uint16_t modify_size = 0;
  uint16_t row_flags = 0;

  // Elements (RowLog Contents 0..n), when the record has an element list.
  uint16_t num_elements = 0;
  std::vector<std::span<const uint8_t>> elements;  // reused across parses

  // LOP_BEGIN_XACT / LOP_COMMIT_XACT / LOP_ABORT_XACT fixed fields.
  uint8_t xact_time[8] = {};  // begin or end time, datetime layout (ticks, days)
  Lsn xact_begin_lsn;         // commit/abort: the LSN of the transaction's LOP_BEGIN_XACT

  bool IsCompensation() const { return (flag_bits & kFlagCompensation) != 0; }
  LogOp op() const { return static_cast<LogOp>(operation); }
};

struct ModifyRegion {
  uint32_t offset = 0;
  std::span<const uint8_t> before;
  std::span<const uint8_t> after;
};

// Parses `bytes` into `out` (its element vector is reused). On bad input returns false and sets `error`
// to a message naming the byte offset; never reads outside `bytes`.
bool ParseLogRecord(std::span<const uint8_t> bytes, LogRecordView& out, std::string& error);

// The byte regions of a LOP_MODIFY_ROW or LOP_MODIFY_COLUMNS record (offset, before, after).
bool ModifyRegions(const LogRecordView& record, std::vector<ModifyRegion>& out, std::string& error);

}  // namespace sqltail::logreader
