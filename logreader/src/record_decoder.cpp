// FixedVar record decoding (reference/log-internals.md §3): locates every physical column of a layout
// inside one record without copying it. Row-compressed records go to decode/cd_record.cpp.
#include "sqltail/logreader/record_decoder.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "decode/bytes.h"
#include "decode/record_common.h"
#include "sqltail/logreader/page_compression.h"

namespace sqltail::logreader {
namespace {

using decode::Fail;
using decode::ReadU16;
using decode::ReadU32;

constexpr uint8_t kStatusNullBitmap = 0x10;
constexpr uint8_t kStatusVariableColumns = 0x20;
constexpr uint8_t kStatusVersioningTag = 0x40;
constexpr uint32_t kVersioningTagSize = 14;
constexpr uint16_t kComplexColumnBit = 0x8000;
constexpr uint16_t kSparseVectorHeader = 5;
constexpr uint16_t kBackPointerHeader = 4;
constexpr uint32_t kBackPointerSize = 10;  // 2-byte header + page(4) + file(2) + slot(2)
constexpr uint32_t kForwardingStubSize = 9;

bool IsIndexType(RecordType type) { return type == RecordType::kIndex || type == RecordType::kGhostIndex; }

// "file:page:slot" from page(4) file(2) slot(2), the RID order of stubs and back pointers.
void FormatRid(const uint8_t* rid, std::string& out) {
  out.clear();
  out += std::to_string(ReadU16(rid + 4));
  out += ':';
  out += std::to_string(ReadU32(rid));
  out += ':';
  out += std::to_string(ReadU16(rid + 6));
}

// One variable-column slot of the record: [begin, end) plus the complex flag.
struct VarEntry {
  uint32_t begin = 0;
  uint32_t end = 0;
  bool complex = false;
};

class FixedVarDecoder {
 public:
  FixedVarDecoder(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error)
      : layout_(layout), record_(record), out_(out), error_(error) {}

  bool Decode() {
    const uint8_t status_a = record_[0];
    out_.record_type = static_cast<RecordType>((status_a >> 1) & 7);
    switch (out_.record_type) {
      case RecordType::kForwardingStub:
        return DecodeForwardingStub();
      case RecordType::kBlobFragment:
        return Fail(error_, 0, "", "blob fragment records hold LOB data, not a row; not decodable as a row");
      default:
        break;
    }
    if (!ReadHeader(status_a)) return false;
    if (!ReadVariableOffsets(status_a)) return false;
    if (!TakeSpecialColumns()) return false;
    for (size_t index = 0; index < layout_.columns.size(); ++index) {
      if (!LocateColumn(index)) return false;
    }
    return true;
  }

 private:
  bool DecodeForwardingStub() {
    if (record_.size() < kForwardingStubSize) {
      return Fail(error_, static_cast<uint32_t>(record_.size()), "",
                  "forwarding stub needs 9 bytes, record has " + std::to_string(record_.size()));
    }
    FormatRid(record_.data() + 1, out_.forwarded_to);
    // The row lives at the forwarded location: nothing about its columns is in this record.
    for (auto& field : out_.fields) field = FieldView{FieldState::kUnavailable, nullptr, 0};
    return true;
  }

  bool ReadHeader(uint8_t status_a) {
    const uint32_t size = static_cast<uint32_t>(record_.size());
    if (IsIndexType(out_.record_type)) {
      // Index records: 1 status byte and no stored fixed-part length; the fixed part is the key
      // columns' bytes as the layout places them (leaf level; a branch row's child pointer would
      // make the column count read here exceed the layout and fail).
      header_size_ = 1;
      fixed_end_ = 1;
      for (const auto& column : layout_.columns) {
        if (column.is_sparse || column.IsVariable()) continue;
        fixed_end_ = std::max<uint32_t>(fixed_end_, static_cast<uint32_t>(column.leaf_offset + FixedSize(column)));
      }
      if (fixed_end_ > size) {
        return Fail(error_, size, "",
                    "index record ends before its fixed part (needs " + std::to_string(fixed_end_) + " bytes)");
      }
    } else {
      header_size_ = 4;
      if (size < 4) return Fail(error_, size, "", "record shorter than its 4-byte header");
      fixed_end_ = ReadU16(record_.data() + 2);
      if (fixed_end_ < 4 || fixed_end_ > size) {
        return Fail(
            error_, 2, "",
            "fixed part end " + std::to_string(fixed_end_) + " outside the record (size " + std::to_string(size) + ")");
      }
    }
    position_ = fixed_end_;
    const size_t layout_columns = layout_.columns.size();
    if (status_a & kStatusNullBitmap) {
      if (position_ + 2 > size) return Fail(error_, position_, "", "record ends inside the column count");
      column_count_ = ReadU16(record_.data() + position_);
      if (column_count_ > layout_columns) {
        return Fail(error_, position_, "",
                    "record has " + std::to_string(column_count_) + " columns, the layout only " +
                        std::to_string(layout_columns));
      }
      position_ += 2;
      const uint32_t bitmap_size = (column_count_ + 7) / 8;
      if (position_ + bitmap_size > size) return Fail(error_, position_, "", "record ends inside the NULL bitmap");
      null_bitmap_ = record_.data() + position_;
      null_bitmap_bits_ = column_count_;
      position_ += bitmap_size;
    } else {
      // No NULL bitmap means no column count either (e.g. sparse-only tables, NOT NULL index keys):
      // every physical column is present.
      column_count_ = static_cast<uint32_t>(layout_columns);
    }
    return true;
  }

