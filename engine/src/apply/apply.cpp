#include "sqltail/engine/apply.h"

#include <simdjson.h>
#include <sqlite3.h>

#include <chrono>
#include <map>
#include <thread>

#include "sqlite_target.h"
#include "sqltail/kafka/consumer.h"

namespace sqltail::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kKafkaTimeout = std::chrono::seconds(30);

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool DecodeBase64(std::string_view text, std::string& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = Base64Value(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return true;
}

// Connect Decimal bytes (big-endian two's complement unscaled value) -> "-12.50".
bool DecimalText(std::string_view bytes, int scale, std::string& out) {
  if (bytes.empty() || bytes.size() > 16) return false;
  __int128 value = static_cast<int8_t>(bytes[0]);
  for (size_t i = 1; i < bytes.size(); ++i) value = value * 256 + static_cast<uint8_t>(bytes[i]);
  bool negative = value < 0;
  unsigned __int128 magnitude =
      negative ? -static_cast<unsigned __int128>(value) : static_cast<unsigned __int128>(value);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude > 0);
  while (static_cast<int>(digits.size()) <= scale) digits.insert(digits.begin(), '0');
  out = negative ? "-" : "";
  out += digits.substr(0, digits.size() - static_cast<size_t>(scale));
  if (scale > 0) out += "." + digits.substr(digits.size() - static_cast<size_t>(scale));
  return true;
}

struct TopicState {
  SqliteTarget::Table* table = nullptr;
};

class Applier {
 public:
  Applier(const ApplyOptions& options, ApplyStats& stats) : options_(options), stats_(stats) {}

  bool Run(const std::atomic<bool>& stop, std::string& error, const std::function<void(const std::string&)>& log) {
    if (!target_.Open(options_.sqlite_path, error)) return false;
    std::map<std::pair<std::string, int32_t>, int64_t> progress;
    if (!target_.LoadProgress(progress, error)) return false;

    kafka::Consumer consumer(options_.kafka);
    std::vector<kafka::PartitionStart> starts;
    for (const auto& topic : options_.topics) {
      // The capture creates its topics; an applier started first waits for them.
      auto partitions = consumer.ListPartitions(topic, kKafkaTimeout);
      for (bool told = false; !partitions.ok() && partitions.error().name() == "UNKNOWN_TOPIC_OR_PART" && !stop.load();
           told = true) {
        if (!told && log) log("waiting for topic " + topic + " to be created");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        partitions = consumer.ListPartitions(topic, kKafkaTimeout);
      }
      if (stop.load()) return true;
      if (!partitions.ok()) {
        error = "apply: topic " + topic + ": " + partitions.error().ToString();
        return false;
      }
      for (int32_t p : partitions.value()) {
        auto it = progress.find({topic, p});
        starts.push_back({topic, p, it == progress.end() ? kafka::kOffsetBeginning : it->second});
      }
    }
    if (auto e = consumer.Assign(starts); !e.ok()) {
      error = "apply: " + e.ToString();
      return false;
    }
    if (log) log("applying " + std::to_string(starts.size()) + " partition(s) into " + options_.sqlite_path);

    std::vector<kafka::MessageView> messages;
    bool in_transaction = false, at_boundary = true;
    size_t batch_events = 0;
    auto batch_started = Clock::now(), last_message = Clock::now();
    // (topic, partition, next offset) of the open target transaction; searched linearly (few
    // partitions) so a message costs no allocation.
    struct Progress {
      std::string topic;
      int32_t partition;
      int64_t next_offset;
    };
    std::vector<Progress> batch_progress;
    auto note_progress = [&](const kafka::MessageView& m) {
      for (auto& p : batch_progress) {
        if (p.partition == m.partition && p.topic == m.topic) {
          p.next_offset = m.offset + 1;
          return;
        }
      }
      batch_progress.push_back({std::string(m.topic), m.partition, m.offset + 1});
    };

    auto commit = [&]() -> bool {
      for (const auto& p : batch_progress)
        if (!target_.SaveProgress(p.topic, p.partition, p.next_offset, error)) return false;
      if (!target_.Commit(error)) return false;
      batch_progress.clear();
      in_transaction = false;
      batch_events = 0;
      ++stats_.target_transactions;
      return true;
    };

    while (!stop.load()) {
      messages.clear();
      auto e = consumer.PollBatch(std::chrono::milliseconds(100), 5000, messages);
      if (!e.ok() && e.fatal()) {
        error = "apply: " + e.ToString();
        if (in_transaction) target_.Rollback();
        return false;
      }
      auto now = Clock::now();
      for (const auto& message : messages) {
        if (!in_transaction) {
          if (!target_.Begin(error)) return false;
          in_transaction = true;
          batch_started = now;
        }
        if (!ApplyMessage(message, error)) {
          target_.Rollback();
          error = "apply: topic " + std::string(message.topic) + ", partition " + std::to_string(message.partition) +
                  ", offset " + std::to_string(message.offset) + ": " + error;
          return false;
        }
        note_progress(message);
        ++batch_events;
        ++stats_.events;
        // sqltail marks the last event of each source transaction. A tombstone without the mark
        // follows its delete inside the transaction; events of other producers (Debezium) carry no
        // marks, so each is its own transaction.
        if (kafka::HasHeader(message, "sqltail.txn.end")) {
          at_boundary = true;
        } else if (message.value) {
          at_boundary = !ProducedBySqltail(message);
        }
      }
      if (!messages.empty()) last_message = now;
      bool due = batch_events >= options_.batch_max_events ||
                 now - batch_started >= std::chrono::milliseconds(options_.batch_max_ms) || messages.empty();
      if (in_transaction && at_boundary && due && !commit()) return false;
      if (options_.stop_when_idle_ms > 0 && !in_transaction &&
          now - last_message >= std::chrono::milliseconds(options_.stop_when_idle_ms)) {
        if (log) log("no new events for " + std::to_string(options_.stop_when_idle_ms) + " ms: stopping");
        break;
      }
    }
    // Stopping: keep whole source transactions only. An unfinished one is rolled back and re-read.
    if (in_transaction) {
      if (at_boundary) return commit();
      target_.Rollback();
    }
    return true;
  }

