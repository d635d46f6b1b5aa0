// Reads sqltail's change events from a Kafka topic (read_committed) and converts every key and value
// with Kafka Connect's own JsonConverter (schemas.enable=true), the converter a Kafka Connect sink
// would use. The resulting Connect Structs must be the Debezium SQL Server envelope and must carry,
// in order, exactly the events the fixture records (expected.jsonl). Exit 0 when all match, 1 with a
// one-line reason otherwise.
//
// Usage: DebeziumEnvelopeCheck --bootstrap HOST:PORT --prefix P --database DB --topic T
//            --expected expected.jsonl [--transaction-topic P.transaction]
//        DebeziumEnvelopeCheck --samples FILE
//
// With --transaction-topic, the BEGIN/END transaction-metadata events are converted and checked too:
// one BEGIN and one END per source transaction, id = commit LSN, END's counts match the data events.
//
// With --samples, FILE holds "time=..,decimal=..,binary=..<TAB>envelope" lines that
// tests/unit/debezium_encoder_test writes for every type-mapping mode (date, time(7), datetime2(7),
// datetime, decimal(10,2), smallmoney, varbinary); each is converted and its values, as Connect's
// logical types give them (BigDecimal, java.util.Date, byte[]), are checked.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

public final class DebeziumEnvelopeCheck {
  private static final Pattern LSN = Pattern.compile("[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{4}");

  static final class CheckFailure extends RuntimeException {
    CheckFailure(String message) {
      super(message);
    }
  }

