// Numbers, dates and times, GUIDs and binary: stored bytes -> canonical JSON (reference §3.2).
#include <charconv>
#include <cmath>
#include <cstring>

#include "decode/binary_xml.h"
#include "decode/bytes.h"
#include "decode/value_render.h"

namespace sqltail::logreader::decode {
namespace {

constexpr int64_t kMaxDateDays = 3652058;      // 9999-12-31 as days since 0001-01-01
constexpr int64_t kDaysTo1900 = 693595;        // 1900-01-01 as days since 0001-01-01
constexpr int64_t kMinDateTimeDays = -53690;   // 1753-01-01 as days since 1900-01-01
constexpr int64_t kMaxDateTimeDays = 2958463;  // 9999-12-31 as days since 1900-01-01
constexpr uint32_t kDateTimeTicksPerDay = 300u * 86400u;
constexpr int kMaxOffsetMinutes = 14 * 60;

constexpr uint64_t PowerOf10(int exponent) {
  uint64_t value = 1;
  for (int i = 0; i < exponent; ++i) value *= 10;
  return value;
}

// Rendering writes into a small stack buffer and appends once: cheaper than a push_back per character.
class TextBuffer {
 public:
  void Put(char c) { *end_++ = c; }
  // `value` as exactly `width` digits (value < 10^width), zero-padded.
  void PutDigits(uint64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      end_[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    end_ += width;
  }
  void AppendTo(std::string& out) const { out.append(text_, static_cast<size_t>(end_ - text_)); }

 private:
  char text_[64];
  char* end_ = text_;
};

// Gregorian date of a day count since 0001-01-01 (day 0), counting in 400-year eras from 0000-03-01
// so that leap days fall at the end of each counted year.
void PutDate(int64_t days, TextBuffer& text) {
  const int64_t from_march_year0 = days + 306;  // 0000-03-01 .. 0001-01-01 is 306 days
  const int64_t era = from_march_year0 / 146097;
  const int64_t day_of_era = from_march_year0 - era * 146097;
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t month_from_march = (5 * day_of_year + 2) / 153;
  const int64_t day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  const int64_t month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  const int64_t year = era * 400 + year_of_era + (month <= 2 ? 1 : 0);
  text.PutDigits(static_cast<uint64_t>(year), 4);  // callers keep days <= 9999-12-31
  text.Put('-');
  text.PutDigits(static_cast<uint64_t>(month), 2);
  text.Put('-');
  text.PutDigits(static_cast<uint64_t>(day), 2);
}

// HH:MM:SS[.fraction]: `units` counts 10^-scale seconds since midnight (callers check < 24 h).
void PutTimeOfDay(uint64_t units, int scale, TextBuffer& text) {
  const uint64_t per_second = PowerOf10(scale);
  const uint64_t seconds = units / per_second;
  text.PutDigits(seconds / 3600, 2);
  text.Put(':');
  text.PutDigits(seconds / 60 % 60, 2);
  text.Put(':');
  text.PutDigits(seconds % 60, 2);
  if (scale > 0) {
    text.Put('.');
    text.PutDigits(units % per_second, scale);
  }
}

uint32_t TimeStorageSize(int scale) { return scale <= 2 ? 3 : (scale <= 4 ? 4 : 5); }

bool ReadTime(const uint8_t* data, int scale, uint64_t& units) {
  units = ReadUnsignedLe(data, TimeStorageSize(scale));
  return units < 86400 * PowerOf10(scale);
}

bool AppendInteger(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out) {
  char digits[24];
  int64_t value = 0;
  switch (type.type) {
    case SqlType::kTinyInt:
      if (size != 1) return false;
      value = data[0];
      break;
    case SqlType::kSmallInt:
      if (size != 2) return false;
      value = static_cast<int16_t>(ReadU16(data));
      break;
    case SqlType::kInt:
      if (size != 4) return false;
      value = static_cast<int32_t>(ReadU32(data));
      break;
    default:
      if (size != 8) return false;
      value = static_cast<int64_t>(ReadU64(data));
      break;
  }
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
  return true;
}

// "[-]digits.fraction" of a magnitude with `scale` fraction digits, as a JSON string.
void AppendFixedPoint(bool negative, unsigned __int128 magnitude, int scale, std::string& out) {
  char digits[48];
  int count = 0;
  // 128-bit division is a library call: divide in 64 bits once the value fits (nearly always).
  while (magnitude > UINT64_MAX) {
    digits[count++] = static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
  }
  uint64_t small = static_cast<uint64_t>(magnitude);
  do {
    digits[count++] = static_cast<char>('0' + small % 10);
    small /= 10;
  } while (small != 0);
  while (count <= scale) digits[count++] = '0';  // at least one integer digit
  char text[56];
  char* end = text;
  *end++ = '"';
  if (negative) *end++ = '-';
  for (int i = count - 1; i >= 0; --i) {
    *end++ = digits[i];
    if (i == scale && scale > 0) *end++ = '.';
  }
  *end++ = '"';
  out.append(text, end);
}

uint32_t DecimalStorageSize(int precision) {
  return precision <= 9 ? 5 : (precision <= 19 ? 9 : (precision <= 28 ? 13 : 17));
}

bool AppendDecimal(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out) {
  if (type.precision < 1 || type.precision > 38 || type.scale > type.precision) return false;
  if (size != DecimalStorageSize(type.precision)) return false;
  if (data[0] > 1) return false;  // sign byte: 1 positive, 0 negative
  unsigned __int128 magnitude = 0;
  for (uint32_t i = size - 1; i >= 1; --i) magnitude = (magnitude << 8) | data[i];
  unsigned __int128 limit = 1;
  for (int i = 0; i < type.precision; ++i) limit *= 10;
  if (magnitude >= limit) return false;
  AppendFixedPoint(data[0] == 0 && magnitude != 0, magnitude, type.scale, out);
  return true;
}

bool AppendMoney(const uint8_t* data, uint32_t size, std::string& out) {
  int64_t value = 0;
  if (size == 8) {
    value = static_cast<int64_t>(ReadU64(data));
  } else if (size == 4) {
    value = static_cast<int32_t>(ReadU32(data));
  } else {
    return false;
  }
  const bool negative = value < 0;
  const uint64_t magnitude = negative ? (~static_cast<uint64_t>(value) + 1) : static_cast<uint64_t>(value);
  AppendFixedPoint(negative, magnitude, 4, out);
  return true;
}

bool AppendFloating(const uint8_t* data, uint32_t size, std::string& out) {
  char text[64];
  std::to_chars_result result{};
  if (size == 4) {
    float value = 0;
    std::memcpy(&value, data, 4);  // IEEE-754 little-endian, as the host
    if (!std::isfinite(value)) return false;
    result = std::to_chars(text, text + sizeof text, value);
  } else if (size == 8) {
    double value = 0;
    std::memcpy(&value, data, 8);
    if (!std::isfinite(value)) return false;
    result = std::to_chars(text, text + sizeof text, value);
  } else {
    return false;
  }
  if (result.ec != std::errc()) return false;
  out.append(text, result.ptr);
  return true;
}

bool AppendDateTime2Like(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out) {
  if (type.scale < 0 || type.scale > 7) return false;
  const uint32_t time_size = TimeStorageSize(type.scale);
  switch (type.type) {
    case SqlType::kDate: {
      if (size != 3) return false;
      const int64_t days = ReadUnsignedLe(data, 3);
      if (days > kMaxDateDays) return false;
      TextBuffer text;
      text.Put('"');
      PutDate(days, text);
      text.Put('"');
      text.AppendTo(out);
      return true;
    }
    case SqlType::kTime: {
      uint64_t units = 0;
      if (size != time_size || !ReadTime(data, type.scale, units)) return false;
      TextBuffer text;
      text.Put('"');
      PutTimeOfDay(units, type.scale, text);
      text.Put('"');
      text.AppendTo(out);
      return true;
    }
    case SqlType::kDateTime2: {
      uint64_t units = 0;
      if (size != time_size + 3 || !ReadTime(data, type.scale, units)) return false;
      const int64_t days = ReadUnsignedLe(data + time_size, 3);
      if (days > kMaxDateDays) return false;
      TextBuffer text;
      text.Put('"');
      PutDate(days, text);
      text.Put('T');
      PutTimeOfDay(units, type.scale, text);
      text.Put('"');
      text.AppendTo(out);
      return true;
    }
    default: {  // datetimeoffset
      uint64_t units = 0;
      if (size != time_size + 5 || !ReadTime(data, type.scale, units)) return false;
      const int64_t days = ReadUnsignedLe(data + time_size, 3);
      const int offset_minutes = static_cast<int16_t>(ReadU16(data + time_size + 3));
      if (days > kMaxDateDays || offset_minutes < -kMaxOffsetMinutes || offset_minutes > kMaxOffsetMinutes)
        return false;
      // Choice: the stored date/time is UTC and the offset is added to show local time. This is how
      // MS-TDS transmits datetimeoffset and how SQL Server documents comparisons (on UTC); the
      // on-disk UTC-ness is [UNCONFIRMED] in reference §3.2 (only a +00:00 example exists).
      const int64_t units_per_day = static_cast<int64_t>(86400 * PowerOf10(type.scale));
      const int64_t local = days * units_per_day + static_cast<int64_t>(units) +
                            static_cast<int64_t>(offset_minutes) * 60 * static_cast<int64_t>(PowerOf10(type.scale));
      if (local < 0 || local / units_per_day > kMaxDateDays) return false;
      TextBuffer text;
      text.Put('"');
      PutDate(local / units_per_day, text);
      text.Put('T');
      PutTimeOfDay(static_cast<uint64_t>(local % units_per_day), type.scale, text);
      const int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
      text.Put(offset_minutes < 0 ? '-' : '+');
      text.PutDigits(static_cast<uint64_t>(magnitude / 60), 2);
      text.Put(':');
      text.PutDigits(static_cast<uint64_t>(magnitude % 60), 2);
      text.Put('"');
      text.AppendTo(out);
      return true;
    }
  }
}

bool AppendDateTime(const uint8_t* data, uint32_t size, std::string& out) {
  if (size != 8) return false;
  const uint32_t ticks = ReadU32(data);  // 1/300 s since midnight
  const int64_t days = static_cast<int32_t>(ReadU32(data + 4));
  if (ticks >= kDateTimeTicksPerDay || days < kMinDateTimeDays || days > kMaxDateTimeDays) return false;
  // SQL Server shows ticks rounded to the nearest millisecond (.000/.003/.007); ticks*10/3 never ends in .5.
  const uint64_t milliseconds = (static_cast<uint64_t>(ticks % 300) * 10 + 1) / 3;
  TextBuffer text;
  text.Put('"');
  PutDate(days + kDaysTo1900, text);
  text.Put('T');
  PutTimeOfDay(static_cast<uint64_t>(ticks / 300) * 1000 + milliseconds, 3, text);
  text.Put('"');
  text.AppendTo(out);
  return true;
}

bool AppendSmallDateTime(const uint8_t* data, uint32_t size, std::string& out) {
  if (size != 4) return false;
  const uint32_t minutes = ReadU16(data);
  const uint32_t days = ReadU16(data + 2);  // since 1900-01-01, up to 2079-06-06
  if (minutes >= 1440) return false;
  TextBuffer text;
  text.Put('"');
  PutDate(days + kDaysTo1900, text);
  text.Put('T');
  PutTimeOfDay(minutes * 60u, 0, text);
  text.Put('"');
  text.AppendTo(out);
  return true;
}

void AppendHexByte(uint8_t byte, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

bool AppendGuid(const uint8_t* data, uint32_t size, std::string& out) {
  if (size != 16) return false;
  // .NET Guid byte order: the first three groups are little-endian.
  static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  out += '"';
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    AppendHexByte(data[kOrder[i]], out);
  }
  out += '"';
  return true;
}

void AppendHexString(const uint8_t* data, uint32_t size, std::string& out) {
  out += "\"0x";
  for (uint32_t i = 0; i < size; ++i) AppendHexByte(data[i], out);
  out += '"';
}

bool AppendText(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out) {
  switch (type.encoding) {
    case TextEncoding::kCp1252:
      return AppendJsonStringCp1252(data, size, out);
    case TextEncoding::kUtf8:
      return AppendJsonStringUtf8(data, size, out);
    case TextEncoding::kUnknown:
      break;
  }
  return false;  // unknown code page: never guess
}

}  // namespace

bool AppendValueJson(const ValueType& type, const uint8_t* data, uint32_t size, std::string& out) {
  switch (type.type) {
    case SqlType::kTinyInt:
    case SqlType::kSmallInt:
    case SqlType::kInt:
    case SqlType::kBigInt:
      return AppendInteger(type, data, size, out);
    case SqlType::kBit:
      if (size != 1 || data[0] > 1) return false;
      out += data[0] ? "true" : "false";
      return true;
    case SqlType::kDecimal:
    case SqlType::kNumeric:
      return AppendDecimal(type, data, size, out);
    case SqlType::kMoney:
      return size == 8 && AppendMoney(data, size, out);
    case SqlType::kSmallMoney:
      return size == 4 && AppendMoney(data, size, out);
    case SqlType::kReal:
      return size == 4 && AppendFloating(data, size, out);
    case SqlType::kFloat:
      return size == 8 && AppendFloating(data, size, out);
    case SqlType::kDate:
    case SqlType::kTime:
    case SqlType::kDateTime2:
    case SqlType::kDateTimeOffset:
      return AppendDateTime2Like(type, data, size, out);
    case SqlType::kDateTime:
      return AppendDateTime(data, size, out);
    case SqlType::kSmallDateTime:
      return AppendSmallDateTime(data, size, out);
    case SqlType::kUniqueIdentifier:
      return AppendGuid(data, size, out);
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kText:
      return AppendText(type, data, size, out);
    case SqlType::kNChar:
    case SqlType::kNVarChar:
    case SqlType::kNText:
      return AppendJsonStringUtf16Le(data, size, out);
    case SqlType::kTimestamp:
      if (size != 8) return false;
      AppendHexString(data, size, out);
      return true;
    case SqlType::kBinary:
    case SqlType::kVarBinary:
    case SqlType::kImage:
    case SqlType::kHierarchyId:
      AppendHexString(data, size, out);
      return true;
    case SqlType::kSqlVariant:
      return AppendSqlVariantJson(data, size, out);
    case SqlType::kXml:  // SQL Server binary XML: the common subset (decode/binary_xml.cpp)
      return AppendBinaryXmlJson(data, size, out);
    case SqlType::kGeometry:  // CLR spatial serialization: no rendering defined
    case SqlType::kGeography:
    case SqlType::kUnknown:
      return false;
  }
  return false;
}

}  // namespace sqltail::logreader::decode
