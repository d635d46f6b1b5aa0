// The compression information (CI) structure at the start of a PAGE-compressed page: anchor record
// and dictionary (reference/log-internals.md §4, vector 18). A log record does not carry it; whoever
// knows the page's CI (a page read, a tracked CI change) passes it to DecodeRecord.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sqltail::logreader {

struct PageCompressionInfo {
  struct Span {
    uint32_t offset = 0;  // into `bytes`
    uint32_t size = 0;
  };
  struct AnchorValue {
    bool present = false;  // false: the anchor has NULL (or no value) for this column: no prefix
    Span value;
  };

  std::vector<uint8_t> bytes;  // the whole CI structure, as given
  uint8_t header_flags = 0;    // 0x02 anchor record present, 0x04 dictionary present
  uint16_t page_mod_count = 0;
  uint16_t dictionary_offset = 0;   // from the CI start
  uint16_t size = 0;                // CI size in bytes (header field)
  std::vector<AnchorValue> anchor;  // per column (column_id order), empty without an anchor
  std::vector<Span> dictionary;     // entries in symbol order, empty without a dictionary

  bool HasAnchor() const { return (header_flags & 0x02) != 0; }
  bool HasDictionary() const { return (header_flags & 0x04) != 0; }
};

// Parses a CI structure: flags(1) PageModCount(2) dictionary offset(2) CI size(2), the anchor
// record (CD format, short and long values) at byte 7, the dictionary (entry count(2), end offsets
// relative to the dictionary start(2 each), entries). Every offset is checked against the bytes.
std::optional<PageCompressionInfo> ParsePageCompressionInfo(std::span<const uint8_t> bytes, std::string& error);

}  // namespace sqltail::logreader
