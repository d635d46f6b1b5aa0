#include "sqltail/logreader/dump_json.h"

#include <algorithm>
#include <cstdio>

#include "sqltail/logreader/change_event.h"

namespace sqltail::logreader {
namespace {

void AppendHex(std::span<const uint8_t> bytes, std::string& out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  out += "\"0x";
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  out.push_back('"');
}

}  // namespace

bool DecodedRecordToJson(const TableLayout& layout, const DecodedRecord& record, std::string& out, std::string& error) {
  out += "{\"record_type\":\"";
  out += RecordTypeName(record.record_type);
  out += "\"";
  if (!record.forwarded_to.empty()) {
    out += ",\"forwarded_to\":";
    AppendJsonString(record.forwarded_to, out);
  }
  if (!record.back_pointer.empty()) {
    out += ",\"back_pointer\":";
    AppendJsonString(record.back_pointer, out);
  }
  if (record.record_type != RecordType::kForwardingStub) {
    out += ",\"columns\":{";
    bool first = true;
    for (size_t i = 0; i < layout.columns.size() && i < record.fields.size(); ++i) {
      const ColumnLayout& c = layout.columns[i];
      if (!c.IsRendered()) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(*c.name, out);
      out.push_back(':');
      if (!AppendCanonicalJson(c, record.fields[i], out)) {
        error = "column " + *c.name + ": " + DescribeStoredBytes(record, record.fields[i]) + " are not a valid " +
                c.type_name + " value";
        return false;
      }
    }
    out += "}";
  }
  out += "}";
  return true;
}

bool LogRecordToJson(const LogRecordView& r, std::string& out, std::string& error) {
  char buf[64];
  out += "{\"operation\":\"" + OperationName(r.operation) + "\",\"context\":\"" + ContextName(r.context) +
         "\",\"transaction_id\":\"" + r.transaction_id.ToString() + "\",\"previous_lsn\":\"" +
         r.previous_lsn.ToString() + "\"";
  std::snprintf(buf, sizeof buf, ",\"flag_bits\":\"0x%04X\"", static_cast<unsigned>(r.flag_bits));
  out += buf;
  if (r.has_page) {
    out += ",\"page\":\"" + r.page.ToString() + "\",\"slot\":" + std::to_string(r.slot);
  }
  if (r.has_row_part) {
    out += ",\"allocation_unit_id\":" + std::to_string(r.allocation_unit_id) +
           ",\"partition_id\":" + std::to_string(r.partition_id) +
           ",\"offset_in_row\":" + std::to_string(r.offset_in_row) +
           ",\"modify_size\":" + std::to_string(r.modify_size);
  }
  out += ",\"num_elements\":" + std::to_string(r.num_elements);
  if (r.op() == LogOp::kModifyRow || r.op() == LogOp::kModifyColumns) {
    std::vector<ModifyRegion> regions;
    if (!ModifyRegions(r, regions, error)) return false;
    out += ",\"regions\":[";
    for (size_t i = 0; i < regions.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += "{\"offset\":" + std::to_string(regions[i].offset) + ",\"before\":";
      AppendHex(regions[i].before, out);
      out += ",\"after\":";
      AppendHex(regions[i].after, out);
      out += "}";
    }
    out += "]";
  }
  out += "}";
  return true;
}

bool SpliceRegion(std::span<const uint8_t> row, uint32_t offset, std::span<const uint8_t> before,
                  std::span<const uint8_t> after, std::vector<uint8_t>& out, std::string& error) {
  if (offset > row.size() || before.size() > row.size() - offset) {
    error = "the region (offset " + std::to_string(offset) + ", " + std::to_string(before.size()) +
            " bytes) lies outside the " + std::to_string(row.size()) + "-byte row";
    return false;
  }
  if (!std::equal(before.begin(), before.end(), row.begin() + offset)) {
    error = "the row does not hold the region's before bytes at offset " + std::to_string(offset);
    return false;
  }
  out.assign(row.begin(), row.begin() + offset);
  out.insert(out.end(), after.begin(), after.end());
  out.insert(out.end(), row.begin() + offset + static_cast<std::ptrdiff_t>(before.size()), row.end());
  return true;
}

}  // namespace sqltail::logreader
