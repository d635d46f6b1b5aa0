// One physical partition layout of a table: the DESIGN.md "Table layout" contract.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sqltail::logreader {

// sys.types names, as the layout carries them.
enum class SqlType : uint8_t {
  kUnknown,
  kTinyInt,
  kSmallInt,
  kInt,
  kBigInt,
  kBit,
  kDecimal,
  kNumeric,
  kMoney,
  kSmallMoney,
  kReal,
  kFloat,
  kDate,
  kTime,
  kDateTime2,
  kDateTimeOffset,
  kDateTime,
  kSmallDateTime,
  kUniqueIdentifier,
  kChar,
  kVarChar,
  kText,
  kNChar,
  kNVarChar,
  kNText,
  kBinary,
  kVarBinary,
  kImage,
  kTimestamp,  // timestamp = rowversion
  kSqlVariant,
  kHierarchyId,
  kXml,
  kGeometry,
  kGeography,
};

SqlType SqlTypeFromName(std::string_view sys_types_name);  // kUnknown when not known
std::string_view SqlTypeName(SqlType type);

enum class Compression : uint8_t { kNone, kRow, kPage };

struct ColumnLayout {
  std::optional<std::string> name;  // null for uniquifier and dropped columns: never rendered
  int column_id = 0;
  std::string type_name;  // as given (sys.types name)
  SqlType type = SqlType::kUnknown;
  int max_length = 0;  // bytes; -1 for (max)
  int precision = 0;
  int scale = 0;
  std::optional<std::string> collation_name;
  bool is_nullable = true;
  int leaf_offset = 0;        // > 0 byte offset of a fixed column; < 0 variable-column ordinal (-1 first)
  int leaf_null_bit = 0;      // 1-based bit in the NULL bitmap
  int leaf_bit_position = 0;  // bit columns: bit inside the byte at leaf_offset
  bool is_dropped = false;
  bool is_uniqueifier = false;
  bool is_sparse = false;
  int key_ordinal = 0;  // 1-based position in the primary key, 0 when not a key column
  bool has_default = false;
  std::optional<std::string> default_value;  // text form of the metadata default (online ADD COLUMN)
  // sys.columns.is_identity / is_computed and the column's default constraint definition (as
  // "((0))"): what the table's structure says, for schema change events. Nullopt when the catalog
  // does not say (an older fixture, or no sys.columns row): unknown, not false.
  std::optional<bool> is_identity;
  std::optional<bool> is_computed;
  std::optional<std::string> default_definition;

  bool IsRendered() const { return name.has_value() && !is_dropped && !is_uniqueifier; }
  bool IsVariable() const { return leaf_offset < 0; }
  bool operator==(const ColumnLayout&) const = default;
};

struct TableLayout {
  std::string schema;
  std::string table;
  Compression compression = Compression::kNone;
  std::vector<ColumnLayout> columns;  // physical columns, in partition_column_id order
  bool operator==(const TableLayout&) const = default;
};

// Parses the layout JSON (unknown keys ignored, missing optional keys take the defaults).
// On bad input returns nullopt and sets error to a message naming the key or column.
std::optional<TableLayout> ParseTableLayout(std::string_view json, std::string& error);

}  // namespace sqltail::logreader
