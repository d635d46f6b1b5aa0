// ROW- and PAGE-compressed (CD format) records, reference/log-internals.md §4. Each stored value is
// expanded into the uncompressed (FixedVar) bytes of its type, so rendering is shared with FixedVar
// records. Encodings that no source documents fail loudly, naming the column and the type; the
// choices and what is unconfirmed are listed in docs/architecture.md "Compressed records".
#include <algorithm>
#include <cstring>

#include "decode/bytes.h"
#include "decode/cd_values.h"
#include "decode/record_common.h"
#include "decode/scsu.h"
#include "sqltail/logreader/page_compression.h"

namespace sqltail::logreader::decode {
namespace {

constexpr uint8_t kCdRecordBit = 0x01;
constexpr uint8_t kLongDataRegionBit = 0x20;
constexpr uint32_t kColumnsPerCluster = 30;
constexpr uint32_t kPageSymbolSize = 1;  // [UNCONFIRMED] IV ColumnDescriptor: a page symbol has 1 byte
constexpr uint32_t kDateTimeTimeSize = 4;
constexpr uint32_t kGuidSize = 16;

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
  CdDecoder(const TableLayout& layout, std::span<const uint8_t> record, const PageCompressionInfo* ci,
            DecodedRecord& out, DecodeError& error)
      : layout_(layout), record_(record), ci_(ci), out_(out), error_(error) {}