  bool ReadVariableOffsets(uint8_t status_a) {
    uint32_t size = static_cast<uint32_t>(record_.size());
    if (status_a & kStatusVersioningTag) {
      // The 14-byte versioning tag trails the row data and is not part of any column.
      if (size < position_ + kVersioningTagSize) {
        return Fail(error_, position_, "", "record too short for its 14-byte versioning tag");
      }
      size -= kVersioningTagSize;
    }
    data_end_ = size;
    var_count_ = 0;
    if (!(status_a & kStatusVariableColumns)) return true;
    if (position_ + 2 > data_end_) return Fail(error_, position_, "", "record ends inside the variable column count");
    var_count_ = ReadU16(record_.data() + position_);
    position_ += 2;
    if (position_ + 2 * var_count_ > data_end_) {
      return Fail(error_, position_, "", "record ends inside the variable column offset array");
    }
    var_offsets_at_ = position_;
    var_data_begin_ = position_ + 2 * var_count_;
    // Validate every end offset once; EntryAt can then trust them.
    uint32_t begin = var_data_begin_;
    for (uint32_t entry = 0; entry < var_count_; ++entry) {
      const uint32_t offset_at = var_offsets_at_ + 2 * entry;
      const uint32_t end = ReadU16(record_.data() + offset_at) & ~kComplexColumnBit;
      if (end < begin || end > data_end_) {
        return Fail(error_, offset_at, VariableColumnLabel(entry + 1),
                    "variable column " + std::to_string(entry + 1) + " ends at " + std::to_string(end) + ", outside " +
                        std::to_string(begin) + ".." + std::to_string(data_end_));
      }
      begin = end;
    }
    regular_var_count_ = var_count_;
    return true;
  }

  // The column stored as variable column `ordinal` (1-based), or "" when the layout has none there.
  std::string VariableColumnLabel(uint32_t ordinal) const {
    for (size_t index = 0; index < layout_.columns.size(); ++index) {
      if (layout_.columns[index].leaf_offset == -static_cast<int>(ordinal)) return decode::ColumnLabel(layout_, index);
    }
    return "";
  }

  VarEntry EntryAt(uint32_t entry) const {
    const uint16_t raw = ReadU16(record_.data() + var_offsets_at_ + 2 * entry);
    const uint32_t begin = entry == 0
                               ? var_data_begin_
                               : (ReadU16(record_.data() + var_offsets_at_ + 2 * (entry - 1)) & ~kComplexColumnBit);
    return VarEntry{begin, static_cast<uint32_t>(raw & ~kComplexColumnBit), (raw & kComplexColumnBit) != 0};
  }

  // The forwarded record's back pointer and the sparse vector are extra complex variable columns
  // after the layout's own variable columns; take them out before mapping ordinals.
  bool TakeSpecialColumns() {
    if (out_.record_type == RecordType::kForwarded) {
      if (regular_var_count_ == 0) return Fail(error_, position_, "", "forwarded record without a back pointer");
      const VarEntry last = EntryAt(regular_var_count_ - 1);
      if (!last.complex || last.end - last.begin != kBackPointerSize ||
          ReadU16(record_.data() + last.begin) != kBackPointerHeader) {
        return Fail(error_, last.begin, "", "forwarded record: last variable column is not a back pointer");
      }
      FormatRid(record_.data() + last.begin + 2, out_.back_pointer);
      --regular_var_count_;
    }
    int max_ordinal = 0;
    bool has_sparse = false;
    for (const auto& column : layout_.columns) {
      if (column.is_sparse) {
        has_sparse = true;
      } else if (column.IsVariable()) {
        max_ordinal = std::max(max_ordinal, -column.leaf_offset);
      }
    }
    has_sparse_vector_ = false;
    if (has_sparse && regular_var_count_ > static_cast<uint32_t>(max_ordinal)) {
      const VarEntry last = EntryAt(regular_var_count_ - 1);
      if (last.complex && last.end - last.begin >= 4 && ReadU16(record_.data() + last.begin) == kSparseVectorHeader) {
        sparse_vector_ = last;
        has_sparse_vector_ = true;
        --regular_var_count_;
      }
    }
    if (regular_var_count_ > static_cast<uint32_t>(max_ordinal)) {
      return Fail(error_, position_ - 2, "",
                  "record has " + std::to_string(regular_var_count_) + " variable columns, the layout only " +
                      std::to_string(max_ordinal));
    }
    return true;
  }

