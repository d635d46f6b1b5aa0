#include "sqltail/engine/verify_canonical.h"

#include <charconv>

#include "sqltail/engine/value_text.h"

namespace sqltail::engine {

using logreader::SqlType;

namespace {

// The tags RowChecksum uses for its own Null/Integer/Real/Text, so an untyped column hashes as before.
constexpr std::string_view kNullTag = "z", kIntegerTag = "i", kRealTag = "r", kTextTag = "s";
// A value that is not of its column's form.
constexpr std::string_view kMalformedTag = "x";

std::string IntegerText(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  unsigned __int128 magnitude =
      negative ? static_cast<unsigned __int128>(-(value + 1)) + 1 : static_cast<unsigned __int128>(value);
  std::string digits;
  for (; magnitude > 0; magnitude /= 10) digits.insert(digits.begin(), static_cast<char>('0' + magnitude % 10));
  return negative ? "-" + digits : digits;
}

std::string RealText(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

CanonicalValue Malformed(const VerifyValue& value) {
  switch (value.type) {
    case VerifyValue::Type::kNull:
      return {kMalformedTag, "null"};
    case VerifyValue::Type::kBool:
      return {kMalformedTag, value.boolean ? "true" : "false"};
    case VerifyValue::Type::kInteger:
      return {kMalformedTag, IntegerText(value.integer)};
    case VerifyValue::Type::kReal:
      return {kMalformedTag, RealText(value.real)};
    case VerifyValue::Type::kText:
    case VerifyValue::Type::kBytes:
      break;
  }
  return {kMalformedTag, std::string(value.text)};
}

// "-0012.5" at scale 2 -> "-12.50": digits past the scale must be zeros (they would be a different
// value); "-0.00" -> "0.00".
bool NormaliseDecimal(std::string_view text, int scale, std::string& out) {
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  const size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return false;
  for (std::string_view part : {whole, fraction})
    for (char c : part)
      if (c < '0' || c > '9') return false;
  while (whole.size() > 1 && whole[0] == '0') whole.remove_prefix(1);
  if (whole.empty()) whole = "0";
  const size_t kept = static_cast<size_t>(scale);
  if (fraction.size() > kept) {
    for (char c : fraction.substr(kept))
      if (c != '0') return false;
    fraction = fraction.substr(0, kept);
  }
  std::string digits(fraction);
  digits.resize(kept, '0');
  const bool zero = whole == "0" && digits.find_first_not_of('0') == std::string::npos;
  out = negative && !zero ? "-" : "";
  out += whole;
  if (kept > 0) out += "." + digits;
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool DecodeHex(std::string_view text, std::string& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = HexValue(text[i]), low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high << 4 | low));
  }
  return true;
}

__int128 FloorDivide(__int128 value, int64_t divisor) {
  __int128 quotient = value / divisor;
  if (value % divisor != 0 && value < 0) quotient -= 1;
  return quotient;
}

// "YYYY-MM-DDTHH:MM:SS[.f]" -> nanoseconds since 1970-01-01T00:00 (wider than int64: year 1 is
// about -6.2e19 ns).
bool ParseTimestampNanos(std::string_view text, __int128& nanos) {
  int64_t days = 0, time_of_day = 0;
  if (text.size() < 19 || text[10] != 'T' || !ParseIsoDate(text.substr(0, 10), days) ||
      !ParseIsoTimeOfDay(text.substr(11), time_of_day))
    return false;
  nanos = static_cast<__int128>(days) * 86400000000000LL + time_of_day;
  return true;
}

// Nanoseconds per stored unit of a time or datetime2 column, as the encoder picks the Debezium type.
int64_t StoredUnitNanos(const logreader::ColumnLayout& column, TimePrecisionMode mode) {
  if (mode == TimePrecisionMode::kConnect || column.scale <= 3) return 1000000;
  return column.scale <= 6 ? 1000 : 1;
}

std::string TypeDescription(const logreader::ColumnLayout& column) {
  return column.type_name.empty() ? std::string(logreader::SqlTypeName(column.type)) : column.type_name;
}

}  // namespace

ColumnCanonicaliser ColumnCanonicaliser::Untyped() { return ColumnCanonicaliser(Form::kUntyped); }

