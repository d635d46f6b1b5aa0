// CI structure of a PAGE-compressed page (see page_compression.h). Field meanings come from vector 18
// (DBCC PAGE decode of a real CI); the dictionary offset field's meaning is inferred from it (it equals
// 7 + anchor size) and is checked rather than trusted.
#include "sqltail/logreader/page_compression.h"

#include "decode/bytes.h"

namespace sqltail::logreader {
namespace {

using decode::ReadU16;

constexpr uint32_t kHeaderSize = 7;
constexpr uint8_t kHasAnchor = 0x02;
constexpr uint8_t kHasDictionary = 0x04;
constexpr uint8_t kCdRecordBit = 0x01;
constexpr uint8_t kLongDataRegionBit = 0x20;
constexpr uint32_t kColumnsPerCluster = 30;

std::optional<PageCompressionInfo> Error(std::string& error, uint32_t offset, const std::string& message) {
  error = "page compression info: " + message + " at byte " + std::to_string(offset);
  return std::nullopt;
}

// The anchor record: a CD record whose values are the per-column prefixes. Returns its end or 0.
uint32_t ParseAnchor(PageCompressionInfo& ci, uint32_t begin, uint32_t limit, std::string& error) {
  const uint8_t* data = ci.bytes.data();
  auto fail = [&](uint32_t offset, const std::string& message) {
    Error(error, offset, "anchor record: " + message);
    return 0u;
  };
  if (begin + 2 > limit) return fail(begin, "ends inside its header");
  const uint8_t header = data[begin];
  if (!(header & kCdRecordBit)) return fail(begin, "not a CD record (header bit 0 clear)");
  uint32_t position = begin + 1;
  uint32_t column_count = data[position];
  if (column_count & 0x80) {
    if (position + 2 > limit) return fail(position, "ends inside the column count");
    column_count = ((column_count & 0x7F) << 8) | data[position + 1];
    position += 2;
  } else {
    position += 1;
  }
  const uint32_t cd_array = position;
  position += (column_count + 1) / 2;
  const uint32_t clusters = column_count == 0 ? 0 : (column_count - 1) / kColumnsPerCluster;
  position += clusters;
  if (position > limit) return fail(cd_array, "ends inside the CD array");
  ci.anchor.assign(column_count, PageCompressionInfo::AnchorValue{});
  auto code = [&](uint32_t index) -> uint8_t {
    const uint8_t byte = data[cd_array + index / 2];
    return index % 2 == 0 ? (byte & 0x0F) : (byte >> 4);
  };
  uint32_t long_columns = 0;
  for (uint32_t index = 0; index < column_count; ++index) {
    const uint8_t c = code(index);
    if (c >= 2 && c <= 9) {
      const uint32_t length = c - 1u;
      if (position + length > limit)
        return fail(position, "ends inside the value of column " + std::to_string(index + 1));
      ci.anchor[index] = PageCompressionInfo::AnchorValue{true, {position, length}};
      position += length;
    } else if (c == 10) {
      ++long_columns;
    } else if (c == 12) {
      return fail(cd_array + index / 2, "column " + std::to_string(index + 1) + " refers to the dictionary");
    } else if (c > 12) {
      return fail(cd_array + index / 2, "unknown CD code " + std::to_string(c));
    }
    // 0 NULL, 1 empty, 11 bit one: no prefix for this column
  }
  if (long_columns > 0 && !(header & kLongDataRegionBit)) return fail(begin, "long values without a long data region");
  if (header & kLongDataRegionBit) {
    if (position + 3 > limit) return fail(position, "ends inside the long data header");
    const uint32_t entries = ReadU16(data + position + 1);
    if (entries != long_columns) return fail(position + 1, "long data entry count differs from the CD array");
    const uint32_t offsets_at = position + 3;
    position = offsets_at + 2 * entries + clusters;
    if (position > limit) return fail(offsets_at, "ends inside the long data offsets");
    const uint32_t data_begin = position;
    uint32_t value_begin = data_begin;
    uint32_t entry = 0;
    for (uint32_t index = 0; index < column_count; ++index) {
      if (code(index) != 10) continue;
      const uint16_t raw = ReadU16(data + offsets_at + 2 * entry);
      const uint32_t end = data_begin + (raw & 0x7FFF);
      if ((raw & 0x8000) || end < value_begin || end > limit) {
        return fail(offsets_at + 2 * entry, "long value of column " + std::to_string(index + 1) + " is invalid");
      }
      ci.anchor[index] = PageCompressionInfo::AnchorValue{true, {value_begin, end - value_begin}};
      value_begin = end;
      ++entry;
    }
    position = value_begin;
  }
  return position;
}

}  // namespace

std::optional<PageCompressionInfo> ParsePageCompressionInfo(std::span<const uint8_t> bytes, std::string& error) {
  if (bytes.size() < kHeaderSize) return Error(error, 0, "shorter than its 7-byte header");
  PageCompressionInfo ci;
  ci.header_flags = bytes[0];
  ci.page_mod_count = ReadU16(bytes.data() + 1);
  ci.dictionary_offset = ReadU16(bytes.data() + 3);
  ci.size = ReadU16(bytes.data() + 5);
  if (ci.header_flags & ~(kHasAnchor | kHasDictionary)) {
    return Error(error, 0, "unknown header flags 0x" + std::to_string(ci.header_flags));
  }
  if (ci.size < kHeaderSize || ci.size > bytes.size()) {
    return Error(
        error, 5,
        "CI size " + std::to_string(ci.size) + " does not fit the " + std::to_string(bytes.size()) + " bytes given");
  }
  ci.bytes.assign(bytes.begin(), bytes.begin() + ci.size);
  const uint32_t limit = ci.size;
  uint32_t anchor_end = kHeaderSize;
  if (ci.HasAnchor()) {
    const uint32_t anchor_limit = ci.HasDictionary() ? ci.dictionary_offset : limit;
    if (anchor_limit > limit || anchor_limit < kHeaderSize) return Error(error, 3, "dictionary offset outside the CI");
    anchor_end = ParseAnchor(ci, kHeaderSize, anchor_limit, error);
    if (anchor_end == 0) return std::nullopt;
    // Vector 18: the dictionary starts right after the anchor; a gap means a misread structure.
    if (ci.HasDictionary() && anchor_end != ci.dictionary_offset) {
      return Error(error, 3,
                   "anchor record ends at byte " + std::to_string(anchor_end) + " but the dictionary offset is " +
                       std::to_string(ci.dictionary_offset));
    }
  }
  if (ci.HasDictionary()) {
    const uint32_t begin = ci.dictionary_offset;
    if (begin < anchor_end || begin + 2 > limit) return Error(error, 3, "dictionary offset outside the CI");
    const uint32_t count = ReadU16(ci.bytes.data() + begin);
    const uint32_t entries_at = begin + 2 + 2 * count;
    if (entries_at > limit) return Error(error, begin, "dictionary ends inside its offset array");
    ci.dictionary.reserve(count);
    uint32_t entry_begin = entries_at;
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t end = begin + ReadU16(ci.bytes.data() + begin + 2 + 2 * i);
      if (end < entry_begin || end > limit) {
        return Error(error, begin + 2 + 2 * i, "dictionary entry " + std::to_string(i) + " ends outside the CI");
      }
      ci.dictionary.push_back(PageCompressionInfo::Span{entry_begin, end - entry_begin});
      entry_begin = end;
    }
  }
  return ci;
}

}  // namespace sqltail::logreader
