// TransactionOrder: events of several topics back into source commit order by the transaction topic.
// Messages are built as views (no librdkafka message, so no headers): transaction ids come from the
// payload's `transaction` block, as Debezium's SQL Server connector writes them.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "transaction_order.h"

#include <doctest/doctest.h>

#include <deque>
#include <string>
#include <vector>

using sqltail::engine::OrderedMessage;
using sqltail::engine::TransactionOrder;
using sqltail::kafka::MessageView;
using sqltail::kafka::RetainedMessage;

namespace {

const std::string kTxnTopic = "p.transaction";
const std::string kOrders = "p.db.dbo.orders";
const std::string kAccounts = "p.db.dbo.accounts";

// Keeps the bytes the views point at.
struct Messages {
  std::deque<std::string> texts;
  int64_t next_offset = 0;

  RetainedMessage Make(const std::string& topic, std::optional<std::string> value, int32_t partition = 0) {
    MessageView view;
    texts.push_back(topic);
    view.topic = texts.back();
    view.partition = partition;
    view.offset = next_offset++;
    if (value) {
      texts.push_back(*value);
      view.value = std::string_view(texts.back());
    }
    return RetainedMessage(view);
  }
  RetainedMessage Data(const std::string& topic, const std::string& txn, int order, const std::string& name,
                       int32_t partition = 0) {
    return Make(topic,
                "{\"payload\":{\"op\":\"c\",\"after\":{\"name\":\"" + name + "\"},\"transaction\":{\"id\":\"" + txn +
                    "\",\"total_order\":" + std::to_string(order) + ",\"data_collection_order\":1}}}",
                partition);
  }
  RetainedMessage Standalone(const std::string& topic, const std::string& name, int32_t partition = 0) {
    return Make(topic, "{\"op\":\"r\",\"after\":{\"name\":\"" + name + "\"},\"transaction\":null}", partition);
  }
  RetainedMessage Begin(const std::string& txn) {
    return Make(kTxnTopic,
                "{\"status\":\"BEGIN\",\"id\":\"" + txn + "\",\"event_count\":null,\"data_collections\":null}");
  }
  // counts: {data collection, events}
  RetainedMessage End(const std::string& txn, const std::vector<std::pair<std::string, int>>& counts) {
    std::string collections;
    int total = 0;
    for (const auto& [name, n] : counts) {
      if (!collections.empty()) collections += ',';
      collections += "{\"data_collection\":\"" + name + "\",\"event_count\":" + std::to_string(n) + "}";
      total += n;
    }
    return Make(kTxnTopic, "{\"schema\":{},\"payload\":{\"status\":\"END\",\"id\":\"" + txn + "\",\"event_count\":" +
                               std::to_string(total) + ",\"data_collections\":[" + collections + "]}}");
  }
};

// What was released, one word each: B/E (BEGIN/END; "E." when it ends a transaction), the event's
// name, "name." when it ends a unit.
std::vector<std::string> Names(std::vector<OrderedMessage>& out) {
  std::vector<std::string> names;
  for (const auto& m : out) {
    const auto& v = m.message.view();
    std::string word;
    if (m.control) {
      word = v.value && v.value->find("BEGIN") != std::string_view::npos ? "B" : "E";
    } else if (!v.value) {
      word = "tomb";
    } else {
      auto at = v.value->find("\"name\":\"") + 8;
      word = std::string(v.value->substr(at, v.value->find('"', at) - at));
    }
    if (m.ends) word += '.';
    names.push_back(word);
  }
  out.clear();
  return names;
}

void Add(TransactionOrder& order, RetainedMessage m) {
  std::string error;
  REQUIRE_MESSAGE(order.Add(std::move(m), error), error);
}

const std::string kT1 = "0000004c:00000010:0003";
const std::string kT2 = "0000004c:00000020:0003";
const std::string kT3 = "0000004c:00000030:0003";

}  // namespace

TEST_CASE("a transaction over two topics waits for both, then comes out in total_order") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders, kAccounts}, 1000);
  std::vector<OrderedMessage> out;
  // The accounts partition is fetched first: its events of T1 and T2, then the transaction topic.
  Add(order, m.Data(kAccounts, kT1, 2, "a1"));
  Add(order, m.Data(kAccounts, kT2, 1, "a2"));
  Add(order, m.Begin(kT1));
  Add(order, m.End(kT1, {{"db.dbo.orders", 2}, {"db.dbo.accounts", 1}}));
  Add(order, m.Begin(kT2));
  Add(order, m.End(kT2, {{"db.dbo.accounts", 1}}));
  order.Drain(out);
  CHECK(out.empty());  // T1 lacks its orders events; T2 must wait behind it
  CHECK(order.Waiting().find("1 of its 3 events") != std::string::npos);
  Add(order, m.Data(kOrders, kT1, 1, "o1"));
  order.Drain(out);
  CHECK(out.empty());
  Add(order, m.Data(kOrders, kT1, 3, "o3"));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "o1", "a1", "o3", "E.", "B", "a2", "E."});
  CHECK(order.buffered() == 0);
  CHECK(order.last_released() == kT2);
}

