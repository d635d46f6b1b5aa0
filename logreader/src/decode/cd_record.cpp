// Row-compressed (CD format) records, reference/log-internals.md §4. Only the value encodings that
// are confirmed by a vector or the reference are expanded; every other type fails loudly.
#include <algorithm>
#include <cstring>

#include "decode/bytes.h"
#include "decode/record_common.h"

namespace sqltail::logreader::decode {
namespace {

constexpr uint8_t kCdRecordBit = 0x01;
constexpr uint8_t kLongDataRegionBit = 0x20;
constexpr uint32_t kColumnsPerCluster = 30;

enum CdCode : uint8_t {
  kCdNull = 0,
  kCdEmpty = 1,       // zero-length: 0 / empty string / bit 0
  kCdShortFirst = 2,  // 2..9: 1..8-byte short value
  kCdShortLast = 9,
  kCdLong = 10,
  kCdBitOne = 11,
  kCdPageSymbol = 12,
};

class CdDecoder {
 public:
  CdDecoder(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out, DecodeError& error)
      : layout_(layout), record_(record), out_(out), error_(error) {}

  bool Decode() {
    const uint32_t size = static_cast<uint32_t>(record_.size());
    const uint8_t header = record_[0];
    if (!(header & kCdRecordBit)) {
      return Fail(error_, 0, "", "row-compressed partition but the record is not in CD format (header bit 0 clear)");
    }
    const uint8_t record_kind = (header >> 2) & 7;
    if (record_kind != 0) {
      // Only primary CD records are confirmed by a vector; the other kind values are not mapped.
      return Fail(error_, 0, "", "compressed record kind " + std::to_string(record_kind) + " is not supported");
    }
    out_.record_type = RecordType::kPrimary;
    uint32_t position = 1;
    if (position + 1 > size) return Fail(error_, position, "", "record ends inside the column count");
    uint32_t column_count = record_[position];
    if (column_count & 0x80) {
      if (position + 2 > size) return Fail(error_, position, "", "record ends inside the column count");
      column_count = ((column_count & 0x7F) << 8) | record_[position + 1];
      position += 2;
    } else {
      position += 1;
    }
    if (column_count > layout_.columns.size()) {
      return Fail(error_, 1, "",
                  "record has " + std::to_string(column_count) + " columns, the layout only " +
                      std::to_string(layout_.columns.size()));
    }
    const uint32_t cd_array = position;
    position += (column_count + 1) / 2;
    if (position > size) return Fail(error_, cd_array, "", "record ends inside the CD array");
    const uint32_t cluster_array_size = column_count == 0 ? 0 : (column_count - 1) / kColumnsPerCluster;
    position += cluster_array_size;  // per-cluster short-data sizes; values are read in order anyway
    if (position > size) return Fail(error_, cd_array, "", "record ends inside the short-data cluster array");

    // Short data: values in column order, sizes from the CD codes.
    uint32_t long_columns = 0;
    for (uint32_t index = 0; index < column_count; ++index) {
      const uint8_t code = Code(cd_array, index);
      if (code >= kCdShortFirst && code <= kCdShortLast) {
        const uint32_t length = code - 1;
        if (position + length > size) {
          return Fail(error_, position, ColumnLabel(layout_, index), "record ends inside a short value");
        }
        if (!Expand(index, record_.data() + position, length)) return false;
        position += length;
      } else if (code == kCdLong) {
        ++long_columns;
      } else if (code == kCdPageSymbol) {
        return Fail(error_, cd_array + index / 2, ColumnLabel(layout_, index),
                    "page-compressed record needs the page's compression information");
      } else if (code == kCdNull) {
        out_.fields[index] = FieldView{FieldState::kNull, nullptr, 0};
      } else if (code == kCdEmpty || code == kCdBitOne) {
        if (!ExpandCode(index, code)) return false;
      } else {
        return Fail(error_, cd_array + index / 2, ColumnLabel(layout_, index),
                    "unknown CD code " + std::to_string(code));
      }
    }

    // Long data region: header byte, entry count, end offsets (0x8000 = complex), cluster array, data.
    const bool has_long_region = (record_[0] & kLongDataRegionBit) != 0;
    if (long_columns > 0 && !has_long_region) {
      return Fail(error_, 0, "", "CD array references long data but the record has no long data region");
    }
    if (has_long_region) {
      if (position + 3 > size) return Fail(error_, position, "", "record ends inside the long data header");
      const uint32_t entry_count = ReadU16(record_.data() + position + 1);
      position += 3;
      if (entry_count != long_columns) {
        return Fail(error_, position - 2, "",
                    "long data region has " + std::to_string(entry_count) + " entries, the CD array " +
                        std::to_string(long_columns));
      }
      const uint32_t offsets_at = position;
      position += 2 * entry_count;
      position += cluster_array_size;
      if (position > size) return Fail(error_, offsets_at, "", "record ends inside the long data offsets");
      const uint32_t data_begin = position;
      uint32_t entry = 0;
      uint32_t begin = data_begin;
      for (uint32_t index = 0; index < column_count; ++index) {
        if (Code(cd_array, index) != kCdLong) continue;
        const uint16_t raw = ReadU16(record_.data() + offsets_at + 2 * entry);
        const uint32_t end = data_begin + (raw & 0x7FFF);
        if (end < begin || end > size) {
          return Fail(error_, offsets_at + 2 * entry, ColumnLabel(layout_, index),
                      "long value ends outside the record");
        }
        if (raw & 0x8000) {
          out_.fields[index] = FieldView{FieldState::kOffRow, record_.data() + begin, end - begin};
        } else if (!Expand(index, record_.data() + begin, end - begin)) {
          return false;
        }
        begin = end;
        ++entry;
      }
    }
    for (size_t index = column_count; index < layout_.columns.size(); ++index) {
      out_.fields[index] = MissingColumnField(layout_.columns[index]);
    }
    return true;
  }

