// sql_variant: byte 0 base type (system_type_id), byte 1 version (1), type properties, then the value
// stored as that base type (reference §3.2; property layouts [UNCONFIRMED provenance]).
#include "decode/bytes.h"
#include "decode/value_render.h"

namespace sqltail::logreader::decode {
namespace {

constexpr uint8_t kVariantVersion = 1;
constexpr uint8_t kSqlLatin1GeneralCp1CiAsSortId = 52;
constexpr uint32_t kLcidUsEnglish = 0x0409;
constexpr uint32_t kCollationUtf8Flag = 1u << 26;

// The 5-byte collation (LCID + flags in 4 bytes, then the SQL sort id), as TDS carries it. Only the
// encodings known for sure are mapped; anything else stays unknown so the value is refused.
TextEncoding EncodingForCollationBytes(const uint8_t* collation) {
  const uint32_t info = ReadU32(collation);
  const uint8_t sort_id = collation[4];
  if (info & kCollationUtf8Flag) return TextEncoding::kUtf8;
  if (sort_id == kSqlLatin1GeneralCp1CiAsSortId) return TextEncoding::kCp1252;
  if (sort_id == 0 && (info & 0xFFFFF) == kLcidUsEnglish) return TextEncoding::kCp1252;  // Latin1_General_*
  return TextEncoding::kUnknown;
}

}  // namespace

bool AppendSqlVariantJson(const uint8_t* data, uint32_t size, std::string& out) {
  if (size < 2 || data[1] != kVariantVersion) return false;
  ValueType type;
  uint32_t properties = 0;
  switch (data[0]) {
    case 48:
      type.type = SqlType::kTinyInt;
      break;
    case 52:
      type.type = SqlType::kSmallInt;
      break;
    case 56:
      type.type = SqlType::kInt;
      break;
    case 127:
      type.type = SqlType::kBigInt;
      break;
    case 104:
      type.type = SqlType::kBit;
      break;
    case 60:
      type.type = SqlType::kMoney;
      break;
    case 122:
      type.type = SqlType::kSmallMoney;
      break;
    case 62:
      type.type = SqlType::kFloat;
      break;
    case 59:
      type.type = SqlType::kReal;
      break;
    case 61:
      type.type = SqlType::kDateTime;
      break;
    case 58:
      type.type = SqlType::kSmallDateTime;
      break;
    case 40:
      type.type = SqlType::kDate;
      break;
    case 36:
      type.type = SqlType::kUniqueIdentifier;
      break;
    case 106:
    case 108:
      type.type = data[0] == 106 ? SqlType::kDecimal : SqlType::kNumeric;
      properties = 2;
      if (size < 4) return false;
      type.precision = data[2];
      type.scale = data[3];
      break;
    case 41:
    case 42:
    case 43:
      type.type = data[0] == 41 ? SqlType::kTime : (data[0] == 42 ? SqlType::kDateTime2 : SqlType::kDateTimeOffset);
      properties = 1;
      if (size < 3) return false;
      type.scale = data[2];
      break;
    case 175:
    case 167:
    case 239:
    case 231:
      type.type = data[0] == 175   ? SqlType::kChar
                  : data[0] == 167 ? SqlType::kVarChar
                  : data[0] == 239 ? SqlType::kNChar
                                   : SqlType::kNVarChar;
      properties = 7;  // 2-byte max length + 5-byte collation
      if (size < 9) return false;
      type.max_length = ReadU16(data + 2);
      type.encoding = EncodingForCollationBytes(data + 4);
      break;
    case 173:
    case 165:
      type.type = data[0] == 173 ? SqlType::kBinary : SqlType::kVarBinary;
      properties = 2;
      if (size < 4) return false;
      type.max_length = ReadU16(data + 2);
      break;
    default:
      return false;  // other base types are not mapped
  }
  const uint32_t value_begin = 2 + properties;
  if (value_begin > size) return false;
  const uint32_t value_size = size - value_begin;
  if (type.max_length > 0 && value_size > static_cast<uint32_t>(type.max_length)) return false;
  return AppendValueJson(type, data + value_begin, value_size, out);
}

}  // namespace sqltail::logreader::decode