TEST_CASE("tables of topics not read are not waited for; a transaction with none of ours releases its markers") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders}, 1000);
  std::vector<OrderedMessage> out;
  Add(order, m.Begin(kT1));
  Add(order, m.End(kT1, {{"db.dbo.accounts", 5}}));
  Add(order, m.Begin(kT2));
  Add(order, m.End(kT2, {{"db.dbo.audit_log", 2}, {"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "E."});
  Add(order, m.Data(kOrders, kT2, 2, "o"));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "o", "E."});
}

TEST_CASE("events of no transaction go at once, but never ahead of what their partition holds") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders, kAccounts}, 1000);
  std::vector<OrderedMessage> out;
  Add(order, m.Standalone(kOrders, "r1"));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"r1."});
  Add(order, m.Data(kOrders, kT1, 1, "o1"));
  Add(order, m.Standalone(kOrders, "r2"));     // behind T1's event in its partition
  Add(order, m.Standalone(kOrders, "r3", 1));  // another partition: free
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"r3."});
  Add(order, m.Begin(kT1));
  Add(order, m.End(kT1, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "o1", "E.", "r2."});
}

TEST_CASE("a tombstone follows its delete; one read after its transaction went is released on its own") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders, kAccounts}, 1000);
  std::vector<OrderedMessage> out;
  Add(order, m.Data(kOrders, kT1, 1, "d1"));
  Add(order, m.Make(kOrders, std::nullopt));  // tombstone of d1
  Add(order, m.Data(kOrders, kT1, 2, "d2"));
  Add(order, m.Begin(kT1));
  Add(order, m.End(kT1, {{"db.dbo.orders", 2}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "d1", "tomb", "d2", "E."});
  // T2's delete completes T2 before its tombstone is read.
  Add(order, m.Data(kOrders, kT2, 1, "d3"));
  Add(order, m.Begin(kT2));
  Add(order, m.End(kT2, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "d3", "E."});
  Add(order, m.Make(kOrders, std::nullopt));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"tomb."});
}

TEST_CASE("an event of a transaction the transaction topic never names goes before a later head") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders}, 1000);
  std::vector<OrderedMessage> out;
  Add(order, m.Data(kOrders, kT1, 1, "old"));  // T1's markers are before the stored progress
  Add(order, m.Data(kOrders, kT2, 1, "o2"));
  Add(order, m.Begin(kT2));
  Add(order, m.End(kT2, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"old.", "B", "o2", "E."});
}

TEST_CASE("after a rewind, ids up to the last committed one are late") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders}, 1000);
  std::vector<OrderedMessage> out;
  Add(order, m.Data(kOrders, kT2, 1, "o2"));
  order.Clear(kT2);
  CHECK(order.buffered() == 0);
  Add(order, m.Data(kOrders, kT2, 1, "again"));    // read again below the committed progress? standalone
  Add(order, m.End(kT1, {{"db.dbo.orders", 1}}));  // a marker of an applied transaction: progress only
  Add(order, m.Data(kOrders, kT3, 1, "o3"));
  Add(order, m.Begin(kT3));
  Add(order, m.End(kT3, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"E.", "again.", "B", "o3", "E."});
}

TEST_CASE("bad transaction events are errors that say where") {
  Messages m;
  std::string error;
  TransactionOrder order(kTxnTopic, {kOrders}, 3);
  CHECK_FALSE(order.Add(m.Make(kTxnTopic, std::string("{\"status\":\"MAYBE\",\"id\":\"x\"}")), error));
  CHECK(error.find("unreadable transaction event at p.transaction partition 0 offset 0") != std::string::npos);
  CHECK_FALSE(order.Add(m.Make(kTxnTopic, std::string("{\"status\":\"END\",\"id\":\"" + kT1 + "\"}")), error));
  CHECK(error.find("without data_collections") != std::string::npos);
}

