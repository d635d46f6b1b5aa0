#include "test_support.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cmath>

namespace sqltail::test {

using namespace sqltail::logreader;

std::vector<uint8_t> HexToBytes(std::string_view hex) {
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> bytes;
  REQUIRE(hex.size() % 2 == 0);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = nibble(hex[i]);
    const int low = nibble(hex[i + 1]);
    REQUIRE(high >= 0);
    REQUIRE(low >= 0);
    bytes.push_back(static_cast<uint8_t>(high * 16 + low));
  }
  return bytes;
}

TableLayout LayoutFromJson(std::string_view json) {
  std::string error;
  auto layout = ParseTableLayout(json, error);
  INFO(error);
  REQUIRE(layout.has_value());
  return *layout;
}

bool RenderRecordJson(const TableLayout& layout, const DecodedRecord& record, std::string& json, std::string& failure) {
  json = "{\"record_type\":\"";
  json += RecordTypeName(record.record_type);
  json += "\"";
  if (!record.forwarded_to.empty()) json += ",\"forwarded_to\":\"" + record.forwarded_to + "\"";
  if (!record.back_pointer.empty()) json += ",\"back_pointer\":\"" + record.back_pointer + "\"";
  json += ",\"columns\":{";
  bool first = true;
  for (size_t i = 0; i < layout.columns.size(); ++i) {
    const ColumnLayout& column = layout.columns[i];
    if (!column.IsRendered()) continue;
    if (!first) json += ',';
    first = false;
    json += "\"" + *column.name + "\":";
    if (!AppendCanonicalJson(column, record.fields[i], json)) {
      failure = "column " + *column.name + " does not render";
      return false;
    }
  }
  json += "}}";
  return true;
}

namespace {

bool Equivalent(simdjson::dom::element actual, simdjson::dom::element expected, const std::string& path,
                std::string& difference) {
  using simdjson::dom::element_type;
  const element_type expected_type = expected.type();
  const element_type actual_type = actual.type();
  auto is_number = [](element_type type) {
    return type == element_type::INT64 || type == element_type::UINT64 || type == element_type::DOUBLE;
  };
  if (is_number(expected_type) && is_number(actual_type)) {
    if (expected_type != element_type::DOUBLE && actual_type != element_type::DOUBLE) {
      // Integers exactly (both fit int64 or uint64 here).
      int64_t a = 0;
      int64_t e = 0;
      if (actual.get_int64().get(a) == simdjson::SUCCESS && expected.get_int64().get(e) == simdjson::SUCCESS) {
        if (a == e) return true;
      } else {
        uint64_t ua = 0;
        uint64_t ue = 0;
        if (actual.get_uint64().get(ua) == simdjson::SUCCESS && expected.get_uint64().get(ue) == simdjson::SUCCESS &&
            ua == ue) {
          return true;
        }
      }
    } else {
      double a = 0;
      double e = 0;
      if (actual.get_double().get(a) == simdjson::SUCCESS && expected.get_double().get(e) == simdjson::SUCCESS &&
          a == e) {
        return true;
      }
    }
    difference = path + ": " + simdjson::to_string(actual) + " != expected " + simdjson::to_string(expected);
    return false;
  }
  if (expected_type != actual_type) {
    difference =
        path + ": " + simdjson::to_string(actual) + " has another type than expected " + simdjson::to_string(expected);
    return false;
  }
  switch (expected_type) {
    case element_type::OBJECT: {
      simdjson::dom::object a = actual.get_object().value_unsafe();
      simdjson::dom::object e = expected.get_object().value_unsafe();
      if (a.size() != e.size()) {
        difference = path + ": " + std::to_string(a.size()) + " keys, expected " + std::to_string(e.size()) + " (" +
                     simdjson::to_string(actual) + " vs " + simdjson::to_string(expected) + ")";
        return false;
      }
      for (auto [key, value] : e) {
        simdjson::dom::element other;
        if (a[key].get(other) != simdjson::SUCCESS) {
          difference = path + ": missing key " + std::string(key);
          return false;
        }
        if (!Equivalent(other, value, path + "." + std::string(key), difference)) return false;
      }
      return true;
    }
    case element_type::ARRAY: {
      simdjson::dom::array a = actual.get_array().value_unsafe();
      simdjson::dom::array e = expected.get_array().value_unsafe();
      if (a.size() != e.size()) {
        difference = path + ": array sizes differ";
        return false;
      }
      for (size_t i = 0; i < e.size(); ++i) {
        if (!Equivalent(a.at(i).value_unsafe(), e.at(i).value_unsafe(), path + "[" + std::to_string(i) + "]",
                        difference)) {
          return false;
        }
      }
      return true;
    }
    case element_type::STRING:
      if (actual.get_string().value_unsafe() == expected.get_string().value_unsafe()) return true;
      difference = path + ": \"" + std::string(actual.get_string().value_unsafe()) + "\" != expected \"" +
                   std::string(expected.get_string().value_unsafe()) + "\"";
      return false;
    case element_type::BOOL:
      if (actual.get_bool().value_unsafe() == expected.get_bool().value_unsafe()) return true;
      difference = path + ": booleans differ";
      return false;
    default:
      return true;  // null == null
  }
}

}  // namespace