  static uint32_t FixedSize(const ColumnLayout& column) {
    return column.type == SqlType::kBit ? 1u : static_cast<uint32_t>(column.max_length);
  }

  bool LocateColumn(size_t index) {
    const ColumnLayout& column = layout_.columns[index];
    FieldView& field = out_.fields[index];
    if (column.is_sparse) return LocateSparse(index);
    if (index >= column_count_) {
      field = decode::MissingColumnField(column);
      return true;
    }
    if (null_bitmap_ != nullptr) {
      const uint32_t bit = static_cast<uint32_t>(column.leaf_null_bit - 1);
      if (bit >= null_bitmap_bits_) {
        return Fail(error_, fixed_end_, decode::ColumnLabel(layout_, index),
                    "NULL bit " + std::to_string(column.leaf_null_bit) + " beyond the record's " +
                        std::to_string(null_bitmap_bits_) + " columns");
      }
      if (null_bitmap_[bit / 8] & (1u << (bit % 8))) {
        field = FieldView{FieldState::kNull, nullptr, 0};
        return true;
      }
    }
    if (column.IsVariable()) {
      const uint32_t ordinal = static_cast<uint32_t>(-column.leaf_offset);
      if (ordinal > regular_var_count_) {
        // Trailing NULL variable columns have no offset entry.
        field = FieldView{FieldState::kNull, nullptr, 0};
        return true;
      }
      const VarEntry entry = EntryAt(ordinal - 1);
      field = FieldView{entry.complex ? FieldState::kOffRow : FieldState::kValue, record_.data() + entry.begin,
                        entry.end - entry.begin};
      return true;
    }
    const uint32_t begin = static_cast<uint32_t>(column.leaf_offset);
    const uint32_t size = FixedSize(column);
    if (begin < header_size_ || begin + size > fixed_end_) {
      return Fail(error_, begin, decode::ColumnLabel(layout_, index),
                  "fixed column at " + std::to_string(begin) + " size " + std::to_string(size) +
                      " lies outside the fixed part " + std::to_string(header_size_) + ".." +
                      std::to_string(fixed_end_));
    }
    if (column.type == SqlType::kBit) {
      // Other bits of the shared byte belong to other columns or are garbage.
      uint8_t& value = out_.scratch[scratch_used_++];
      value = (record_[begin] >> column.leaf_bit_position) & 1;
      field = FieldView{FieldState::kValue, &value, 1};
      return true;
    }
    field = FieldView{FieldState::kValue, record_.data() + begin, size};
    return true;
  }

  // Sparse vector: header 5, count, column ids, end offsets relative to the vector, values.
  bool LocateSparse(size_t index) {
    const ColumnLayout& column = layout_.columns[index];
    FieldView& field = out_.fields[index];
    field = FieldView{FieldState::kNull, nullptr, 0};
    if (!has_sparse_vector_) return true;
    const uint32_t base = sparse_vector_.begin;
    const uint32_t vector_size = sparse_vector_.end - base;
    const uint8_t* vector = record_.data() + base;
    const uint32_t count = ReadU16(vector + 2);
    uint32_t values_begin = 4 + 4 * count;
    if (values_begin > vector_size) {
      return Fail(error_, base, decode::ColumnLabel(layout_, index), "sparse vector shorter than its header");
    }
    uint32_t begin = values_begin;
    for (uint32_t entry = 0; entry < count; ++entry) {
      const uint32_t end = ReadU16(vector + 4 + 2 * count + 2 * entry);
      if (end < begin || end > vector_size) {
        return Fail(error_, base + 4 + 2 * count + 2 * entry, decode::ColumnLabel(layout_, index),
                    "sparse vector entry " + std::to_string(entry + 1) + " ends outside the vector");
      }
      if (ReadU16(vector + 4 + 2 * entry) == static_cast<uint32_t>(column.column_id)) {
        field = FieldView{FieldState::kValue, vector + begin, end - begin};
        return true;
      }
      begin = end;
    }
    return true;
  }

