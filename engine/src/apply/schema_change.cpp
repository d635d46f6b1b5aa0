#include "schema_change.h"

namespace sqltail::engine {

bool SplitTableId(std::string_view id, std::vector<std::string>& parts) {
  parts.clear();
  size_t i = 0;
  for (;;) {
    std::string part;
    if (i < id.size() && id[i] == '"') {
      for (++i;; ++i) {
        if (i >= id.size()) return false;  // not closed
        if (id[i] == '"') {
          if (i + 1 < id.size() && id[i + 1] == '"') {
            part += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        part += id[i];
      }
    } else {
      while (i < id.size() && id[i] != '.') part += id[i++];
    }
    parts.push_back(std::move(part));
    if (i == id.size()) return true;
    if (id[i] != '.') return false;
    ++i;
  }
}

namespace {

bool ParseColumns(simdjson::dom::object table, const EncoderOptions& modes, EventTableChange& change) {
  simdjson::dom::array columns, keys;
  if (table["columns"].get(columns) || table["primaryKeyColumnNames"].get(keys)) {
    change.column_error = "table change " + change.type + " without table.columns and table.primaryKeyColumnNames";
    return false;
  }
  for (simdjson::dom::element c : columns) {
    std::string_view name, type_name;
    if (c["name"].get(name) || c["typeName"].get(type_name)) {
      change.column_error = "a column without name or typeName";
      return false;
    }
    SchemaChangeColumn column;
    column.name = std::string(name);
    column.type_name = std::string(type_name);
    // mssql-jdbc names an identity column's type "int identity".
    std::string_view base = type_name;
    if (base.ends_with(" identity")) base.remove_suffix(9);
    // length: digits for numbers (precision), characters or bytes for strings; null for (max) and LOBs.
    int64_t length = 0, scale = 0;
    if (c["length"].get(length)) length = 0;
    if (c["scale"].get(scale)) scale = 0;
    if (length < 0 || length > (int64_t{1} << 30) || scale < 0 || scale > 38 ||
        !ConnectColumnTypeOf(base, static_cast<int>(length), static_cast<int>(scale), modes, column.connect)) {
      change.column_error = "column " + column.name + ": unknown type '" + column.type_name + "'";
      return false;
    }
    for (simdjson::dom::element k : keys) {
      std::string_view key;
      if (!k.get(key) && key == name) column.key = true;
    }
    change.columns.push_back(std::move(column));
  }
  return true;
}

}  // namespace

bool ParseSchemaChangeEvent(simdjson::dom::parser& parser, std::string_view value, const EncoderOptions& modes,
                            std::vector<EventTableChange>& out, std::string& error) {
  out.clear();
  simdjson::dom::element root, payload;
  if (auto err = parser.parse(value.data(), value.size()).get(root)) {
    error = std::string("the schema change event is not JSON: ") + simdjson::error_message(err);
    return false;
  }
  // The JsonConverter envelope {"schema", "payload"}, or the payload alone (schemas.enable = false).
  if (root["payload"].get(payload) || root["schema"].error()) payload = root;
  simdjson::dom::array changes;
  if (payload["tableChanges"].get(changes)) {
    error = "not a schema change event (no payload.tableChanges)";
    return false;
  }
  std::vector<std::string> parts;
  for (simdjson::dom::element element : changes) {
    std::string_view type, id;
    if (element["type"].get(type) || element["id"].get(id)) {
      error = "a table change without type or id";
      return false;
    }
    if (type != "CREATE" && type != "ALTER" && type != "DROP") {
      error = "table change type '" + std::string(type) + "' of " + std::string(id) + " is not CREATE, ALTER or DROP";
      return false;
    }
    if (!SplitTableId(id, parts) || parts.size() != 3) {
      error = "table change id '" + std::string(id) + "' is not \"db\".\"schema\".\"table\"";
      return false;
    }
    EventTableChange& change = out.emplace_back();
    change.type = std::string(type);
    change.id = std::string(id);
    change.db = parts[0], change.schema = parts[1], change.table = parts[2];
    if (type == "DROP") continue;  // the structure before the drop is of no use
    simdjson::dom::object table;
    if (element["table"].get(table)) {
      change.column_error = "table change " + change.type + " without a table";
      continue;
    }
    ParseColumns(table, modes, change);
  }
  return true;
}

}  // namespace sqltail::engine