bool JsonEquivalent(std::string_view actual, std::string_view expected, std::string& difference) {
  simdjson::dom::parser actual_parser;
  simdjson::dom::parser expected_parser;
  simdjson::dom::element a;
  simdjson::dom::element e;
  if (actual_parser.parse(simdjson::padded_string(actual)).get(a) != simdjson::SUCCESS) {
    difference = "actual is not valid JSON: " + std::string(actual);
    return false;
  }
  if (expected_parser.parse(simdjson::padded_string(expected)).get(e) != simdjson::SUCCESS) {
    difference = "expected is not valid JSON";
    return false;
  }
  return Equivalent(a, e, "$", difference);
}

ColumnLayout Column(std::string name, std::string type, int max_length, int leaf_offset, int null_bit) {
  ColumnLayout column;
  column.name = std::move(name);
  column.type_name = type;
  column.type = SqlTypeFromName(type);
  column.max_length = max_length;
  column.leaf_offset = leaf_offset;
  column.leaf_null_bit = null_bit;
  return column;
}

std::string RenderValue(const ColumnLayout& column, const std::vector<uint8_t>& bytes, bool& ok) {
  FieldView field{FieldState::kValue, bytes.data(), static_cast<uint32_t>(bytes.size())};
  std::string out;
  ok = AppendCanonicalJson(column, field, out);
  return out;
}

std::vector<uint8_t> BuildRecord(const std::vector<uint8_t>& fixed, uint16_t column_count,
                                 const std::vector<int>& null_bits, const std::vector<VarValue>& vars,
                                 uint8_t record_type, bool with_bitmap) {
  std::vector<uint8_t> record;
  uint8_t status = static_cast<uint8_t>(record_type << 1);
  if (with_bitmap) status |= 0x10;
  if (!vars.empty()) status |= 0x20;
  record.push_back(status);
  record.push_back(0);
  const uint16_t fixed_end = static_cast<uint16_t>(4 + fixed.size());
  record.push_back(static_cast<uint8_t>(fixed_end));
  record.push_back(static_cast<uint8_t>(fixed_end >> 8));
  record.insert(record.end(), fixed.begin(), fixed.end());
  if (with_bitmap) {
    record.push_back(static_cast<uint8_t>(column_count));
    record.push_back(static_cast<uint8_t>(column_count >> 8));
    std::vector<uint8_t> bitmap((column_count + 7) / 8, 0);
    for (int bit : null_bits) bitmap[(bit - 1) / 8] |= static_cast<uint8_t>(1u << ((bit - 1) % 8));
    record.insert(record.end(), bitmap.begin(), bitmap.end());
  }
  if (!vars.empty()) {
    record.push_back(static_cast<uint8_t>(vars.size()));
    record.push_back(static_cast<uint8_t>(vars.size() >> 8));
    uint32_t end = static_cast<uint32_t>(record.size() + 2 * vars.size());
    for (const auto& var : vars) {
      end += static_cast<uint32_t>(var.bytes.size());
      const uint16_t entry = static_cast<uint16_t>(end | (var.complex ? 0x8000 : 0));
      record.push_back(static_cast<uint8_t>(entry));
      record.push_back(static_cast<uint8_t>(entry >> 8));
    }
    for (const auto& var : vars) record.insert(record.end(), var.bytes.begin(), var.bytes.end());
  }
  while (record.size() < 9) record.push_back(0);  // SQL Server's minimum record size
  return record;
}

}  // namespace sqltail::test