  bool Decode() {
    const uint32_t size = static_cast<uint32_t>(record_.size());
    const uint8_t header = record_[0];
    if (!(header & kCdRecordBit)) {
      return Fail(error_, 0, "", "compressed partition but the record is not in CD format (header bit 0 clear)");
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
        if (!ExpandStored(index, position, record_.data() + position, length)) return false;
        position += length;
      } else if (code == kCdLong) {
        ++long_columns;
      } else if (code == kCdPageSymbol) {
        if (ci_ == nullptr) {
          return Fail(error_, cd_array + index / 2, ColumnLabel(layout_, index),
                      "page-compressed record needs the page's compression information (dictionary symbol)");
        }
        if (position + kPageSymbolSize > size) {
          return Fail(error_, position, ColumnLabel(layout_, index), "record ends inside a page symbol");
        }
        const uint32_t symbol = record_[position];
        if (symbol >= ci_->dictionary.size()) {
          return Fail(error_, position, ColumnLabel(layout_, index),
                      "page symbol " + std::to_string(symbol) + " outside the page dictionary (" +
                          std::to_string(ci_->dictionary.size()) + " entries)");
        }
        const PageCompressionInfo::Span entry = ci_->dictionary[symbol];
        if (!ExpandStored(index, position, ci_->bytes.data() + entry.offset, entry.size)) return false;
        position += kPageSymbolSize;
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
        } else if (!ExpandStored(index, begin, record_.data() + begin, end - begin)) {
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

  // nullptr when the decoder's scratch (sized before the decode, never reallocated) is exhausted.
  uint8_t* TakeScratch(uint32_t size) {
    if (size > out_.scratch.size() - scratch_used_) return nullptr;
    uint8_t* bytes = out_.scratch.data() + scratch_used_;
    scratch_used_ += size;
    return bytes;
  }

  bool Unsupported(size_t index, uint32_t at, const char* reason) {
    return Fail(error_, at, ColumnLabel(layout_, index),
                "row-compressed " + layout_.columns[index].type_name + " value: " + reason);
  }

  // Page compression: a value of a column whose anchor value exists is stored as one prefix-length
  // byte plus the suffix (IV CdRecordLoader; only a synthetic test shows it: [UNCONFIRMED]).
  bool ExpandStored(size_t index, uint32_t at, const uint8_t* bytes, uint32_t length) {
    if (ci_ != nullptr && length > 0 && index < ci_->anchor.size() && ci_->anchor[index].present) {
      const PageCompressionInfo::Span anchor = ci_->anchor[index].value;
      const uint32_t prefix = bytes[0];
      if (prefix > anchor.size) {
        return Fail(error_, at, ColumnLabel(layout_, index),
                    "anchor prefix length " + std::to_string(prefix) + " exceeds the anchor value (" +
                        std::to_string(anchor.size) + " bytes)");
      }
      const uint32_t suffix = length - 1;
      uint8_t* joined = TakeScratch(prefix + suffix);
      if (joined == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
      if (prefix > 0) std::memcpy(joined, ci_->bytes.data() + anchor.offset, prefix);
      if (suffix > 0) std::memcpy(joined + prefix, bytes + 1, suffix);
      return Expand(index, at, joined, prefix + suffix);
    }
    return Expand(index, at, bytes, length);
  }

  // Zero-length and bit-one codes.
  bool ExpandCode(size_t index, uint8_t code) {
    const ColumnLayout& column = layout_.columns[index];
    if (code == kCdBitOne) {
      if (column.type != SqlType::kBit) {
        return Fail(error_, 0, ColumnLabel(layout_, index), "bit-one CD code on a non-bit column");
      }
      uint8_t* value = TakeScratch(1);
      if (value == nullptr) return Fail(error_, 0, ColumnLabel(layout_, index), "expanded value too large");
      *value = 1;
      out_.fields[index] = FieldView{FieldState::kValue, value, 1};
      return true;
    }
    return Expand(index, 0, nullptr, 0);
  }

  // Little-endian `width` bytes of a compressed integer.
  bool ExpandInteger(size_t index, uint32_t at, const uint8_t* bytes, uint32_t length, uint32_t width) {
    int64_t value = 0;
    if (length > width || !ReadCompressedInteger(bytes, length, value)) {
      return Fail(error_, at, ColumnLabel(layout_, index), "compressed integer longer than its column");
    }
    if (width < 8) {
      const int64_t limit = int64_t{1} << (8 * width - 1);
      if (value < -limit || value >= limit) {
        return Fail(error_, at, ColumnLabel(layout_, index), "compressed integer out of its column's range");
      }
    }
    uint8_t* out = TakeScratch(width);
    if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
    const uint64_t stored = static_cast<uint64_t>(value);
    for (uint32_t i = 0; i < width; ++i) out[i] = static_cast<uint8_t>(stored >> (8 * i));
    out_.fields[index] = FieldView{FieldState::kValue, out, width};
    return true;
  }

  // nchar/nvarchar: odd length = SCSU, even length = plain UTF-16LE (SQL Server stores the compressed
  // form only when it is smaller; the parity rule that tells them apart is [UNCONFIRMED]).
  // nvarchar(max) is never Unicode-compressed (Microsoft "Unicode Compression Implementation").
  bool ExpandUnicode(size_t index, uint32_t at, const uint8_t* bytes, uint32_t length) {
    const ColumnLayout& column = layout_.columns[index];
    const bool fixed = column.type == SqlType::kNChar;
    const uint32_t width = fixed ? static_cast<uint32_t>(std::max(column.max_length, 0)) : 0;
    if (fixed && width % 2 != 0) {
      return Fail(error_, at, ColumnLabel(layout_, index), "nchar column with an odd byte length");
    }
    const bool scsu = column.max_length != -1 && length % 2 == 1;
    if (!scsu && !fixed) {
      out_.fields[index] = FieldView{FieldState::kValue, bytes, length};
      return true;
    }
    const uint32_t capacity = fixed ? width : ScsuMaxOutput(length);
    uint8_t* out = TakeScratch(capacity);
    if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
    uint32_t used = 0;
    if (scsu) {
      const ScsuResult result = ScsuToUtf16Le(bytes, length, out, capacity);
      if (!result.ok) return Fail(error_, at + result.error_offset, ColumnLabel(layout_, index), result.error);
      used = result.size;
    } else {
      if (length > width) {
        return Fail(error_, at, ColumnLabel(layout_, index), "compressed nchar longer than its column");
      }
      if (length > 0) std::memcpy(out, bytes, length);
      used = length;
    }
    if (fixed) {
      for (uint32_t i = used; i + 1 < width; i += 2) {  // trailing spaces are not stored
        out[i] = ' ';
        out[i + 1] = 0;
      }
      used = width;
    }
    out_.fields[index] = FieldView{FieldState::kValue, out, used};
    return true;
  }

  // Stored bytes padded back to the declared length (char: spaces; binary: zeros).
  bool ExpandPadded(size_t index, uint32_t at, const uint8_t* bytes, uint32_t length, uint8_t pad) {
    const uint32_t width = static_cast<uint32_t>(std::max(layout_.columns[index].max_length, 0));
    if (length > width) {
      return Fail(error_, at, ColumnLabel(layout_, index),
                  "compressed " + layout_.columns[index].type_name + " longer than its column");
    }
    uint8_t* out = TakeScratch(width);
    if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
    if (length > 0) std::memcpy(out, bytes, length);
    std::fill(out + length, out + width, pad);
    out_.fields[index] = FieldView{FieldState::kValue, out, width};
    return true;
  }

  bool Expand(size_t index, uint32_t at, const uint8_t* bytes, uint32_t length) {
    const ColumnLayout& column = layout_.columns[index];
    FieldView& field = out_.fields[index];
    switch (column.type) {
      case SqlType::kBit: {
        if (length > 1 || (length == 1 && bytes[0] > 1)) {
          return Fail(error_, at, ColumnLabel(layout_, index), "invalid compressed bit value");
        }
        uint8_t* value = TakeScratch(1);
        if (value == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
        *value = length == 0 ? 0 : bytes[0];
        field = FieldView{FieldState::kValue, value, 1};
        return true;
      }
      case SqlType::kTinyInt: {
        if (length > 1) return Fail(error_, at, ColumnLabel(layout_, index), "compressed tinyint longer than 1 byte");
        uint8_t* value = TakeScratch(1);
        if (value == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
        *value = length == 0 ? 0 : bytes[0];
        field = FieldView{FieldState::kValue, value, 1};
        return true;
      }
      case SqlType::kSmallInt:
        return ExpandInteger(index, at, bytes, length, 2);
      case SqlType::kInt:
        return ExpandInteger(index, at, bytes, length, 4);
      case SqlType::kBigInt:
        return ExpandInteger(index, at, bytes, length, 8);
      case SqlType::kMoney:  // integer representation of value * 10000 (Microsoft row compression table)
        return ExpandInteger(index, at, bytes, length, 8);
      case SqlType::kSmallMoney:
        return ExpandInteger(index, at, bytes, length, 4);
      case SqlType::kDecimal:
      case SqlType::kNumeric: {
        const uint32_t width = static_cast<uint32_t>(std::max(column.max_length, 0));
        uint8_t* out = TakeScratch(width);
        if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
        if (const char* problem = ExpandVarDecimal(bytes, length, column.precision, column.scale, out, width)) {
          return Fail(error_, at, ColumnLabel(layout_, index), problem);
        }
        field = FieldView{FieldState::kValue, out, width};
        return true;
      }
      case SqlType::kDateTime: {
        // Reference §4: the day count as a compressed integer, then 4 big-endian time ticks; a value on
        // 1900-01-01 stores the time only. Shorter forms are not documented.
        if (length != 0 && length < kDateTimeTimeSize) {
          return Unsupported(index, at, "fewer than 4 bytes (a shortened time part is not documented)");
        }
        if (length > kDateTimeTimeSize + 4) {
          return Fail(error_, at, ColumnLabel(layout_, index), "compressed datetime longer than 8 bytes");
        }
        int64_t days = 0;
        uint32_t ticks = 0;
        if (length > 0) {
          const uint32_t day_bytes = length - kDateTimeTimeSize;
          if (!ReadCompressedInteger(bytes, day_bytes, days)) {
            return Fail(error_, at, ColumnLabel(layout_, index), "compressed datetime day part too long");
          }
          const uint8_t* time = bytes + day_bytes;
          ticks = (uint32_t{time[0]} << 24) | (uint32_t{time[1]} << 16) | (uint32_t{time[2]} << 8) | time[3];
        }
        uint8_t* out = TakeScratch(8);
        if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
        const uint32_t day_word = static_cast<uint32_t>(static_cast<int32_t>(days));
        for (int i = 0; i < 4; ++i) {
          out[i] = static_cast<uint8_t>(ticks >> (8 * i));
          out[4 + i] = static_cast<uint8_t>(day_word >> (8 * i));
        }
        field = FieldView{FieldState::kValue, out, 8};
        return true;
      }
      case SqlType::kUniqueIdentifier: {
        // Not changed by row compression (Microsoft table): the 16 stored bytes, or none for zero.
        if (length != 0 && length != kGuidSize) {
          return Unsupported(index, at, "length other than 16 bytes (no documented shortened form)");
        }
        if (length == kGuidSize) {
          field = FieldView{FieldState::kValue, bytes, length};
          return true;
        }
        uint8_t* out = TakeScratch(kGuidSize);
        if (out == nullptr) return Fail(error_, at, ColumnLabel(layout_, index), "expanded value too large");
        std::memset(out, 0, kGuidSize);
        field = FieldView{FieldState::kValue, out, kGuidSize};
        return true;
      }
      case SqlType::kChar:  // trailing spaces are not stored
        return ExpandPadded(index, at, bytes, length, ' ');
      case SqlType::kBinary:  // trailing zeros are not stored (Microsoft row compression table)
        return ExpandPadded(index, at, bytes, length, 0);
      case SqlType::kNChar:
      case SqlType::kNVarChar:
        return ExpandUnicode(index, at, bytes, length);
      case SqlType::kVarChar:
      case SqlType::kVarBinary:
      case SqlType::kXml:  // in-row binary XML, not changed by row compression
        field = FieldView{FieldState::kValue, bytes, length};
        return true;
      case SqlType::kReal:
      case SqlType::kFloat:
        return Unsupported(index, at,
                           "the CD byte order of floating-point values is not documented (only that zero "
                           "low-order bytes are dropped)");
      case SqlType::kDate:
      case SqlType::kTime:
      case SqlType::kDateTime2:
      case SqlType::kDateTimeOffset:
      case SqlType::kSmallDateTime:
        return Unsupported(index, at, "the CD encoding of this date/time type is not documented");
      default:
        return Unsupported(index, at, "the CD encoding of this type is not documented");
    }
  }

  const TableLayout& layout_;
  std::span<const uint8_t> record_;
  const PageCompressionInfo* ci_;
  DecodedRecord& out_;
  DecodeError& error_;
  size_t scratch_used_ = 0;
};

}  // namespace

bool DecodeCompressedRecord(const TableLayout& layout, std::span<const uint8_t> record, const PageCompressionInfo* ci,
                            DecodedRecord& out, DecodeError& error) {
  return CdDecoder(layout, record, ci, out, error).Decode();
}

}  // namespace sqltail::logreader::decode
