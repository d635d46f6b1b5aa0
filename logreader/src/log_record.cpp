#include "sqltail/logreader/log_record.h"

#include <cstdio>
#include <cstring>

#include "byte_reader.h"

namespace sqltail::logreader {
namespace {

struct NamedCode {
  uint8_t code;
  const char* name;
};

// Codes both public parsers agree on (log-internals §2.2).
constexpr NamedCode kOperations[] = {
    {1, "LOP_FORMAT_PAGE"},        {2, "LOP_INSERT_ROWS"},       {3, "LOP_DELETE_ROWS"},
    {4, "LOP_MODIFY_ROW"},         {5, "LOP_MODIFY_HEADER"},     {6, "LOP_MODIFY_COLUMNS"},
    {7, "LOP_SET_BITS"},           {10, "LOP_SET_FREE_SPACE"},   {11, "LOP_DELETE_SPLIT"},
    {12, "LOP_UNDO_DELETE_SPLIT"}, {13, "LOP_EXPUNGE_ROWS"},     {18, "LOP_COUNT_DELTA"},
    {20, "LOP_COMPRESSION_INFO"},  {0x80, "LOP_BEGIN_XACT"},     {0x81, "LOP_COMMIT_XACT"},
    {0x82, "LOP_ABORT_XACT"},      {0x84, "LOP_MARK_SAVEPOINT"}, {0x89, "LOP_HOBT_DDL"},
    {0x8A, "LOP_IDENT_NEWVAL"},    {0x8B, "LOP_IDENT_SENTVAL"},  {0x8C, "LOP_HOBT_DELTA"},
    {0x8D, "LOP_LOCK_XACT"},       {0x96, "LOP_BEGIN_CKPT"},     {0x98, "LOP_XACT_CKPT"},
    {0x99, "LOP_END_CKPT"},
};

constexpr NamedCode kContexts[] = {
    {0, "LCX_NULL"},
    {1, "LCX_HEAP"},
    {2, "LCX_CLUSTERED"},
    {3, "LCX_INDEX_LEAF"},
    {4, "LCX_INDEX_INTERIOR"},
    {5, "LCX_TEXT_MIX"},
    {6, "LCX_TEXT_TREE"},
    {7, "LCX_DIAGNOSTICS"},
    {8, "LCX_GAM"},
    {9, "LCX_SGAM"},
    {10, "LCX_IAM"},
    {11, "LCX_PFS"},
    {12, "LCX_IDENTITY_VALUE"},
    {13, "LCX_OBJECT_ID"},
    {14, "LCX_NONSYS_SPLIT"},
    {17, "LCX_FILE_HEADER"},
    {18, "LCX_SCHEMA_VERSION"},
    {19, "LCX_MARK_AS_GHOST"},
    {20, "LCX_BOOT_PAGE"},
    {21, "LCX_SYSCONFIG_PAGE"},
    {23, "LCX_BOOT_PAGE_CKPT"},
    {24, "LCX_DIFF_MAP"},
    {25, "LCX_ML_MAP"},
    {26, "LCX_REMOVE_VERSION_INFO"},
    {27, "LCX_DBCC_FORMATTED"},
    {28, "LCX_UNLINKED_REORG_PAGE"},
    {29, "LCX_BULK_OPERATION_PAGE"},
    {30, "LCX_TRACKED_XDES"},
};

template <size_t N>
std::string NameOf(const NamedCode (&table)[N], uint8_t code, const char* prefix) {
  for (const auto& entry : table)
    if (entry.code == code) return entry.name;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s0x%02X", prefix, code);
  return buf;
}

bool IsTransactionRecord(uint8_t op) {
  return op == 0x80 || op == 0x81 || op == 0x82 || op == 0x84 || op == 0x96 || op == 0x98 || op == 0x99;
}

// Operations whose fixed part carries the 62-byte row-operation layout (log-internals §2.1).
bool HasRowOperationPart(uint8_t op) {
  return op == 2 || op == 3 || op == 4 || op == 6 || op == 11 || op == 12 || op == 13;
}

Lsn ReadLsn(const uint8_t* p) { return Lsn(LoadLe32(p), LoadLe32(p + 4), LoadLe16(p + 8)); }

}  // namespace

std::string OperationName(uint8_t code) { return NameOf(kOperations, code, "LOP_"); }
std::string ContextName(uint8_t code) { return NameOf(kContexts, code, "LCX_"); }

std::string TransactionId::ToString() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x:%08x", static_cast<unsigned>(high), static_cast<unsigned>(low));
  return buf;
}

std::string PageId::ToString() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x:%08x", static_cast<unsigned>(file), static_cast<unsigned>(page));
  return buf;
}