ColumnCanonicaliser ColumnCanonicaliser::ForColumn(const logreader::ColumnLayout& column,
                                                   const StoredTypeModes& modes) {
  const std::string connect_ms_note = "compared to the millisecond: capture.time_precision_mode=connect stores " +
                                      TypeDescription(column) + "(" + std::to_string(column.scale) +
                                      ") as milliseconds";
  switch (column.type) {
    case SqlType::kBit:
    case SqlType::kTinyInt:
    case SqlType::kSmallInt:
    case SqlType::kInt:
    case SqlType::kBigInt:
      return ColumnCanonicaliser(Form::kInteger);
    case SqlType::kReal:
    case SqlType::kFloat:
      return ColumnCanonicaliser(Form::kReal);
    case SqlType::kDecimal:
    case SqlType::kNumeric:
    case SqlType::kMoney:
    case SqlType::kSmallMoney: {
      if (modes.decimal_handling_mode == DecimalHandlingMode::kDouble)
        return ColumnCanonicaliser(Form::kReal,
                                   "compared as the nearest double: capture.decimal_handling_mode=double stores no "
                                   "more digits");
      ColumnCanonicaliser c(Form::kDecimal);
      c.scale_ = column.type == SqlType::kMoney || column.type == SqlType::kSmallMoney ? 4 : column.scale;
      return c;
    }
    case SqlType::kChar:
    case SqlType::kVarChar:
    case SqlType::kText:
    case SqlType::kNChar:
    case SqlType::kNVarChar:
    case SqlType::kNText:
    case SqlType::kXml:
    case SqlType::kHierarchyId:     // the encoder sends its "0x.." rendering as a string
    case SqlType::kDateTimeOffset:  // sent as its canonical text (local time and offset)
      return ColumnCanonicaliser(Form::kText);
    case SqlType::kUniqueIdentifier:
      return ColumnCanonicaliser(Form::kUpperText);
    case SqlType::kBinary:
    case SqlType::kVarBinary:
    case SqlType::kImage:
    case SqlType::kTimestamp: {
      ColumnCanonicaliser c(Form::kBinary);
      c.binary_mode_ = modes.binary_handling_mode;
      return c;
    }
    case SqlType::kDate:
      return ColumnCanonicaliser(Form::kDate);
    case SqlType::kTime:
    case SqlType::kDateTime2: {
      const bool coarser = modes.time_precision_mode == TimePrecisionMode::kConnect && column.scale > 3;
      ColumnCanonicaliser c(column.type == SqlType::kTime ? Form::kTimeOfDay : Form::kTimestamp,
                            coarser ? connect_ms_note : std::string());
      c.unit_nanos_ = StoredUnitNanos(column, modes.time_precision_mode);
      return c;
    }
    case SqlType::kDateTime:
    case SqlType::kSmallDateTime: {
      // Milliseconds in every mode; the rendering has no finer digits.
      ColumnCanonicaliser c(Form::kTimestamp);
      c.unit_nanos_ = 1000000;
      return c;
    }
    case SqlType::kSqlVariant:
      return ColumnCanonicaliser(Form::kNotCompared,
                                 "not compared: its base type varies per row and the target holds every value as "
                                 "text, numbers in the target's own formatting");
    default:
      break;
  }
  return ColumnCanonicaliser(Form::kNotCompared,
                             "not compared: sqltail has no canonical rendering of type " + TypeDescription(column));
}

CanonicalValue ColumnCanonicaliser::FromText(std::string_view text, bool target) const {
  const VerifyValue as_value{VerifyValue::Type::kText, false, 0, 0, text};
  switch (form_) {
    case Form::kReal: {
      // Only decimals under decimal_handling_mode=double reach here as text: the encoder took the
      // nearest double of the decimal text.
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size()) break;
      return {kRealTag, RealText(value)};
    }
    case Form::kDecimal: {
      std::string normal;
      if (!NormaliseDecimal(text, scale_, normal)) break;
      return {kTextTag, normal};
    }
    case Form::kText:
      return {kTextTag, std::string(text)};
    case Form::kUpperText: {
      std::string upper(text);
      for (char& c : upper)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      return {kTextTag, upper};
    }
    case Form::kBinary: {
      std::string bytes;
      bool decoded = false;
      if (!target)
        decoded = text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
                  DecodeHex(text.substr(2), bytes);
      else if (binary_mode_ == BinaryHandlingMode::kBase64)
        decoded = DecodeBase64(text, bytes);
      else if (binary_mode_ == BinaryHandlingMode::kHex)
        decoded = DecodeHex(text, bytes);
      if (!decoded) break;
      return {kTextTag, bytes};
    }
    case Form::kDate: {
      int64_t days = 0;
      if (target || !ParseIsoDate(text, days)) break;
      return {kIntegerTag, IntegerText(days)};
    }
    case Form::kTimeOfDay: {
      int64_t nanos = 0;
      if (target || !ParseIsoTimeOfDay(text, nanos)) break;
      return {kIntegerTag, IntegerText(nanos / unit_nanos_)};
    }
    case Form::kTimestamp: {
      __int128 nanos = 0;
      if (target || !ParseTimestampNanos(text, nanos)) break;
      return {kIntegerTag, IntegerText(FloorDivide(nanos, unit_nanos_))};
    }
    default:
      break;
  }
  return Malformed(as_value);
}