 private:
  // sqltail marks the last event of each source transaction; other producers (Debezium) mark none.
  static bool ProducedBySqltail(const kafka::MessageView& message) {
    return message.value && message.value->find("\"version\":\"sqltail-") != std::string_view::npos;
  }

  std::string TableNameFor(std::string_view db, std::string_view schema, std::string_view table) const {
    std::string name = options_.table_name_format;
    auto replace = [&](const std::string& token, std::string_view value) {
      for (size_t at = name.find(token); at != std::string::npos; at = name.find(token, at + value.size()))
        name.replace(at, token.size(), value);
    };
    replace("${db}", db);
    replace("${schema}", schema);
    replace("${table}", table);
    return name;
  }

  // Builds the target table from the value schema's "after" struct and the key schema.
  bool DefineFromSchema(simdjson::dom::element value_schema, const std::string& table_name,
                        const std::vector<std::string>& key_fields, std::string& error) {
    simdjson::dom::array envelope_fields;
    if (value_schema["fields"].get(envelope_fields)) {
      error = "the value schema has no fields";
      return false;
    }
    for (simdjson::dom::element f : envelope_fields) {
      std::string_view field_name;
      if (f["field"].get(field_name) || field_name != "after") continue;
      simdjson::dom::array columns;
      if (f["fields"].get(columns)) break;
      std::vector<TargetColumn> out;
      for (simdjson::dom::element c : columns) {
        TargetColumn column;
        std::string_view name, type, logical;
        if (c["field"].get(name) || c["type"].get(type)) {
          error = "a field of the after struct lacks field/type";
          return false;
        }
        column.name = std::string(name);
        if (c["name"].get(logical)) logical = {};
        if (logical == "org.apache.kafka.connect.data.Decimal") {
          column.kind = ValueKind::kDecimal;
          std::string_view scale_text;
          if (!c["parameters"]["scale"].get(scale_text)) column.scale = std::stoi(std::string(scale_text));
        } else if (type == "int8" || type == "int16" || type == "int32" || type == "int64") {
          column.kind = ValueKind::kInteger;
        } else if (type == "float" || type == "double") {
          column.kind = ValueKind::kReal;
        } else if (type == "boolean") {
          column.kind = ValueKind::kBoolean;
        } else if (type == "bytes") {
          column.kind = ValueKind::kBytes;
        } else {
          column.kind = ValueKind::kText;
        }
        for (const auto& k : key_fields) column.key |= k == column.name;
        out.push_back(std::move(column));
      }
      return target_.DefineTable(table_name, std::move(out), error) != nullptr;
    }
    error = "the value schema has no \"after\" struct";
    return false;
  }

