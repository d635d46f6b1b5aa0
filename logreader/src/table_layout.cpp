// Table layout JSON (DESIGN.md "Table layout") and the sys.types name mapping.
#include "sqltail/logreader/table_layout.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>

namespace sqltail::logreader {
namespace {

struct TypeNameEntry {
  std::string_view name;
  SqlType type;
};

// Canonical names first: SqlTypeName returns the first entry of a type.
constexpr std::array kTypeNames{
    TypeNameEntry{"tinyint", SqlType::kTinyInt},
    TypeNameEntry{"smallint", SqlType::kSmallInt},
    TypeNameEntry{"int", SqlType::kInt},
    TypeNameEntry{"bigint", SqlType::kBigInt},
    TypeNameEntry{"bit", SqlType::kBit},
    TypeNameEntry{"decimal", SqlType::kDecimal},
    TypeNameEntry{"numeric", SqlType::kNumeric},
    TypeNameEntry{"money", SqlType::kMoney},
    TypeNameEntry{"smallmoney", SqlType::kSmallMoney},
    TypeNameEntry{"real", SqlType::kReal},
    TypeNameEntry{"float", SqlType::kFloat},
    TypeNameEntry{"date", SqlType::kDate},
    TypeNameEntry{"time", SqlType::kTime},
    TypeNameEntry{"datetime2", SqlType::kDateTime2},
    TypeNameEntry{"datetimeoffset", SqlType::kDateTimeOffset},
    TypeNameEntry{"datetime", SqlType::kDateTime},
    TypeNameEntry{"smalldatetime", SqlType::kSmallDateTime},
    TypeNameEntry{"uniqueidentifier", SqlType::kUniqueIdentifier},
    TypeNameEntry{"char", SqlType::kChar},
    TypeNameEntry{"varchar", SqlType::kVarChar},
    TypeNameEntry{"text", SqlType::kText},
    TypeNameEntry{"nchar", SqlType::kNChar},
    TypeNameEntry{"nvarchar", SqlType::kNVarChar},
    TypeNameEntry{"ntext", SqlType::kNText},
    TypeNameEntry{"binary", SqlType::kBinary},
    TypeNameEntry{"varbinary", SqlType::kVarBinary},
    TypeNameEntry{"image", SqlType::kImage},
    TypeNameEntry{"timestamp", SqlType::kTimestamp},
    TypeNameEntry{"rowversion", SqlType::kTimestamp},
    TypeNameEntry{"sql_variant", SqlType::kSqlVariant},
    TypeNameEntry{"hierarchyid", SqlType::kHierarchyId},
    TypeNameEntry{"xml", SqlType::kXml},
    TypeNameEntry{"geometry", SqlType::kGeometry},
    TypeNameEntry{"geography", SqlType::kGeography},
    // sysname is the built-in alias of nvarchar(128) and appears in sys.types.
    TypeNameEntry{"sysname", SqlType::kNVarChar},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Reads one member of a JSON object with a type check; `where` names the column or "layout".
class ObjectReader {
 public:
  ObjectReader(simdjson::dom::object object, std::string where, std::string& error)
      : object_(object), where_(std::move(where)), error_(error) {}

  bool Has(std::string_view key) const {
    simdjson::dom::element value;
    return object_[key].get(value) == simdjson::SUCCESS;
  }

  // Required or optional integer (optional keeps `out` unchanged when missing).
  bool Int(std::string_view key, bool required, int& out) {
    simdjson::dom::element value;
    if (object_[key].get(value) != simdjson::SUCCESS) return Missing(key, required);
    int64_t number = 0;
    if (value.get_int64().get(number) != simdjson::SUCCESS || number < INT32_MIN || number > INT32_MAX) {
      return Fail(key, "must be an integer");
    }
    out = static_cast<int>(number);
    return true;
  }

  // Booleans are also accepted as 0/1 (the catalog query returns bit columns).
  bool Bool(std::string_view key, bool required, bool& out) {
    simdjson::dom::element value;
    if (object_[key].get(value) != simdjson::SUCCESS) return Missing(key, required);
    bool flag = false;
    if (value.get_bool().get(flag) == simdjson::SUCCESS) {
      out = flag;
      return true;
    }
    int64_t number = 0;
    if (value.get_int64().get(number) == simdjson::SUCCESS && (number == 0 || number == 1)) {
      out = number == 1;
      return true;
    }
    return Fail(key, "must be a boolean");
  }

  // Optional boolean that may be null: absent or null leave `out` empty.
  bool OptionalBool(std::string_view key, std::optional<bool>& out) {
    simdjson::dom::element value;
    if (object_[key].get(value) != simdjson::SUCCESS || value.is_null()) {
      out.reset();
      return true;
    }
    bool flag = false;
    if (!Bool(key, true, flag)) return false;
    out = flag;
    return true;
  }

  bool String(std::string_view key, bool required, std::string& out) {
    simdjson::dom::element value;
    if (object_[key].get(value) != simdjson::SUCCESS) return Missing(key, required);
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) return Fail(key, "must be a string");
    out.assign(text);
    return true;
  }

  // String or null; `key_present` tells whether the key exists at all.
  bool NullableString(std::string_view key, bool required, std::optional<std::string>& out) {
    simdjson::dom::element value;
    if (object_[key].get(value) != simdjson::SUCCESS) return Missing(key, required);
    if (value.is_null()) {
      out.reset();
      return true;
    }
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) return Fail(key, "must be a string or null");
    out.emplace(text);
    return true;
  }