namespace {

CanonicalValue UntypedCanonical(const VerifyValue& value) {
  switch (value.type) {
    case VerifyValue::Type::kNull:
      return {kNullTag, {}};
    case VerifyValue::Type::kBool:
      return {kIntegerTag, value.boolean ? "1" : "0"};
    case VerifyValue::Type::kInteger:
      return {kIntegerTag, IntegerText(value.integer)};
    case VerifyValue::Type::kReal:
      return {kRealTag, RealText(value.real)};
    case VerifyValue::Type::kText:
    case VerifyValue::Type::kBytes:
      break;
  }
  return {kTextTag, std::string(value.text)};
}

}  // namespace

CanonicalValue ColumnCanonicaliser::Source(const VerifyValue& value) const {
  if (value.type == VerifyValue::Type::kNull) return {kNullTag, {}};
  switch (form_) {
    case Form::kUntyped:
    case Form::kNotCompared:
      return UntypedCanonical(value);
    case Form::kInteger:
      if (value.type == VerifyValue::Type::kBool || value.type == VerifyValue::Type::kInteger)
        return UntypedCanonical(value);
      return Malformed(value);
    case Form::kReal:
      // A whole float renders as a JSON integer ("3"): the same double.
      if (value.type == VerifyValue::Type::kInteger) return {kRealTag, RealText(static_cast<double>(value.integer))};
      if (value.type == VerifyValue::Type::kReal) return UntypedCanonical(value);
      break;
    default:
      break;
  }
  if (value.type == VerifyValue::Type::kText) return FromText(value.text, false);
  return Malformed(value);
}

CanonicalValue ColumnCanonicaliser::Target(const VerifyValue& value) const {
  if (value.type == VerifyValue::Type::kNull) return {kNullTag, {}};
  switch (form_) {
    case Form::kUntyped:
    case Form::kNotCompared:
      return UntypedCanonical(value);
    case Form::kInteger:
    case Form::kDate:
    case Form::kTimeOfDay:
    case Form::kTimestamp:
      // Booleans (PostgreSQL boolean) and the integer counts of days or time units as stored.
      if (value.type == VerifyValue::Type::kBool || value.type == VerifyValue::Type::kInteger)
        return UntypedCanonical(value);
      return Malformed(value);
    case Form::kReal:
      if (value.type == VerifyValue::Type::kInteger) return {kRealTag, RealText(static_cast<double>(value.integer))};
      if (value.type == VerifyValue::Type::kReal) return UntypedCanonical(value);
      return Malformed(value);
    case Form::kDecimal:
      // SQLite may hold a whole decimal as an integer had it been given one; PostgreSQL numeric is text.
      if (value.type == VerifyValue::Type::kInteger) return FromText(IntegerText(value.integer), true);
      break;
    case Form::kBinary:
      if (value.type == VerifyValue::Type::kBytes && binary_mode_ == BinaryHandlingMode::kBytes)
        return {kTextTag, std::string(value.text)};
      if (value.type == VerifyValue::Type::kText && binary_mode_ != BinaryHandlingMode::kBytes)
        return FromText(value.text, true);
      return Malformed(value);
    default:
      break;
  }
  if (value.type == VerifyValue::Type::kText) return FromText(value.text, true);
  return Malformed(value);
}

void ColumnCanonicaliser::MixSource(const VerifyValue& value, RowChecksum& sum) const {
  const CanonicalValue c = Source(value);
  sum.Tagged(c.tag, c.bytes);
}

void ColumnCanonicaliser::MixTarget(const VerifyValue& value, RowChecksum& sum) const {
  const CanonicalValue c = Target(value);
  sum.Tagged(c.tag, c.bytes);
}

}  // namespace sqltail::engine
