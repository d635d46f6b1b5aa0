// verify's per-column normalisation: a source value (the fixture's canonical JSON rendering) and the
// value a target stored for it (after the Debezium conversions the capture made) both become one
// canonical form per SQL Server column type, so equal data give equal checksums.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "sqltail/engine/debezium_encoder.h"
#include "sqltail/engine/row_checksum.h"
#include "sqltail/logreader/table_layout.h"

namespace sqltail::engine {

// A column value as verify reads it: from a source.jsonl row (kBool, kInteger, kReal, kText) or from a
// target (kInteger, kReal, kText, kBytes; kBool for PostgreSQL boolean). `text` is only viewed.
struct VerifyValue {
  enum class Type : uint8_t { kNull, kBool, kInteger, kReal, kText, kBytes };
  Type type = Type::kNull;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string_view text;
};

// The capture settings that decide what a target stores for a type (capture.time_precision_mode, ...).
struct StoredTypeModes {
  TimePrecisionMode time_precision_mode = TimePrecisionMode::kAdaptive;
  DecimalHandlingMode decimal_handling_mode = DecimalHandlingMode::kPrecise;
  BinaryHandlingMode binary_handling_mode = BinaryHandlingMode::kBytes;
};

// A canonical value: a RowChecksum tag and the bytes mixed under it.
struct CanonicalValue {
  std::string_view tag;
  std::string bytes;
  bool operator==(const CanonicalValue&) const = default;
};

class ColumnCanonicaliser {
 public:
  // Without a catalog: by the value's own type (integers and booleans as integers, floats as reals,
  // the rest as text), the same on both sides.
  static ColumnCanonicaliser Untyped();
  static ColumnCanonicaliser ForColumn(const logreader::ColumnLayout& column, const StoredTypeModes& modes);

  // False: the column is left out of both checksums (note() says why).
  bool compared() const { return form_ != Form::kNotCompared; }
  // Empty, or "not compared: ..." / "compared to the millisecond: ..." for the report.
  const std::string& note() const { return note_; }

  // A value that is not of the column's form (a date that does not parse, text in an integer
  // column) becomes tag "x" with its raw rendering: it matches no well-formed value.
  CanonicalValue Source(const VerifyValue& value) const;
  CanonicalValue Target(const VerifyValue& value) const;
  void MixSource(const VerifyValue& value, RowChecksum& sum) const;
  void MixTarget(const VerifyValue& value, RowChecksum& sum) const;

 private:
  enum class Form : uint8_t {
    kUntyped,
    kNotCompared,
    kInteger,    // bit, tinyint .. bigint
    kReal,       // real, float; decimals under decimal_handling_mode=double
    kDecimal,    // exact decimal text at scale_
    kText,       // character types, datetimeoffset (stored as its canonical text), hierarchyid, xml
    kUpperText,  // uniqueidentifier
    kBinary,     // raw bytes
    kDate,       // days since 1970-01-01
    kTimeOfDay,  // time: count of unit_nanos_ since midnight
    kTimestamp,  // datetime family: count of unit_nanos_ since 1970-01-01T00:00
  };
  ColumnCanonicaliser(Form form, std::string note = {}) : form_(form), note_(std::move(note)) {}
  CanonicalValue FromText(std::string_view text, bool target) const;

  Form form_;
  std::string note_;
  int scale_ = 0;
  int64_t unit_nanos_ = 1;
  BinaryHandlingMode binary_mode_ = BinaryHandlingMode::kBytes;
};

}  // namespace sqltail::engine
