// Binary XML decoder written from Microsoft's [MS-BINXML] open specification (SQL Server Binary XML
// Structure): header, multi-byte integers (mb32: 7 bits per byte, low group first, 0x80 = more),
// NAMEDEF / QNAMEDEF tables (ids from 1, 0 = empty), ELEMENT / ATTRIBUTE / END-ATTRIBUTES /
// END-ELEMENT and the SQL-NVARCHAR text token. Other tokens (comments, PIs, CDATA, DTDs, typed
// atomic values, extensions) are refused with their byte offset.
#include "decode/binary_xml.h"

#include <vector>

#include "decode/value_render.h"

namespace sqltail::logreader::decode {
namespace {

constexpr uint8_t kSignature0 = 0xDF;
constexpr uint8_t kSignature1 = 0xFF;
constexpr uint8_t kCodePageLow = 0xB0;  // 1200 (UTF-16LE) little-endian
constexpr uint8_t kCodePageHigh = 0x04;

enum Token : uint8_t {
  kSqlNVarChar = 0x11,
  kFlushNames = 0xE9,
  kQNameDef = 0xEF,
  kNameDef = 0xF0,
  kEndAttributes = 0xF5,
  kAttribute = 0xF6,
  kEndElement = 0xF7,
  kElement = 0xF8,
};

struct Name {
  uint32_t offset = 0;  // UTF-16LE characters in the input
  uint32_t chars = 0;
};
struct QName {
  uint32_t prefix = 0;  // name ids
  uint32_t local = 0;
};

void AppendUtf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

class Reader {
 public:
  Reader(const uint8_t* data, uint32_t size, std::string& text, std::string* error)
      : data_(data), size_(size), text_(text), error_(error) {}

  bool Run() {
    if (size_ < 5 || data_[0] != kSignature0 || data_[1] != kSignature1)
      return Fail(0, "no binary XML signature DF FF");
    if (data_[2] != 1 && data_[2] != 2) return Fail(2, "unknown binary XML version");
    if (data_[3] != kCodePageLow || data_[4] != kCodePageHigh)
      return Fail(3, "encoding is not UTF-16 (code page 1200)");
    position_ = 5;
    while (position_ < size_) {
      const uint32_t at = position_;
      const uint8_t token = data_[position_++];
      switch (token) {
        case kNameDef: {
          uint32_t chars = 0;
          if (!ReadMb32(chars)) return false;
          if (chars > (size_ - position_) / 2) return Fail(at, "name runs past the value");
          names_.push_back(Name{position_, chars});
          position_ += 2 * chars;
          break;
        }
        case kQNameDef: {
          uint32_t ns = 0, prefix = 0, local = 0;
          if (!ReadMb32(ns) || !ReadMb32(prefix) || !ReadMb32(local)) return false;
          if (ns > names_.size() || prefix > names_.size() || local > names_.size() || local == 0) {
            return Fail(at, "qname refers to an undefined name");
          }
          qnames_.push_back(QName{prefix, local});
          break;
        }
        case kFlushNames:
          names_.clear();
          qnames_.clear();
          break;
        case kElement: {
          uint32_t id = 0;
          if (!ReadMb32(id)) return false;
          if (!CloseStartTag()) return false;
          if (open_.size() >= kMaxDepth) return Fail(at, "elements nested too deeply");
          text_ += '<';
          if (!AppendQName(at, id)) return false;
          open_.push_back(id);
          start_tag_open_ = true;
          break;
        }
        case kAttribute: {
          if (!start_tag_open_) return Fail(at, "attribute outside a start tag");
          uint32_t id = 0;
          if (!ReadMb32(id)) return false;
          text_ += ' ';
          if (!AppendQName(at, id)) return false;
          text_ += "=\"";
          while (position_ < size_ && data_[position_] == kSqlNVarChar) {
            if (!ReadText(true)) return false;
          }
          text_ += '"';
          break;
        }
        case kEndAttributes:
          if (!start_tag_open_) return Fail(at, "END-ATTRIBUTES outside a start tag");
          text_ += '>';
          start_tag_open_ = false;
          break;
        case kEndElement: {
          if (open_.empty()) return Fail(at, "END-ELEMENT without an open element");
          const uint32_t id = open_.back();
          open_.pop_back();
          if (start_tag_open_) {
            text_ += " />";  // SQL Server's rendering of an empty element
            start_tag_open_ = false;
          } else {
            text_ += "</";
            if (!AppendQName(at, id)) return false;
            text_ += '>';
          }
          break;
        }
        case kSqlNVarChar:
          --position_;
          if (!CloseStartTag() || !ReadText(false)) return false;
          break;
        default:
          return Fail(at, "binary XML token 0x" + Hex(token) + " is outside the supported subset");
      }
    }
    if (!open_.empty()) return Fail(size_, "value ends inside an element");
    return true;
  }