  const TableLayout& layout_;
  std::span<const uint8_t> record_;
  DecodedRecord& out_;
  DecodeError& error_;
  uint32_t header_size_ = 0;
  uint32_t fixed_end_ = 0;
  uint32_t position_ = 0;
  uint32_t column_count_ = 0;
  const uint8_t* null_bitmap_ = nullptr;
  uint32_t null_bitmap_bits_ = 0;
  uint32_t data_end_ = 0;
  uint32_t var_count_ = 0;
  uint32_t regular_var_count_ = 0;
  uint32_t var_offsets_at_ = 0;
  uint32_t var_data_begin_ = 0;
  VarEntry sparse_vector_;
  bool has_sparse_vector_ = false;
  size_t scratch_used_ = 0;
};

}  // namespace

namespace decode {

std::string ColumnLabel(const TableLayout& layout, size_t column_index) {
  const ColumnLayout& column = layout.columns[column_index];
  if (column.name) return *column.name;
  return "#" + std::to_string(column_index + 1);
}

bool Fail(DecodeError& error, uint32_t byte_offset, std::string column, std::string message) {
  error.byte_offset = byte_offset;
  error.column = std::move(column);
  error.message = std::move(message);
  if (!error.column.empty()) error.message += " (column " + error.column + ")";
  error.message += " at byte " + std::to_string(byte_offset);
  return false;
}

FieldView MissingColumnField(const ColumnLayout& column) {
  return FieldView{column.has_default ? FieldState::kDefault : FieldState::kNull, nullptr, 0};
}

}  // namespace decode

std::string_view RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kPrimary:
      return "primary";
    case RecordType::kForwarded:
      return "forwarded";
    case RecordType::kForwardingStub:
      return "forwarding_stub";
    case RecordType::kIndex:
      return "index";
    case RecordType::kBlobFragment:
      return "blob_fragment";
    case RecordType::kGhostIndex:
      return "ghost_index";
    case RecordType::kGhostData:
      return "ghost_data";
    case RecordType::kGhostVersion:
      return "ghost_version";
  }
  return "unknown";
}

bool DecodeRecord(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error) {
  return DecodeRecord(layout, record, out, error, nullptr);
}

bool DecodeRecord(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error,
                  const PageCompressionInfo* ci) {
  out.record = record;
  out.fields.resize(layout.columns.size());
  out.forwarded_to.clear();
  out.back_pointer.clear();
  // Scratch never grows during a decode (field pointers into it must stay valid): size it for the
  // worst case first. Bit columns need one byte; expanded CD values at most their fixed size, and
  // variable ones (SCSU text, anchor prefix + suffix) at most a small multiple of the bytes they
  // come from; the CD decoder checks every take against this size.
  size_t scratch_needed = 0;
  for (const auto& column : layout.columns) {
    if (column.type == SqlType::kBit) {
      scratch_needed += 1;
    } else if (layout.compression != Compression::kNone && !column.IsVariable() && column.max_length > 0) {
      scratch_needed += static_cast<size_t>(column.max_length);
    }
  }
  if (layout.compression != Compression::kNone) {
    const size_t sources = record.size() + (ci != nullptr ? 2 * ci->bytes.size() : 0);
    scratch_needed += 16 + 5 * sources;
  }
  out.scratch.resize(scratch_needed);
  if (layout.columns.empty()) return Fail(error, 0, "", "layout has no columns");
  if (record.empty()) return Fail(error, 0, "", "record is empty");
  switch (layout.compression) {
    case Compression::kPage:
      // Page-compressed values may be anchor-prefix or dictionary references into the page's CI
      // structure, which a log record does not carry.
      if (ci == nullptr) {
        return Fail(error, 0, "", "page-compressed record needs the page's compression information");
      }
      return decode::DecodeCompressedRecord(layout, record, ci, out, error);
    case Compression::kRow:
      return decode::DecodeCompressedRecord(layout, record, ci, out, error);
    case Compression::kNone:
      break;
  }
  return FixedVarDecoder(layout, record, out, error).Decode();
}

std::string DescribeStoredBytes(const DecodedRecord& record, const FieldView& field) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  constexpr uint32_t kShown = 32;
  std::string text = "the stored bytes 0x";
  for (uint32_t i = 0; i < field.size && i < kShown; ++i) {
    text.push_back(kDigits[field.data[i] >> 4]);
    text.push_back(kDigits[field.data[i] & 15]);
  }
  if (field.size > kShown) text += "...";
  text += " (" + std::to_string(field.size) + " bytes";
  const uint8_t* begin = record.record.data();
  // Compare as integers: pointers into different objects have no defined order.
  const auto at = reinterpret_cast<uintptr_t>(field.data);
  const auto first = reinterpret_cast<uintptr_t>(begin);
  if (field.data != nullptr && begin != nullptr && at >= first && at + field.size <= first + record.record.size()) {
    text += " at byte " + std::to_string(at - first) + " of the record)";
  } else {
    text += ")";  // expanded from a compressed form, or from another image of the row
  }
  return text;
}

}  // namespace sqltail::logreader
