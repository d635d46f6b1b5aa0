// Encodes committed row changes as Debezium SQL Server connector events: the Kafka Connect
// JsonConverter envelope {"schema", "payload"} for key and value (DESIGN.md "Events").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sqltail/logreader/change_event.h"
#include "sqltail/logreader/record_decoder.h"
#include "sqltail/logreader/transaction_assembler.h"

namespace sqltail::engine {

// Debezium's type-mapping options (time.precision.mode, decimal.handling.mode, binary.handling.mode).
enum class TimePrecisionMode {
  kAdaptive,  // io.debezium.time.*: ms, µs or ns as the column's precision needs (Debezium's default)
  kConnect,   // org.apache.kafka.connect.data.Date/Time/Timestamp: always ms (finer digits are dropped)
};
enum class DecimalHandlingMode {
  kPrecise,  // org.apache.kafka.connect.data.Decimal: bytes of the unscaled value (default)
  kDouble,   // double: may lose digits
  kString,   // string: "-12.50", all digits
};
enum class BinaryHandlingMode {
  kBytes,   // bytes (base64 in JSON, as JsonConverter writes bytes) (default)
  kBase64,  // string holding the base64 text
  kHex,     // string holding lowercase hex
};
// Parse the option values as Debezium spells them ("adaptive", "precise", "base64", ...); false if unknown.
bool ParseTimePrecisionMode(std::string_view text, TimePrecisionMode& out);
bool ParseDecimalHandlingMode(std::string_view text, DecimalHandlingMode& out);
bool ParseBinaryHandlingMode(std::string_view text, BinaryHandlingMode& out);

struct EncoderOptions {
  std::string topic_prefix = "sqltail";  // Debezium's topic.prefix (also source.name)
  std::string database;                  // source database name
  bool schemas_enable = true;            // JsonConverter schemas.enable
  TimePrecisionMode time_precision_mode = TimePrecisionMode::kAdaptive;
  DecimalHandlingMode decimal_handling_mode = DecimalHandlingMode::kPrecise;
  BinaryHandlingMode binary_handling_mode = BinaryHandlingMode::kBytes;
  // A value stored off-row (row overflow, LOB root, text pointer): reading it from the log's LOB
  // records is not implemented. false: the event is an error naming LSN, table and column; true:
  // the column is unavailable (placeholder or null, named in sqltail.unavailable) and counted.
  bool off_row_values_unavailable = false;
};

// The Connect type a source column gets in change events (its field of the value schema), for the
// applier's schema evolution: from the column's sys.types name and its sys.columns precision and
// scale (a schema change event's typeName, length and scale).
struct ConnectColumnType {
  std::string type;          // "int32", "bytes", "string", ...
  std::string logical_name;  // "org.apache.kafka.connect.data.Decimal", "io.debezium.time.Date", ...; empty for none
  int precision = 0;         // Decimal: connect.decimal.precision
  int scale = 0;             // Decimal: scale
};
// False when `type_name` is not a type sqltail maps (a user-defined alias type, a misspelling).
bool ConnectColumnTypeOf(std::string_view type_name, int precision, int scale, const EncoderOptions& options,
                         ConnectColumnType& out);

// Events of one table within a source transaction (the END event's data_collections).
struct TableEventCount {
  const logreader::CapturedTable* table = nullptr;
  uint64_t events = 0;
};

struct EncodedEvent {
  const std::string* topic = nullptr;
  std::string key;    // empty for tables without a key (null Kafka key)
  std::string value;  // the envelope
  // Comma-separated names of the columns the log does not determine (an update without a base
  // image): the Kafka header sqltail.unavailable; empty when every value is known.
  std::string unavailable;
  // "<commit LSN> <total_order>": the Kafka header sqltail.txn, by which `sqltail apply` puts events of
  // several topics back into commit order without parsing them; empty for snapshot events.
  std::string txn_header;
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

  // An initial-snapshot row (`op: r`): `record` is the row's FixedVar image, rendered exactly as an
  // insert of it; source.snapshot = `marker` ("first", "true", "last_in_data_collection", "last"),
  // source.commit_lsn = the snapshot LSN, change_lsn, event_serial_no and transaction null, source
  // ts_* = `now_ns` (the read time).
  bool EncodeSnapshotRead(const logreader::CapturedTable& table, std::span<const uint8_t> record,
                          logreader::Lsn snapshot_lsn, std::string_view marker, int64_t now_ns, EncodedEvent& out,
                          std::string& error);

  // Debezium's transaction metadata (provide.transaction.metadata): BEGIN and END events on
  // <prefix>.transaction, keyed by the transaction id (the commit LSN, as Debezium's SQL Server
  // connector sets it); ts_ms is the source commit time. END carries the event counts per table.
  const std::string& TransactionTopic() const { return transaction_topic_; }
  void EncodeTransactionBegin(const logreader::CommittedTransaction& txn, EncodedEvent& out);
  void EncodeTransactionEnd(const logreader::CommittedTransaction& txn, std::span<const TableEventCount> tables,
                            EncodedEvent& out);

  // Debezium's schema change topic (include.schema.changes): the topic named <prefix>, keyed by the
  // database name, one event per table change holding the table's whole structure afterwards
  // (docs/events.md "Schema changes"). `type` is "CREATE", "ALTER" or "DROP"; `commit_lsn` is
  // source.commit_lsn (the snapshot LSN, or none when no LSN is known); `snapshot` is source.snapshot;
  // `ts_ns` is the source time and the event's ts_ms.
  const std::string& SchemaChangeTopic() const { return options_.topic_prefix; }
  // Off-row values emitted as unavailable so far (EncoderOptions::off_row_values_unavailable).
  uint64_t off_row_values_unavailable() const { return off_row_unavailable_; }
  void EncodeSchemaChange(const logreader::CapturedTable& table, std::string_view type,
                          std::optional<logreader::Lsn> commit_lsn, std::string_view snapshot, int64_t ts_ns,
                          EncodedEvent& out);

 private:
  struct TableSchemas {
    std::string topic;
    std::string key_prefix;    // {"schema":...,"payload":  (or empty when schemas are off)
    std::string value_prefix;  // {"schema":...,"payload":
  };
  TableSchemas& SchemasFor(const logreader::CapturedTable& table);
  bool AppendRow(const logreader::RowChange& change, const logreader::DecodedRecord& decoded,
                 const std::vector<size_t>* only, std::string& out, std::string& error);

  void AppendTransactionEvent(const logreader::CommittedTransaction& txn, bool end,
                              std::span<const TableEventCount> tables, EncodedEvent& out);

  EncoderOptions options_;
  std::string transaction_topic_;
  std::unordered_map<const logreader::CapturedTable*, TableSchemas> schemas_;
  logreader::DecodedRecord decoded_;
  logreader::DecodedRecord decoded_before_;  // updates
  uint64_t off_row_unavailable_ = 0;
  std::string scratch_;
  std::string schema_change_schema_;  // built on first use
};

// Commit time of the log (datetime layout bytes, taken as UTC) in nanoseconds since the Unix epoch.
int64_t DatetimeBytesToUnixNanos(const uint8_t bytes[8]);

}  // namespace sqltail::engine