  bool Fail(std::string_view key, std::string_view what) {
    error_ = where_ + ": key \"" + std::string(key) + "\" " + std::string(what);
    return false;
  }

 private:
  bool Missing(std::string_view key, bool required) {
    if (!required) return true;
    return Fail(key, "is missing");
  }

  simdjson::dom::object object_;
  std::string where_;
  std::string& error_;
};

bool ParseColumn(simdjson::dom::element element, size_t index, ColumnLayout& column, std::string& error) {
  std::string where = "column #" + std::to_string(index + 1);
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    error = where + ": must be an object";
    return false;
  }
  {
    // Name the column by its name in later messages once it is known.
    simdjson::dom::element name;
    std::string_view text;
    if (object["name"].get(name) == simdjson::SUCCESS && name.get_string().get(text) == simdjson::SUCCESS) {
      where += " (\"" + std::string(text) + "\")";
    }
  }
  ObjectReader reader(object, where, error);
  // Positions and sizes are required: defaulting them would decode the wrong bytes.
  if (!reader.NullableString("name", true, column.name)) return false;
  if (!reader.String("type", true, column.type_name)) return false;
  if (!reader.Int("max_length", true, column.max_length)) return false;
  if (!reader.Int("leaf_offset", true, column.leaf_offset)) return false;
  if (!reader.Int("column_id", false, column.column_id)) return false;
  if (!reader.Int("precision", false, column.precision)) return false;
  if (!reader.Int("scale", false, column.scale)) return false;
  if (!reader.NullableString("collation_name", false, column.collation_name)) return false;
  if (!reader.Bool("is_nullable", false, column.is_nullable)) return false;
  if (!reader.Int("leaf_bit_position", false, column.leaf_bit_position)) return false;
  if (!reader.Bool("is_dropped", false, column.is_dropped)) return false;
  if (!reader.Bool("is_uniqueifier", false, column.is_uniqueifier)) return false;
  if (!reader.Bool("is_sparse", false, column.is_sparse)) return false;
  if (!reader.Int("key_ordinal", false, column.key_ordinal)) return false;
  if (!reader.Bool("has_default", false, column.has_default)) return false;
  if (!reader.NullableString("default_value", false, column.default_value)) return false;
  if (!reader.OptionalBool("is_identity", column.is_identity)) return false;
  if (!reader.OptionalBool("is_computed", column.is_computed)) return false;
  if (!reader.NullableString("default_definition", false, column.default_definition)) return false;
  // Sparse columns live in the sparse vector and have no NULL bit of their own.
  if (!reader.Int("leaf_null_bit", !column.is_sparse, column.leaf_null_bit)) return false;