 private:
  uint8_t Code(uint32_t cd_array, uint32_t index) const {
    const uint8_t byte = record_[cd_array + index / 2];
    return (index % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
  }

  uint8_t* TakeScratch(uint32_t size) {
    uint8_t* bytes = out_.scratch.data() + scratch_used_;
    scratch_used_ += size;
    return bytes;
  }

  bool Unsupported(size_t index) {
    return Fail(error_, 0, ColumnLabel(layout_, index),
                "row-compressed " + layout_.columns[index].type_name + " values are not supported");
  }

  // Zero-length and bit-one codes.
  bool ExpandCode(size_t index, uint8_t code) {
    const ColumnLayout& column = layout_.columns[index];
    if (code == kCdBitOne) {
      if (column.type != SqlType::kBit) {
        return Fail(error_, 0, ColumnLabel(layout_, index), "bit-one CD code on a non-bit column");
      }
      uint8_t* value = TakeScratch(1);
      *value = 1;
      out_.fields[index] = FieldView{FieldState::kValue, value, 1};
      return true;
    }
    return Expand(index, nullptr, 0);
  }

  bool Expand(size_t index, const uint8_t* bytes, uint32_t length) {
    const ColumnLayout& column = layout_.columns[index];
    FieldView& field = out_.fields[index];
    switch (column.type) {
      case SqlType::kBit: {
        if (length > 1 || (length == 1 && bytes[0] > 1)) {
          return Fail(error_, 0, ColumnLabel(layout_, index), "invalid compressed bit value");
        }
        uint8_t* value = TakeScratch(1);
        *value = length == 0 ? 0 : bytes[0];
        field = FieldView{FieldState::kValue, value, 1};
        return true;
      }
      case SqlType::kTinyInt: {
        if (length > 1) return Fail(error_, 0, ColumnLabel(layout_, index), "compressed tinyint longer than 1 byte");
        uint8_t* value = TakeScratch(1);
        *value = length == 0 ? 0 : bytes[0];
        field = FieldView{FieldState::kValue, value, 1};
        return true;
      }
      case SqlType::kSmallInt:
      case SqlType::kInt:
      case SqlType::kBigInt: {
        // Big-endian, minimal length, value = unsigned(bytes) - 2^(8n-1); zero has no bytes.
        const uint32_t width = static_cast<uint32_t>(column.max_length);
        if (length > width) {
          return Fail(error_, 0, ColumnLabel(layout_, index), "compressed integer longer than its column");
        }
        uint64_t unsigned_value = 0;
        for (uint32_t i = 0; i < length; ++i) unsigned_value = (unsigned_value << 8) | bytes[i];
        int64_t value = 0;
        if (length > 0) {
          const uint64_t bias = uint64_t{1} << (8 * length - 1);
          value = static_cast<int64_t>(unsigned_value - bias);
        }
        uint8_t* out = TakeScratch(width);
        const uint64_t stored = static_cast<uint64_t>(value);
        for (uint32_t i = 0; i < width; ++i) out[i] = static_cast<uint8_t>(stored >> (8 * i));
        field = FieldView{FieldState::kValue, out, width};
        return true;
      }
      case SqlType::kChar: {
        // Trailing spaces are not stored: pad back to the declared length.
        const uint32_t width = static_cast<uint32_t>(column.max_length);
        if (length > width)
          return Fail(error_, 0, ColumnLabel(layout_, index), "compressed char longer than its column");
        uint8_t* out = TakeScratch(width);
        if (length > 0) std::memcpy(out, bytes, length);
        std::fill(out + length, out + width, uint8_t{' '});
        field = FieldView{FieldState::kValue, out, width};
        return true;
      }
      case SqlType::kVarChar:
      case SqlType::kVarBinary:
        field = FieldView{FieldState::kValue, bytes, length};
        return true;
      default:
        // nchar/nvarchar are SCSU-compressed, numerics vardecimal-like, dates re-encoded: not confirmed here.
        return Unsupported(index);
    }
  }

  const TableLayout& layout_;
  std::span<const uint8_t> record_;
  DecodedRecord& out_;
  DecodeError& error_;
  size_t scratch_used_ = 0;
};

}  // namespace

bool DecodeCompressedRecord(const TableLayout& layout, std::span<const uint8_t> record, DecodedRecord& out,
                            DecodeError& error) {
  return CdDecoder(layout, record, out, error).Decode();
}

}  // namespace sqltail::logreader::decode