 private:
  static constexpr size_t kMaxDepth = 1024;

  static std::string Hex(uint8_t byte) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    return std::string{kDigits[byte >> 4], kDigits[byte & 15]};
  }

  bool Fail(uint32_t at, const std::string& message) {
    if (error_ != nullptr) *error_ = "binary XML: " + message + " at byte " + std::to_string(at);
    return false;
  }

  bool ReadMb32(uint32_t& value) {
    value = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (position_ >= size_) return Fail(position_, "value ends inside a multi-byte integer");
      const uint8_t byte = data_[position_++];
      if (shift == 28 && (byte & 0xF0) != 0) return Fail(position_ - 1, "multi-byte integer exceeds 32 bits");
      value |= uint32_t{byte & 0x7Fu} << shift;
      if (!(byte & 0x80)) return true;
    }
    return Fail(position_, "multi-byte integer exceeds 32 bits");
  }

  bool CloseStartTag() {
    if (start_tag_open_) {
      text_ += '>';
      start_tag_open_ = false;
    }
    return true;
  }

  // UTF-16LE characters to UTF-8, optionally XML-escaped.
  bool AppendUtf16(uint32_t at, uint32_t offset, uint32_t chars, int escape) {
    for (uint32_t i = 0; i < chars; ++i) {
      uint32_t unit = data_[offset + 2 * i] | (uint32_t{data_[offset + 2 * i + 1]} << 8);
      if (unit >= 0xD800 && unit < 0xDC00) {
        if (i + 1 >= chars) return Fail(at, "unpaired UTF-16 surrogate");
        const uint32_t low = data_[offset + 2 * i + 2] | (uint32_t{data_[offset + 2 * i + 3]} << 8);
        if (low < 0xDC00 || low >= 0xE000) return Fail(at, "unpaired UTF-16 surrogate");
        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        ++i;
      } else if (unit >= 0xDC00 && unit < 0xE000) {
        return Fail(at, "unpaired UTF-16 surrogate");
      }
      if (escape != 0) {
        if (unit == '&') {
          text_ += "&amp;";
          continue;
        }
        if (unit == '<') {
          text_ += "&lt;";
          continue;
        }
        if (unit == '>') {
          text_ += "&gt;";
          continue;
        }
        if (escape == 2 && unit == '"') {
          text_ += "&quot;";
          continue;
        }
      }
      AppendUtf8(unit, text_);
    }
    return true;
  }

  bool AppendQName(uint32_t at, uint32_t id) {
    if (id == 0 || id > qnames_.size()) return Fail(at, "reference to undefined qname " + std::to_string(id));
    const QName& qname = qnames_[id - 1];
    if (qname.prefix != 0) {
      const Name& prefix = names_[qname.prefix - 1];
      if (!AppendUtf16(at, prefix.offset, prefix.chars, 0)) return false;
      text_ += ':';
    }
    const Name& local = names_[qname.local - 1];
    return AppendUtf16(at, local.offset, local.chars, 0);
  }

  // SQL-NVARCHAR: token, mb32 character count, UTF-16LE characters. [UNCONFIRMED on real bytes]
  bool ReadText(bool attribute) {
    const uint32_t at = position_++;
    uint32_t chars = 0;
    if (!ReadMb32(chars)) return false;
    if (chars > (size_ - position_) / 2) return Fail(at, "text runs past the value");
    if (!AppendUtf16(at, position_, chars, attribute ? 2 : 1)) return false;
    position_ += 2 * chars;
    return true;
  }

  const uint8_t* data_;
  uint32_t size_;
  std::string& text_;
  std::string* error_;
  uint32_t position_ = 0;
  std::vector<Name> names_;
  std::vector<QName> qnames_;
  std::vector<uint32_t> open_;
  bool start_tag_open_ = false;
};

}  // namespace

bool BinaryXmlToText(const uint8_t* data, uint32_t size, std::string& text, std::string* error) {
  return Reader(data, size, text, error).Run();
}

bool AppendBinaryXmlJson(const uint8_t* data, uint32_t size, std::string& out) {
  thread_local std::string text;
  text.clear();
  if (!BinaryXmlToText(data, size, text, nullptr)) return false;
  return AppendJsonStringUtf8(reinterpret_cast<const uint8_t*>(text.data()), static_cast<uint32_t>(text.size()), out);
}

}  // namespace sqltail::logreader::decode
