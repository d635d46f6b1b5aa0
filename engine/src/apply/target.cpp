#include "target.h"

namespace sqltail::engine {

std::string DescribeOrigin(const RowOrigin& origin) {
  return "topic " + std::string(origin.topic) + ", partition " + std::to_string(origin.partition) + ", offset " +
         std::to_string(origin.offset);
}

std::string Target::ProgressMoved(const std::string& topic, int32_t partition, int64_t expected) {
  progress_moved_ = true;
  return "topic " + topic + ", partition " + std::to_string(partition) + ": the stored progress is no longer " +
         (expected < 0 ? std::string("absent") : std::to_string(expected)) + ": another applier wrote it meanwhile (" +
         std::string(kProgressMovedMarker) + ")";
}

std::string DescribeKey(const TargetTable& table, const std::vector<FieldValue>& row) {
  std::string names, values;
  for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
    if (table.has_key && !table.columns[i].key) continue;
    if (!names.empty()) names += ", ", values += ", ";
    names += table.columns[i].name;
    const FieldValue& v = row[i];
    switch (v.type) {
      case FieldValue::Type::kNull:
        values += "null";
        break;
      case FieldValue::Type::kBool:
        values += v.boolean ? "true" : "false";
        break;
      case FieldValue::Type::kInteger:
        values += std::to_string(v.integer);
        break;
      case FieldValue::Type::kReal:
        values += std::to_string(v.real);
        break;
      case FieldValue::Type::kText:
        if (table.columns[i].kind == ValueKind::kBytes) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          values += "0x";
          for (unsigned char c : v.text) values += kHex[c >> 4], values += kHex[c & 15];
        } else {
          values += v.text.substr(0, 200);
        }
        break;
    }
  }
  return "(" + names + ")=(" + values + ")";
}

bool Target::UpdateKnownColumns(TargetTable& table, const std::vector<FieldValue>&, const std::vector<bool>&,
                                const RowOrigin& origin, std::string& error) {
  error = DescribeOrigin(origin) + ": table " + table.name + ": " + Describe() +
          " cannot leave columns the log did not determine untouched (header sqltail.unavailable); stopping "
          "rather than overwriting them";
  return false;
}

}  // namespace sqltail::engine