// The transaction topic is read behind the data topics (a consumer interleaves partitions as fetches
// arrive): past the bound, reading pauses where it cannot help, and goes on when it can.
TEST_CASE("past the bound, the partitions that cannot release anything are paused") {
  using sqltail::kafka::PartitionStart;
  using sqltail::kafka::TopicPartition;
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders, kAccounts}, 3);
  const std::vector<PartitionStart> assigned = {
      {kOrders, 0, 0}, {kAccounts, 0, 0}, {kAccounts, 1, 0}, {kTxnTopic, 0, 0}};
  std::vector<TopicPartition> paused;
  std::vector<OrderedMessage> out;
  auto names = [](const std::vector<TopicPartition>& list) {
    std::vector<std::string> text;
    for (const auto& p : list) text.push_back(p.topic + "/" + std::to_string(p.partition));
    return text;
  };
  for (int i = 1; i <= 3; ++i) Add(order, m.Data(kOrders, kT1, i, "o" + std::to_string(i)));
  order.Drain(out);
  order.PartitionsToPause(assigned, paused);
  CHECK(paused.empty());  // within the bound
  // T1 is not on the transaction topic yet: no data partition can help, only the transaction topic.
  Add(order, m.Data(kOrders, kT1, 4, "o4"));
  order.Drain(out);
  CHECK(out.empty());
  order.PartitionsToPause(assigned, paused);
  CHECK(names(paused) == std::vector<std::string>{kOrders + "/0", kAccounts + "/0", kAccounts + "/1"});
  // Its BEGIN: it streams; partitions that hold nothing read on (its missing events may be there).
  Add(order, m.Begin(kT1));
  Add(order, m.Data(kOrders, kT2, 1, "later"));  // what was already polled of orders: the next transaction
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "o1", "o2", "o3", "o4"});
  out.clear();
  order.PartitionsToPause(assigned, paused);
  CHECK(paused.empty());  // 2 held: within the bound again
  Add(order, m.Data(kAccounts, kT2, 2, "a2", 1));
  Add(order, m.Data(kAccounts, kT2, 3, "a3", 1));
  Add(order, m.Begin(kT2));
  order.Drain(out);
  CHECK(out.empty());
  order.PartitionsToPause(assigned, paused);
  // 4 held, all of T2 behind T1: orders/0 and accounts/1 hold later events; accounts/0 may hold T1's
  // rest; T1's END is still to come on the transaction topic.
  CHECK(names(paused) == std::vector<std::string>{kOrders + "/0", kAccounts + "/1"});
  Add(order, m.End(kT1, {{"db.dbo.orders", 4}, {"db.dbo.accounts", 1}}));
  order.Drain(out);
  order.PartitionsToPause(assigned, paused);
  // T1's END says one accounts event is missing: only accounts/0 can bring it.
  CHECK(names(paused) == std::vector<std::string>{kOrders + "/0", kAccounts + "/1", kTxnTopic + "/0"});
  Add(order, m.Data(kAccounts, kT1, 5, "a5"));
  Add(order, m.End(kT2, {{"db.dbo.orders", 1}, {"db.dbo.accounts", 2}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"a5", "E.", "B", "later", "a2", "a3", "E."});
  order.PartitionsToPause(assigned, paused);
  CHECK(paused.empty());
  CHECK(order.buffered() == 0);
  CHECK(order.streamed_transactions() == 1);
}

TEST_CASE("a transaction larger than the buffer streams: what arrived goes out before its END, the END ends it") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders, kAccounts}, 4);
  std::vector<OrderedMessage> out;
  Add(order, m.Standalone(kAccounts, "s1", 1));  // before the head in its partition
  Add(order, m.Begin(kT1));
  Add(order, m.Data(kOrders, kT1, 2, "o2"));
  Add(order, m.Data(kAccounts, kT1, 1, "a1", 1));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"s1."});  // 3 held: within the bound, T1 waits
  Add(order, m.Data(kOrders, kT1, 3, "o3"));
  Add(order, m.Data(kAccounts, kT1, 4, "a4", 1));
  Add(order, m.Data(kOrders, kT2, 1, "later"));  // the next transaction, behind T1 in its partition
  order.Drain(out);
  // 6 held > 4: T1's BEGIN and its events so far, by total_order, none ending a transaction.
  CHECK(Names(out) == std::vector<std::string>{"B", "a1", "o2", "o3", "a4"});
  CHECK(order.streamed_transactions() == 1);
  CHECK(order.buffered() == 1);  // "later"
  Add(order, m.Data(kOrders, kT1, 5, "o5"));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"o5"});  // once streaming, as it arrives
  Add(order, m.End(kT1, {{"db.dbo.orders", 4}, {"db.dbo.accounts", 2}}));
  Add(order, m.Data(kAccounts, kT1, 6, "a6", 1));
  Add(order, m.Begin(kT2));
  Add(order, m.End(kT2, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"a6", "E.", "B", "later", "E."});
  CHECK(order.buffered() == 0);
  CHECK(order.last_released() == kT2);
}

TEST_CASE("events of the schema change topic stand alone, whatever transaction they name") {
  Messages m;
  TransactionOrder order(kTxnTopic, {kOrders}, 1000);
  order.SetStandaloneTopic("p");
  std::vector<OrderedMessage> out;
  Add(order, m.Begin(kT1));
  Add(order, m.Data(kOrders, kT1, 1, "o1"));  // T1 is not complete: its END is not read yet
  // A schema change naming a transaction the transaction topic never completes (nor names) is not
  // held behind it, nor behind T1.
  Add(order, m.Data("p", kT2, 1, "alter"));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"alter."});
  Add(order, m.End(kT1, {{"db.dbo.orders", 1}}));
  order.Drain(out);
  CHECK(Names(out) == std::vector<std::string>{"B", "o1", "E."});
  // Without the call the same event would wait for its transaction.
  TransactionOrder plain(kTxnTopic, {kOrders}, 1000);
  Add(plain, m.Data("p", kT2, 1, "alter"));
  plain.Drain(out);
  CHECK(out.empty());
}