  static void require(boolean condition, String message) {
    if (!condition) throw new CheckFailure(message);
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) options.put(args[i], args[i + 1]);
    if (options.containsKey("--samples")) {
      try {
        System.out.println("compat: " + checkSamples(options.get("--samples")));
      } catch (CheckFailure failure) {
        System.out.println("compat: FAIL: " + failure.getMessage());
        System.exit(1);
      }
      return;
    }
    for (String required : new String[] {"--bootstrap", "--prefix", "--database", "--topic", "--expected"}) {
      if (!options.containsKey(required)) {
        System.err.println("DebeziumEnvelopeCheck: missing " + required);
        System.exit(2);
      }
    }
    try {
      String summary = run(options);
      System.out.println("compat: " + summary);
    } catch (CheckFailure failure) {
      System.out.println("compat: FAIL: " + failure.getMessage());
      System.exit(1);
    }
  }

  static String run(Map<String, String> options) throws Exception {
    String bootstrap = options.get("--bootstrap");
    String prefix = options.get("--prefix");
    String database = options.get("--database");
    String topic = options.get("--topic");
    ObjectMapper mapper = new ObjectMapper();
    List<JsonNode> expected = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(options.get("--expected")))) {
      if (!line.isBlank()) expected.add(mapper.readTree(line));
    }

    JsonConverter keyConverter = new JsonConverter();
    keyConverter.configure(Map.of("schemas.enable", "true"), true);
    JsonConverter valueConverter = new JsonConverter();
    valueConverter.configure(Map.of("schemas.enable", "true"), false);

    List<ConsumerRecord<byte[], byte[]>> records = readCommitted(bootstrap, topic);
    int next = 0;  // index into expected
    int creates = 0, deletes = 0, tombstones = 0;
    String previousCommitLsn = "";
    int totalOrder = 0;
    Map<String, Integer> dataCollectionOrder = new HashMap<>();
    // commit LSN -> data events, for the transaction-metadata check
    Map<String, Integer> eventsPerTransaction = new LinkedHashMap<>();
    Struct lastDeleteKey = null;
    for (ConsumerRecord<byte[], byte[]> record : records) {
      String where = topic + " offset " + record.offset();
      SchemaAndValue key = keyConverter.toConnectData(topic, record.key());
      if (record.value() == null) {
        // A tombstone: Connect sees a null value; it must repeat the key of the delete before it.
        SchemaAndValue value = valueConverter.toConnectData(topic, record.value());
        require(value.value() == null && value.schema() == null, where + ": tombstone did not convert to null");
        require(lastDeleteKey != null && lastDeleteKey.equals(key.value()),
            where + ": tombstone does not follow a delete of the same key");
        lastDeleteKey = null;
        ++tombstones;
        continue;
      }
      require(lastDeleteKey == null, where + ": the delete before this event has no tombstone");
      require(next < expected.size(), where + ": more events in Kafka than the fixture records (" + expected.size() + ")");
      JsonNode want = expected.get(next++);
      where += " (expected event " + next + ", change " + want.get("change_lsn").asText() + ")";

      Struct keyStruct = checkKey(topic, key, want.get("key"), where);

      SchemaAndValue converted = valueConverter.toConnectData(topic, record.value());
      Schema envelope = converted.schema();
      require(envelope != null && envelope.type() == Schema.Type.STRUCT, where + ": value is not a Connect struct");
      require((topic + ".Envelope").equals(envelope.name()), where + ": envelope schema name " + envelope.name());
      require(Integer.valueOf(2).equals(envelope.version()), where + ": envelope version " + envelope.version());
      List<String> fieldNames = new ArrayList<>();
      for (Field f : envelope.fields()) fieldNames.add(f.name());
      require(fieldNames.equals(
                  List.of("before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction")),
          where + ": envelope fields " + fieldNames);
      Struct value = (Struct) converted.value();
      value.validate();  // Connect's own check of every value against its schema

      String op = value.getString("op");
      require(op.equals(want.get("op").asText()), where + ": op " + op + ", expected " + want.get("op"));
      checkRow(topic, envelope.field("before").schema(), value.getStruct("before"), want.get("before"), where + " before");
      checkRow(topic, envelope.field("after").schema(), value.getStruct("after"), want.get("after"), where + " after");
      if (op.equals("c")) ++creates;
      if (op.equals("d")) {
        ++deletes;
        lastDeleteKey = keyStruct;
      }

      Struct source = value.getStruct("source");
      require("io.debezium.connector.sqlserver.Source".equals(source.schema().name()),
          where + ": source schema " + source.schema().name());
      require("sqlserver".equals(source.getString("connector")), where + ": source.connector");
      require(prefix.equals(source.getString("name")), where + ": source.name " + source.getString("name"));
      require(database.equals(source.getString("db")), where + ": source.db " + source.getString("db"));
      require(want.get("schema").asText().equals(source.getString("schema")), where + ": source.schema");
      require(want.get("table").asText().equals(source.getString("table")), where + ": source.table");
      require("false".equals(source.getString("snapshot")), where + ": source.snapshot");
      String commitLsn = source.getString("commit_lsn");
      String changeLsn = source.getString("change_lsn");
      require(commitLsn != null && LSN.matcher(commitLsn).matches(), where + ": source.commit_lsn " + commitLsn);
      require(commitLsn.equals(want.get("commit_lsn").asText()),
          where + ": source.commit_lsn " + commitLsn + ", expected " + want.get("commit_lsn"));
      require(changeLsn.equals(want.get("change_lsn").asText()), where + ": source.change_lsn " + changeLsn);
      require(commitLsn.compareTo(previousCommitLsn) >= 0, where + ": commit LSN goes backwards");
      require(source.getInt64("ts_ms") > 0 && source.getInt64("ts_us") / 1000 == source.getInt64("ts_ms"),
          where + ": source.ts_ms/ts_us disagree");

      Struct transaction = value.getStruct("transaction");
      if (!commitLsn.equals(previousCommitLsn)) {
        totalOrder = 0;
        dataCollectionOrder.clear();
      }
      previousCommitLsn = commitLsn;
      ++totalOrder;
      String collection = source.getString("db") + "." + source.getString("schema") + "." + source.getString("table");
      int collectionOrder = dataCollectionOrder.merge(collection, 1, Integer::sum);
      eventsPerTransaction.merge(commitLsn, 1, Integer::sum);
      require(transaction != null && commitLsn.equals(transaction.getString("id")),
          where + ": transaction.id is not the commit LSN");
      require(transaction.getInt64("total_order") == totalOrder, where + ": transaction.total_order "
          + transaction.getInt64("total_order") + ", expected " + totalOrder);
      require(transaction.getInt64("data_collection_order") == collectionOrder,
          where + ": transaction.data_collection_order");
      require(value.getInt64("ts_ms") != null && value.getInt64("ts_ms") > 0, where + ": ts_ms");
    }
    require(lastDeleteKey == null, topic + ": the last delete has no tombstone");
    require(next == expected.size(),
        topic + ": Kafka holds " + next + " change events, the fixture records " + expected.size());
    String summary = records.size() + " records of " + topic + " converted by JsonConverter: " + creates
        + " creates, " + deletes + " deletes, " + tombstones + " tombstones, all as expected.jsonl";

    String transactionTopic = options.get("--transaction-topic");
    if (transactionTopic != null) {
      summary += "; " + checkTransactionTopic(bootstrap, transactionTopic, keyConverter, valueConverter,
          eventsPerTransaction, database + "." + expected.get(0).get("schema").asText() + "."
              + expected.get(0).get("table").asText());
    }
    return summary;
  }

  static void requireEqual(Object want, Object actual, String what) {
    require(want.equals(actual), what + ": " + actual + (actual == null ? "" : " (" + actual.getClass().getName() + ")")
        + ", expected " + want + " (" + want.getClass().getName() + ")");
  }

  static String checkSamples(String file) throws Exception {
    JsonConverter converter = new JsonConverter();
    converter.configure(Map.of("schemas.enable", "true"), false);
    int lines = 0;
    for (String line : Files.readAllLines(Path.of(file))) {
      if (line.isBlank()) continue;
      String[] parts = line.split("\t", 2);
      Map<String, String> mode = new HashMap<>();
      for (String setting : parts[0].split(",")) mode.put(setting.split("=")[0], setting.split("=")[1]);
      String where = "sample " + (++lines) + " (" + parts[0] + ")";
      SchemaAndValue converted = converter.toConnectData("srv.db.dbo.typed", parts[1].getBytes("UTF-8"));
      require(converted.value() instanceof Struct, where + ": not a struct");
      Struct value = (Struct) converted.value();
      value.validate();
      Struct after = value.getStruct("after");
      requireEqual(7, after.get("id"), where + " id");

      // 2024-02-29T13:45:30.1234567 and friends (see debezium_encoder_test.cpp).
      long epochDays = 19782;
      if (mode.get("time").equals("connect")) {
        requireEqual(new java.util.Date(epochDays * 86400000L), after.get("d"), where + " d (Connect Date)");
        requireEqual(new java.util.Date(49530123L), after.get("t"), where + " t (Connect Time)");
        requireEqual(new java.util.Date(1709214330123L), after.get("dt2"), where + " dt2 (Connect Timestamp)");
        requireEqual(new java.util.Date(1709164801000L), after.get("dt"), where + " dt (Connect Timestamp)");
      } else {
        requireEqual((int) epochDays, after.get("d"), where + " d");
        requireEqual(49530123456700L, after.get("t"), where + " t");
        requireEqual(1709214330123456700L, after.get("dt2"), where + " dt2");
        requireEqual(1709164801000L, after.get("dt"), where + " dt");
      }
      switch (mode.get("decimal")) {
        case "precise":
          requireEqual(new BigDecimal("-12.50"), after.get("dec"), where + " dec (Connect Decimal)");
          requireEqual(new BigDecimal("19.9900"), after.get("sm"), where + " sm (Connect Decimal)");
          break;
        case "double":
          requireEqual(-12.5, after.get("dec"), where + " dec");
          requireEqual(19.99, after.get("sm"), where + " sm");
          break;
        default:
          requireEqual("-12.50", after.get("dec"), where + " dec");
          requireEqual("19.9900", after.get("sm"), where + " sm");
      }
      byte[] binary = {0x00, (byte) 0xAB, (byte) 0xFF, 0x10};
      Object vb = after.get("vb");
      switch (mode.get("binary")) {
        case "bytes":
          byte[] got = vb instanceof ByteBuffer ? ((ByteBuffer) vb).array() : (byte[]) vb;
          require(java.util.Arrays.equals(binary, got), where + " vb: bytes differ");
          break;
        case "base64":
          requireEqual(java.util.Base64.getEncoder().encodeToString(binary), vb, where + " vb");
          break;
        default:
          requireEqual("00abff10", vb, where + " vb");
      }
    }
    require(lines > 0, file + ": no samples");
    return lines + " encoder samples (every type-mapping mode) converted by JsonConverter with the expected values";
  }

  static Struct checkKey(String topic, SchemaAndValue key, JsonNode want, String where) {
    require(key.schema() != null && key.schema().type() == Schema.Type.STRUCT, where + ": key is not a struct");
    require((topic + ".Key").equals(key.schema().name()), where + ": key schema name " + key.schema().name());
    Struct keyStruct = (Struct) key.value();
    keyStruct.validate();
    List<String> names = new ArrayList<>();
    for (Field f : key.schema().fields()) {
      names.add(f.name());
      require(!f.schema().isOptional(), where + ": key field " + f.name() + " is optional");
      requireSameValue(f, keyStruct.get(f), want.get(f.name()), where + " key");
    }
    List<String> wantNames = new ArrayList<>();
    want.fieldNames().forEachRemaining(wantNames::add);
    require(names.equals(wantNames), where + ": key fields " + names + ", expected " + wantNames);
    return keyStruct;
  }

  // A row image (before/after): null exactly when the fixture has none; otherwise struct <topic>.Value
  // whose fields and values are the fixture's, with the Connect types of Debezium's SQL Server mapping.
  static void checkRow(String topic, Schema schema, Struct row, JsonNode want, String where) {
    require(schema.isOptional() && (topic + ".Value").equals(schema.name()), where + ": row schema " + schema.name());
    if (want == null || want.isNull()) {
      require(row == null, where + ": expected null");
      return;
    }
    require(row != null, where + ": missing");
    List<String> names = new ArrayList<>();
    for (Field f : schema.fields()) {
      names.add(f.name());
      requireSameValue(f, row.get(f), want.get(f.name()), where);
    }
    List<String> wantNames = new ArrayList<>();
    want.fieldNames().forEachRemaining(wantNames::add);
    require(names.equals(wantNames), where + ": fields " + names + ", expected " + wantNames);
  }

  // Compares a converted Connect value with the fixture's canonical rendering; the Connect type must be
  // the one Debezium gives the column (the fixture table has int and varchar columns).
  static void requireSameValue(Field field, Object actual, JsonNode want, String where) {
    String what = where + " field " + field.name();
    require(want != null, what + ": not in the fixture");
    if (want.isNull()) {
      require(actual == null, what + ": expected null, got " + actual);
      return;
    }
    if (want.isInt()) {
      require(field.schema().type() == Schema.Type.INT32, what + ": Connect type " + field.schema().type()
          + ", expected INT32 (SQL Server int)");
      require(Integer.valueOf(want.intValue()).equals(actual), what + ": " + actual + ", expected " + want);
      return;
    }
    if (want.isTextual()) {
      require(field.schema().type() == Schema.Type.STRING, what + ": Connect type " + field.schema().type()
          + ", expected STRING");
      require(want.asText().equals(actual), what + ": " + actual + ", expected " + want);
      return;
    }
    throw new CheckFailure(what + ": no comparison for the fixture value " + want);
  }

  static String checkTransactionTopic(String bootstrap, String topic, JsonConverter keyConverter,
      JsonConverter valueConverter, Map<String, Integer> eventsPerTransaction, String collection) {
    List<ConsumerRecord<byte[], byte[]>> records = readCommitted(bootstrap, topic);
    List<String> order = new ArrayList<>(eventsPerTransaction.keySet());
    int next = 0;
    String open = null;
    for (ConsumerRecord<byte[], byte[]> record : records) {
      String where = topic + " offset " + record.offset();
      SchemaAndValue key = keyConverter.toConnectData(topic, record.key());
      require(key.schema() != null
              && "io.debezium.connector.common.TransactionMetadataKey".equals(key.schema().name()),
          where + ": key schema " + (key.schema() == null ? null : key.schema().name()));
      SchemaAndValue converted = valueConverter.toConnectData(topic, record.value());
      require(converted.schema() != null
              && "io.debezium.connector.common.TransactionMetadataValue".equals(converted.schema().name()),
          where + ": value schema " + (converted.schema() == null ? null : converted.schema().name()));
      Struct value = (Struct) converted.value();
      value.validate();
      ((Struct) key.value()).validate();
      String id = value.getString("id");
      require(id.equals(((Struct) key.value()).getString("id")), where + ": key id differs from value id");
      require(value.getInt64("ts_ms") > 0, where + ": ts_ms");
      String status = value.getString("status");
      if (status.equals("BEGIN")) {
        require(open == null, where + ": BEGIN of " + id + " while " + open + " is open");
        require(next < order.size() && order.get(next).equals(id),
            where + ": BEGIN of " + id + ", expected " + (next < order.size() ? order.get(next) : "none"));
        require(value.get("event_count") == null && value.get("data_collections") == null,
            where + ": BEGIN carries counts");
        open = id;
      } else {
        require(status.equals("END"), where + ": status " + status);
        require(id.equals(open), where + ": END of " + id + " without its BEGIN");
        long count = eventsPerTransaction.get(id);
        require(value.getInt64("event_count") == count,
            where + ": event_count " + value.getInt64("event_count") + ", expected " + count);
        List<Object> collections = value.getArray("data_collections");
        require(collections != null && collections.size() == 1, where + ": data_collections " + collections);
        Struct only = (Struct) collections.get(0);
        require(collection.equals(only.getString("data_collection")) && only.getInt64("event_count") == count,
            where + ": data_collections " + collections);
        open = null;
        ++next;
      }
    }
    require(open == null, topic + ": transaction " + open + " has no END");
    require(next == order.size(), topic + ": " + next + " END events for " + order.size() + " transactions");
    return records.size() + " BEGIN/END records of " + topic + " match the data events";
  }

  // Every committed record of `topic`, partition by partition, up to the last stable offset.
  static List<ConsumerRecord<byte[], byte[]>> readCommitted(String bootstrap, String topic) {
    Properties properties = new Properties();
    properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer =
             new KafkaConsumer<>(properties, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      require(infos != null && !infos.isEmpty(), topic + ": topic not found");
      for (PartitionInfo info : infos) {
        TopicPartition partition = new TopicPartition(topic, info.partition());
        consumer.assign(List.of(partition));
        consumer.seekToBeginning(List.of(partition));
        long end = consumer.endOffsets(List.of(partition)).get(partition);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (consumer.position(partition) < end) {
          require(System.nanoTime() < deadline, topic + ": timed out reading up to offset " + end);
          for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) out.add(record);
        }
      }
    }
    return out;
  }
}
