#include "snapshot_text.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace sqltail::engine {

using logreader::ColumnLayout;
using logreader::SqlType;

namespace {

constexpr int64_t kDaysTo1900 = 693595;           // 0001-01-01 .. 1900-01-01
constexpr int64_t kMinDateTimeDays = -53690;      // 1753-01-01 - 1900-01-01
constexpr int64_t kSmallDateTimeLastDay = 65535;  // 2079-06-06 - 1900-01-01

uint64_t PowerOf10(int n) {
  uint64_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

void PutLe(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

int TimeSize(int scale) { return scale <= 2 ? 3 : scale <= 4 ? 4 : 5; }

// Reads the text left to right; each Take fails (and stays failed) on a mismatch.
struct Reader {
  std::string_view text;
  size_t at = 0;
  bool ok = true;

  bool Done() const { return ok && at == text.size(); }
  bool Peek(char c) const { return ok && at < text.size() && text[at] == c; }
  void Char(char c) {
    if (Peek(c)) {
      ++at;
    } else {
      ok = false;
    }
  }
  // Exactly `count` decimal digits.
  int64_t Digits(int count) {
    int64_t v = 0;
    for (int i = 0; i < count; ++i) {
      if (!ok || at >= text.size() || text[at] < '0' || text[at] > '9') {
        ok = false;
        return 0;
      }
      v = v * 10 + (text[at++] - '0');
    }
    return v;
  }
};

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// "yyyy-mm-dd" -> days since 0001-01-01 (proleptic Gregorian, as date stores it).
bool ReadDate(Reader& r, int64_t& days, std::string& what) {
  const int64_t y = r.Digits(4);
  r.Char('-');
  const int64_t m = r.Digits(2);
  r.Char('-');
  const int64_t d = r.Digits(2);
  if (!r.ok) {
    what = "not a yyyy-mm-dd date";
    return false;
  }
  static constexpr int kMonthDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  static constexpr int kBeforeMonth[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > kMonthDays[m - 1] + (m == 2 && IsLeap(y) ? 1 : 0)) {
    what = "not a calendar date";
    return false;
  }
  const int64_t before = y - 1;
  days = 365 * before + before / 4 - before / 100 + before / 400 + kBeforeMonth[m - 1] + (m > 2 && IsLeap(y) ? 1 : 0) +
         d - 1;
  return true;
}

// "hh:mi:ss[.f...]" -> seconds since midnight and the fraction as its digits.
bool ReadClock(Reader& r, int64_t& seconds, uint64_t& fraction, int& fraction_digits, std::string& what) {
  const int64_t h = r.Digits(2);
  r.Char(':');
  const int64_t mi = r.Digits(2);
  r.Char(':');
  const int64_t s = r.Digits(2);
  fraction = 0;
  fraction_digits = 0;
  if (r.Peek('.')) {
    r.Char('.');
    while (r.ok && r.at < r.text.size() && r.text[r.at] >= '0' && r.text[r.at] <= '9') {
      if (++fraction_digits > 9) break;
      fraction = fraction * 10 + static_cast<uint64_t>(r.text[r.at++] - '0');
    }
    if (fraction_digits == 0 || fraction_digits > 9) r.ok = false;
  }
  if (!r.ok || h > 23 || mi > 59 || s > 59) {
    what = "not a hh:mi:ss[.fffffff] time of day";
    return false;
  }
  seconds = h * 3600 + mi * 60 + s;
  return true;
}

// Time of day in units of 10^-scale s. Whether style 121 prints exactly `scale` fraction digits is
// not documented: any count is taken, and digits beyond the scale must be zero (else not exact).
bool ReadTimeUnits(Reader& r, int scale, uint64_t& units, std::string& what) {
  int64_t seconds = 0;
  uint64_t fraction = 0;
  int digits = 0;
  if (!ReadClock(r, seconds, fraction, digits, what)) return false;
  if (digits > scale) {
    const uint64_t drop = PowerOf10(digits - scale);
    if (fraction % drop != 0) {
      what = "more fraction digits than the scale " + std::to_string(scale);
      return false;
    }
    fraction /= drop;
  } else {
    fraction *= PowerOf10(scale - digits);
  }
  units = static_cast<uint64_t>(seconds) * PowerOf10(scale) + fraction;
  return true;
}

// "[-]digits[.digits]" with at most `scale` fraction digits -> unscaled magnitude (up to 38 digits).
bool ReadFixedPoint(std::string_view text, int scale, int max_digits, bool exact_scale, bool& negative,
                    unsigned __int128& magnitude, std::string& what) {
  negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  magnitude = 0;
  int digits = 0, fraction = -1;
  for (char c : text) {
    if (c == '.' && fraction < 0) {
      fraction = 0;
      continue;
    }
    if (c < '0' || c > '9') {
      what = "not a decimal number";
      return false;
    }
    if (fraction >= 0) ++fraction;
    if (digits > 0 || c != '0') ++digits;  // leading zeros do not count against the precision
    if (digits > max_digits) {
      what = "more than " + std::to_string(max_digits) + " digits";
      return false;
    }
    magnitude = magnitude * 10 + static_cast<unsigned>(c - '0');
  }
  const int got = std::max(fraction, 0);
  if (text.empty() || text == "." || got > scale || (exact_scale && got != scale) || (fraction == 0)) {
    what = "not a number with " + std::to_string(scale) + " decimals";
    return false;
  }
  for (int i = got; i < scale; ++i) magnitude *= 10;
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

// The forms and the Microsoft documentation they rely on: "CAST and CONVERT (Transact-SQL)" (the
// date and time, float and real, money and smallmoney style tables; CAST(SYSDATETIME() AS
// nvarchar(30)) = 2010-07-20 13:44:31.5879025), "decimal and numeric (Transact-SQL)" (values shown
// with the scale's digits: 123.00, 12345.12000) and "uniqueidentifier (Transact-SQL)" (the
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx form, 36 characters). Each parser is strict, so a layout
// other than the documented one is refused rather than misread.
std::optional<std::string> SnapshotTextExpression(const ColumnLayout& column, std::string_view quoted_name) {
  const std::string c(quoted_name);
  switch (column.type) {
    case SqlType::kDate:  // style 23: ISO8601 yyyy-mm-dd
      return "CONVERT(char(10), " + c + ", 23)";
    case SqlType::kTime:       // style 121: ODBC canonical with fraction, the default for time
    case SqlType::kDateTime2:  // style 121: yyyy-mm-dd hh:mi:ss.fffffff, the default for datetime2
      return "CONVERT(varchar(30), " + c + ", 121)";
    case SqlType::kDateTime:  // style 121: yyyy-mm-dd hh:mi:ss.mmm(24h)
      return "CONVERT(varchar(23), " + c + ", 121)";
    case SqlType::kSmallDateTime:  // style 120: ODBC canonical yyyy-mm-dd hh:mi:ss(24h)
      return "CONVERT(varchar(19), " + c + ", 120)";
    case SqlType::kDecimal:  // no CONVERT style: the digits with the column's scale, exactly
    case SqlType::kNumeric:
      return "CONVERT(varchar(50), " + c + ")";
    case SqlType::kMoney:  // money style 2: no commas, four digits after the point
    case SqlType::kSmallMoney:
      return "CONVERT(varchar(30), " + c + ", 2)";
    case SqlType::kFloat:  // float style 3: always 17 digits, lossless (SQL Server 2016+)
    case SqlType::kReal:
      return "CONVERT(varchar(30), " + c + ", 3)";
    case SqlType::kUniqueIdentifier:  // xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, 36 characters
      return "CONVERT(char(36), " + c + ")";
    default:
      return std::nullopt;
  }
}

bool StoredBytesFromSnapshotText(const ColumnLayout& column, std::string_view text, std::vector<uint8_t>& out,
                                 std::string& what) {
  out.clear();
  Reader r{text};
  switch (column.type) {
    case SqlType::kDate: {
      int64_t days = 0;
      if (!ReadDate(r, days, what)) return false;
      if (!r.Done()) break;
      PutLe(out, static_cast<uint64_t>(days), 3);
      return true;
    }
    case SqlType::kTime:
    case SqlType::kDateTime2: {
      if (column.scale < 0 || column.scale > 7) {
        what = "scale " + std::to_string(column.scale) + " is out of range";
        return false;
      }
      int64_t days = 0;
      if (column.type == SqlType::kDateTime2) {
        if (!ReadDate(r, days, what)) return false;
        r.Char(' ');
      }
      uint64_t units = 0;
      if (!r.ok || !ReadTimeUnits(r, column.scale, units, what)) {
        if (what.empty()) what = "not yyyy-mm-dd hh:mi:ss[.fffffff]";
        return false;
      }
      if (!r.Done()) break;
      PutLe(out, units, TimeSize(column.scale));
      if (column.type == SqlType::kDateTime2) PutLe(out, static_cast<uint64_t>(days), 3);
      return true;
    }
    case SqlType::kDateTime: {
      int64_t days = 0, seconds = 0;
      uint64_t ms = 0;
      int digits = 0;
      if (!ReadDate(r, days, what)) return false;
      r.Char(' ');
      if (!r.ok || !ReadClock(r, seconds, ms, digits, what)) {
        if (what.empty()) what = "not yyyy-mm-dd hh:mi:ss.mmm";
        return false;
      }
      if (!r.Done() || digits != 3) break;
      days -= kDaysTo1900;
      if (days < kMinDateTimeDays) {
        what = "before 1753-01-01, the first datetime";
        return false;
      }
      // SQL Server prints 1/300 s ticks rounded to milliseconds ((t*10+1)/3: .000 .003 .007 ...);
      // each printed value comes from one tick, found among the two nearest.
      std::optional<uint64_t> tick;
      for (uint64_t t = ms * 3 / 10; t <= ms * 3 / 10 + 1 && t < 300; ++t)
        if ((t * 10 + 1) / 3 == ms) tick = t;
      if (!tick) {
        what = "milliseconds ." + std::string(text.substr(text.size() - 3)) + " are not a datetime tick (1/300 s)";
        return false;
      }
      PutLe(out, static_cast<uint64_t>(seconds) * 300 + *tick, 4);
      PutLe(out, static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(days))), 4);
      return true;
    }
    case SqlType::kSmallDateTime: {
      int64_t days = 0, seconds = 0;
      uint64_t fraction = 0;
      int digits = 0;
      if (!ReadDate(r, days, what)) return false;
      r.Char(' ');
      if (!r.ok || !ReadClock(r, seconds, fraction, digits, what)) {
        if (what.empty()) what = "not yyyy-mm-dd hh:mi:ss";
        return false;
      }
      if (!r.Done() || digits != 0) break;
      days -= kDaysTo1900;
      if (days < 0 || days > kSmallDateTimeLastDay || seconds % 60 != 0) {
        what = "not a smalldatetime (1900-01-01 .. 2079-06-06, whole minutes)";
        return false;
      }
      PutLe(out, static_cast<uint64_t>(seconds / 60), 2);
      PutLe(out, static_cast<uint64_t>(days), 2);
      return true;
    }
    case SqlType::kDecimal:
    case SqlType::kNumeric: {
      const int size = column.max_length;
      if ((size != 5 && size != 9 && size != 13 && size != 17) || column.precision < 1 || column.precision > 38 ||
          column.scale < 0 || column.scale > column.precision) {
        what = "precision/scale/length " + std::to_string(column.precision) + "/" + std::to_string(column.scale) + "/" +
               std::to_string(size) + " is not a decimal layout";
        return false;
      }
      bool negative = false;
      unsigned __int128 magnitude = 0;
      if (!ReadFixedPoint(text, column.scale, column.precision, true, negative, magnitude, what)) return false;
      unsigned __int128 limit = 1;
      for (int i = 0; i < column.precision; ++i) limit *= 10;
      if (magnitude >= limit) {
        what = "more digits than the precision " + std::to_string(column.precision);
        return false;
      }
      out.push_back(negative && magnitude != 0 ? 0 : 1);  // sign byte: 1 = positive
      for (int i = 0; i < size - 1; ++i) out.push_back(static_cast<uint8_t>(magnitude >> (8 * i)));
      return true;
    }
    case SqlType::kMoney:
    case SqlType::kSmallMoney: {
      bool negative = false;
      unsigned __int128 magnitude = 0;
      if (!ReadFixedPoint(text, 4, 19, true, negative, magnitude, what)) return false;
      const bool small = column.type == SqlType::kSmallMoney;
      const unsigned __int128 max_positive = small ? INT32_MAX : INT64_MAX;
      if (magnitude > max_positive + (negative ? 1 : 0)) {
        what = small ? "out of the smallmoney range" : "out of the money range";
        return false;
      }
      const uint64_t bits = negative ? ~static_cast<uint64_t>(magnitude) + 1 : static_cast<uint64_t>(magnitude);
      PutLe(out, bits, small ? 4 : 8);
      return true;
    }
    case SqlType::kFloat:
    case SqlType::kReal: {
      // from_chars rounds correctly, so 17 significant digits give back the stored double (9 a float).
      const char* end = text.data() + text.size();
      std::from_chars_result parsed{};
      if (column.type == SqlType::kFloat) {
        double v = 0;
        parsed = std::from_chars(text.data(), end, v);
        if (parsed.ec == std::errc() && parsed.ptr == end && std::isfinite(v)) {
          uint64_t bits;
          std::memcpy(&bits, &v, sizeof bits);
          PutLe(out, bits, 8);
          return true;
        }
      } else {
        float v = 0;
        parsed = std::from_chars(text.data(), end, v);
        if (parsed.ec == std::errc() && parsed.ptr == end && std::isfinite(v)) {
          uint32_t bits;
          std::memcpy(&bits, &v, sizeof bits);
          PutLe(out, bits, 4);
          return true;
        }
      }
      what = "not a finite floating-point number";
      return false;
    }
    case SqlType::kUniqueIdentifier: {
      uint8_t canonical[16];
      size_t n = 0;
      bool ok = text.size() == 36;
      for (size_t i = 0; ok && i < text.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
          ok = text[i] == '-';
          continue;
        }
        const int hi = HexDigit(text[i]), lo = i + 1 < text.size() ? HexDigit(text[i + 1]) : -1;
        ok = hi >= 0 && lo >= 0;
        if (ok) canonical[n++] = static_cast<uint8_t>(hi << 4 | lo);
        ++i;
      }
      if (!ok || n != 16) {
        what = "not a xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx GUID";
        return false;
      }
      // Stored in .NET Guid(byte[]) order: the first three groups little-endian.
      static constexpr int kStoredOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
      for (int index : kStoredOrder) out.push_back(canonical[index]);
      return true;
    }
    default:
      what = "type " + column.type_name + " is not read as text";
      return false;
  }
  what = "unexpected characters at offset " + std::to_string(r.at);
  return false;
}

}  // namespace sqltail::engine