  bool BindValue(sqlite3_stmt* stmt, int param, const TargetColumn& column, simdjson::dom::element value,
                 std::string& error) {
    switch (value.type()) {
      case simdjson::dom::element_type::NULL_VALUE:
        sqlite3_bind_null(stmt, param);
        return true;
      case simdjson::dom::element_type::BOOL:
        sqlite3_bind_int(stmt, param, value.get_bool().value() ? 1 : 0);
        return true;
      case simdjson::dom::element_type::INT64:
        sqlite3_bind_int64(stmt, param, value.get_int64().value());
        return true;
      case simdjson::dom::element_type::UINT64:
        sqlite3_bind_int64(stmt, param, static_cast<int64_t>(value.get_uint64().value()));
        return true;
      case simdjson::dom::element_type::DOUBLE:
        sqlite3_bind_double(stmt, param, value.get_double().value());
        return true;
      case simdjson::dom::element_type::STRING: {
        std::string_view text = value.get_string().value();
        if (column.kind == ValueKind::kBytes || column.kind == ValueKind::kDecimal) {
          std::string& bytes = bind_buffers_[static_cast<size_t>(param)];
          if (!DecodeBase64(text, bytes)) {
            error = "column " + column.name + ": not base64";
            return false;
          }
          if (column.kind == ValueKind::kBytes) {
            sqlite3_bind_blob(stmt, param, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
            return true;
          }
          std::string decimal;
          if (!DecimalText(bytes, column.scale, decimal)) {
            error = "column " + column.name + ": not a Connect Decimal";
            return false;
          }
          bytes = std::move(decimal);
          sqlite3_bind_text(stmt, param, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
          return true;
        }
        // The parser's string buffer lives until the next parse: the statement runs before that.
        sqlite3_bind_text(stmt, param, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
        return true;
      }
      default:
        error = "column " + column.name + ": unexpected JSON value";
        return false;
    }
  }

  bool BindRow(sqlite3_stmt* stmt, const SqliteTarget::Table& table, simdjson::dom::object row, bool delete_params,
               std::string& error) {
    bind_buffers_.resize(table.columns.size() + 1);
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const auto& column = table.columns[i];
      int param = delete_params ? table.delete_params[i] : static_cast<int>(i) + 1;
      if (param == 0) continue;
      simdjson::dom::element value;
      if (row[column.name].get(value)) {
        error = "the row has no field '" + column.name + "'";
        return false;
      }
      if (!BindValue(stmt, param, column, value, error)) return false;
    }
    return true;
  }

  static bool Step(sqlite3_stmt* stmt, const std::string& table, std::string& error) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
      error = "table " + table + ": " + sqlite3_errmsg(sqlite3_db_handle(stmt));
      return false;
    }
    return true;
  }

  bool ApplyMessage(const kafka::MessageView& message, std::string& error) {
    if (!message.value) return true;  // tombstone: the delete event before it did the work
    simdjson::dom::element root;
    if (auto err = parser_.parse(message.value->data(), message.value->size()).get(root)) {
      error = std::string("the value is not JSON: ") + simdjson::error_message(err);
      return false;
    }
    simdjson::dom::element payload = root;
    simdjson::dom::element schema;
    bool enveloped = !root["payload"].get(payload) && !root["schema"].get(schema);
    if (!enveloped) payload = root;
    std::string_view op, db, schema_name, table_name;
    if (payload["op"].get(op) || payload["source"]["db"].get(db) || payload["source"]["schema"].get(schema_name) ||
        payload["source"]["table"].get(table_name)) {
      error = "not a change event (no payload.op or payload.source.db/schema/table)";
      return false;
    }
    std::string name = TableNameFor(db, schema_name, table_name);
    SqliteTarget::Table* table = target_.FindTable(name);
    if (table == nullptr) {
      if (!enveloped) {
        error = "events without a schema (schemas.enable=false) cannot create table " + name;
        return false;
      }
      std::vector<std::string> key_fields;
      if (message.key) {
        simdjson::dom::element key_root;
        simdjson::dom::array key_schema_fields;
        if (!key_parser_.parse(message.key->data(), message.key->size()).get(key_root) &&
            !key_root["schema"]["fields"].get(key_schema_fields)) {
          for (simdjson::dom::element f : key_schema_fields) {
            std::string_view field;
            if (!f["field"].get(field)) key_fields.emplace_back(field);
          }
        }
      }
      if (!DefineFromSchema(schema, name, key_fields, error)) {
        error = "table " + name + ": " + error;
        return false;
      }
      table = target_.FindTable(name);
    }
    if (op == "c" || op == "r" || op == "u") {
      simdjson::dom::object after;
      if (payload["after"].get(after)) {
        error = "op '" + std::string(op) + "' without an after image";
        return false;
      }
      if (!BindRow(table->upsert, *table, after, false, error) || !Step(table->upsert, name, error)) return false;
      ++stats_.upserts;
      return true;
    }
    if (op == "d") {
      simdjson::dom::object before;
      if (payload["before"].get(before)) {
        error = "delete without a before image";
        return false;
      }
      if (!BindRow(table->remove, *table, before, true, error) || !Step(table->remove, name, error)) return false;
      ++stats_.deletes;
      return true;
    }
    error = "op '" + std::string(op) + "' is not supported yet";
    return false;
  }

  const ApplyOptions& options_;
  ApplyStats& stats_;
  SqliteTarget target_;
  simdjson::dom::parser parser_, key_parser_;
  std::vector<std::string> bind_buffers_;
};

}  // namespace

bool RunApply(const ApplyOptions& options, const std::atomic<bool>& stop, ApplyStats& stats, std::string& error,
              const std::function<void(const std::string&)>& log) {
  Applier applier(options, stats);
  return applier.Run(stop, error, log);
}

}  // namespace sqltail::engine