bool ParseLogRecord(std::span<const uint8_t> bytes, LogRecordView& out, std::string& error) {
  auto fail = [&](size_t offset, const char* what) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "log record: %s at byte %zu (record is %zu bytes)", what, offset, bytes.size());
    error = buf;
    return false;
  };
  out.bytes = bytes;
  out.elements.clear();
  out.num_elements = 0;
  out.has_page = false;
  out.has_row_part = false;
  if (bytes.size() < 24) return fail(0, "shorter than the 24-byte header");
  const uint8_t* p = bytes.data();
  out.fixed_length = LoadLe16(p + 2);
  out.previous_lsn = ReadLsn(p + 4);
  out.flag_bits = LoadLe16(p + 14);
  out.transaction_id.low = LoadLe32(p + 16);
  out.transaction_id.high = LoadLe16(p + 20);
  out.operation = p[22];
  out.context = p[23];
  if (out.fixed_length < 24) return fail(2, "fixed length below the 24-byte header");
  if (out.fixed_length > bytes.size()) return fail(2, "fixed length past the end of the record");

  if (out.operation == 0x80) {  // BEGIN_XACT: begin time at 40
    if (out.fixed_length < 48) return fail(40, "BEGIN_XACT fixed part too short for the begin time");
    std::memcpy(out.xact_time, p + 40, 8);
  } else if (out.operation == 0x81 || out.operation == 0x82) {  // COMMIT/ABORT: end time at 24, begin LSN at 32
    if (out.fixed_length < 42) return fail(24, "COMMIT/ABORT fixed part too short for end time and begin LSN");
    std::memcpy(out.xact_time, p + 24, 8);
    out.xact_begin_lsn = ReadLsn(p + 32);
  }

  if (!IsTransactionRecord(out.operation) && out.fixed_length >= 32) {
    out.has_page = true;
    out.page.page = LoadLe32(p + 24);
    out.page.file = LoadLe16(p + 28);
    uint16_t slot = LoadLe16(p + 30);
    out.slot = slot == 0xFFFF ? -1 : slot;
  }
  if (HasRowOperationPart(out.operation)) {
    if (out.fixed_length < 62) return fail(2, "row operation with a fixed part shorter than 62 bytes");
    out.has_row_part = true;
    uint64_t id_obj = LoadLe32(p + 32);
    out.previous_page_lsn = ReadLsn(p + 36);
    uint64_t id_ind = LoadLe16(p + 46);
    out.allocation_unit_id = (id_ind << 48) | (id_obj << 16);
    out.partition_id = LoadLe64(p + 48);
    out.offset_in_row = LoadLe16(p + 56);
    out.modify_size = LoadLe16(p + 58);
    out.row_flags = LoadLe16(p + 60);
  }

  // Element list: count at the fixed length, the lengths, pad to 4, each element padded to 4.
  size_t pos = out.fixed_length;
  if (pos + 2 > bytes.size()) return true;  // records without an element list
  out.num_elements = LoadLe16(p + pos);
  pos += 2;
  size_t lengths_at = pos;
  if (out.num_elements > (bytes.size() - pos) / 2) return fail(out.fixed_length, "element count past the end");
  pos += 2u * out.num_elements;
  pos = (pos + 3) & ~size_t{3};
  for (uint16_t i = 0; i < out.num_elements; ++i) {
    size_t length = LoadLe16(p + lengths_at + 2u * i);
    if (pos > bytes.size() || length > bytes.size() - pos) {
      return fail(pos, ("element " + std::to_string(i) + " past the end").c_str());
    }
    out.elements.emplace_back(p + pos, length);
    pos += (length + 3) & ~size_t{3};
  }
  return true;
}

bool ModifyRegions(const LogRecordView& record, std::vector<ModifyRegion>& out, std::string& error) {
  out.clear();
  if (record.op() == LogOp::kModifyRow) {
    if (record.elements.size() < 2) {
      error = "LOP_MODIFY_ROW with fewer than 2 elements";
      return false;
    }
    out.push_back({record.offset_in_row, record.elements[0], record.elements[1]});
    return true;
  }
  if (record.op() == LogOp::kModifyColumns) {
    // el0: (before offset, after offset) word pairs; el1: before lengths; el2 key; el3 lock info;
    // then a (before, after) element pair per region (log-internals §2.2, vector 23). Regions past
    // element 5 are only in [Log Record], which is what we parse.
    if (record.elements.size() < 4) {
      error = "LOP_MODIFY_COLUMNS with fewer than 4 elements";
      return false;
    }
    auto offsets = record.elements[0];
    if (offsets.size() % 4 != 0) {
      // A stray half pair would mean the layout is not the one we know: refuse rather than guess.
      error = "LOP_MODIFY_COLUMNS: element 0 has " + std::to_string(offsets.size()) +
              " bytes, not whole (before, after) offset pairs";
      return false;
    }
    size_t regions = offsets.size() / 4;
    if (record.elements.size() < 4 + 2 * regions) {
      error = "LOP_MODIFY_COLUMNS: " + std::to_string(regions) + " regions but only " +
              std::to_string(record.elements.size()) + " elements";
      return false;
    }
    for (size_t i = 0; i < regions; ++i) {
      uint32_t offset = LoadLe16(offsets.data() + 4 * i);
      out.push_back({offset, record.elements[4 + 2 * i], record.elements[5 + 2 * i]});
    }
    return true;
  }
  error = "not a modify record: " + OperationName(record.operation);
  return false;
}

}  // namespace sqltail::logreader