  column.type = SqlTypeFromName(column.type_name);
  if (column.max_length < -1) return reader.Fail("max_length", "must be -1 or more");
  // sys.columns gives float its mantissa bits (53 for float(53)); every other type, decimal included,
  // stays within 38.
  const int max_precision = column.type == SqlType::kFloat || column.type == SqlType::kReal ? 53 : 38;
  if (column.precision < 0 || column.precision > max_precision) {
    return reader.Fail("precision", max_precision == 53 ? "must be 0..53 for float/real" : "must be 0..38");
  }
  if (column.scale < 0 || column.scale > 38) return reader.Fail("scale", "must be 0..38");
  if (column.leaf_bit_position < 0 || column.leaf_bit_position > 7) {
    return reader.Fail("leaf_bit_position", "must be 0..7");
  }
  if (column.leaf_null_bit < 0) return reader.Fail("leaf_null_bit", "must be 0 or more");
  if (!column.is_sparse) {
    if (column.leaf_offset == 0) return reader.Fail("leaf_offset", "must not be 0 for a non-sparse column");
    if (column.leaf_null_bit == 0) return reader.Fail("leaf_null_bit", "must be 1 or more");
    if (column.leaf_offset > 0 && column.max_length <= 0) {
      return reader.Fail("max_length", "must be positive for a fixed-length column");
    }
  }
  return true;
}

}  // namespace

SqlType SqlTypeFromName(std::string_view sys_types_name) {
  for (const auto& entry : kTypeNames) {
    if (EqualsIgnoreCase(entry.name, sys_types_name)) return entry.type;
  }
  return SqlType::kUnknown;
}

std::string_view SqlTypeName(SqlType type) {
  for (const auto& entry : kTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

std::optional<TableLayout> ParseTableLayout(std::string_view json, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (auto code = parser.parse(padded).get(root); code != simdjson::SUCCESS) {
    error = std::string("layout: not valid JSON: ") + simdjson::error_message(code);
    return std::nullopt;
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    error = "layout: must be a JSON object";
    return std::nullopt;
  }
  TableLayout layout;
  ObjectReader reader(object, "layout", error);
  if (!reader.String("schema", false, layout.schema)) return std::nullopt;
  if (!reader.String("table", false, layout.table)) return std::nullopt;
  std::string compression = "none";
  if (!reader.String("compression", false, compression)) return std::nullopt;
  if (compression == "none") {
    layout.compression = Compression::kNone;
  } else if (compression == "row") {
    layout.compression = Compression::kRow;
  } else if (compression == "page") {
    layout.compression = Compression::kPage;
  } else {
    reader.Fail("compression", "must be \"none\", \"row\" or \"page\"");
    return std::nullopt;
  }
  simdjson::dom::array columns;
  simdjson::dom::element columns_element;
  if (object["columns"].get(columns_element) != simdjson::SUCCESS) {
    reader.Fail("columns", "is missing");
    return std::nullopt;
  }
  if (columns_element.get_array().get(columns) != simdjson::SUCCESS) {
    reader.Fail("columns", "must be an array");
    return std::nullopt;
  }
  size_t index = 0;
  for (simdjson::dom::element element : columns) {
    ColumnLayout& column = layout.columns.emplace_back();
    if (!ParseColumn(element, index, column, error)) return std::nullopt;
    ++index;
  }
  if (layout.columns.empty()) {
    reader.Fail("columns", "must not be empty");
    return std::nullopt;
  }
  return layout;
}

}  // namespace sqltail::logreader
