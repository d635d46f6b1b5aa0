// Encodes committed row changes as Debezium SQL Server connector events: the Kafka Connect
// JsonConverter envelope {"schema", "payload"} for key and value (DESIGN.md "Events").
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/record_decoder.h"
#include "sqltail/logreader/transaction_assembler.h"

namespace sqltail::engine {

struct EncoderOptions {
  std::string topic_prefix = "sqltail";  // Debezium's topic.prefix (also source.name)
  std::string database;                  // source database name
  bool schemas_enable = true;            // JsonConverter schemas.enable
};

struct EncodedEvent {
  const std::string* topic = nullptr;
  std::string key;    // empty for tables without a key (null Kafka key)
  std::string value;  // the envelope
};

class DebeziumEncoder {
 public:
  explicit DebeziumEncoder(EncoderOptions options);

  // Encodes `change` of `txn` (`total_order`: 1-based position in the
  // transaction; `data_collection_order`: the same among the transaction's events of this table) into `out`,
  // reusing its buffers. `now_ns` is the processing time (payload ts_*). On failure `error` names
  // the LSN, table and column.
  bool Encode(const logreader::CommittedTransaction& txn, const logreader::RowChange& change, uint64_t total_order,
              uint64_t data_collection_order, int64_t now_ns, EncodedEvent& out, std::string& error);

  const std::string& TopicFor(const logreader::CapturedTable& table);

 private:
  struct TableSchemas {
    std::string topic;
    std::string key_prefix;    // {"schema":...,"payload":  (or empty when schemas are off)
    std::string value_prefix;  // {"schema":...,"payload":
  };
  TableSchemas& SchemasFor(const logreader::CapturedTable& table);
  bool AppendRow(const logreader::RowChange& change, const std::vector<size_t>* only, std::string& out,
                 std::string& error);

  EncoderOptions options_;
  std::unordered_map<const logreader::CapturedTable*, TableSchemas> schemas_;
  logreader::DecodedRecord decoded_;
  std::string scratch_;
};

// Commit time of the log (datetime layout bytes, taken as UTC) in nanoseconds since the Unix epoch.
int64_t DatetimeBytesToUnixNanos(const uint8_t bytes[8]);

}  // namespace sqltail::engine
