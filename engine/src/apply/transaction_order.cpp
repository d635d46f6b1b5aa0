#include "transaction_order.h"

#include <algorithm>
#include <charconv>

namespace sqltail::engine {
namespace {

constexpr std::string_view kTxnHeader = "sqltail.txn";  // "<commit LSN> <total_order>" (docs/events.md)

// The envelope's payload: {"schema":..., "payload":{...}} or the payload alone (schemas disabled).
bool PayloadOf(simdjson::dom::element root, simdjson::dom::object& payload) {
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) return false;
  simdjson::dom::object inner;
  if (object["payload"].get(inner) == simdjson::SUCCESS) {
    payload = inner;
    return true;
  }
  payload = object;
  return true;
}

}  // namespace

TransactionOrder::TransactionOrder(std::string transaction_topic, const std::vector<std::string>& data_topics,
                                   size_t max_buffered_events)
    : transaction_topic_(std::move(transaction_topic)),
      prefix_(TopicPrefix(transaction_topic_)),
      data_topics_(data_topics.begin(), data_topics.end()),
      max_buffered_(max_buffered_events) {}

std::string TransactionOrder::TopicPrefix(std::string_view transaction_topic) {
  constexpr std::string_view kSuffix = ".transaction";
  if (transaction_topic.size() > kSuffix.size() && transaction_topic.ends_with(kSuffix))
    transaction_topic.remove_suffix(kSuffix.size());
  return std::string(transaction_topic);
}

TransactionOrder::Txn& TransactionOrder::TxnFor(std::string_view id) {
  if (auto it = txns_.find(id); it != txns_.end()) return *it->second;
  auto txn = std::make_unique<Txn>();
  txn->id = id;
  Txn& made = *txn;
  txns_.emplace(made.id, std::move(txn));
  return made;
}

TransactionOrder::Partition& TransactionOrder::PartitionFor(std::string_view topic, int32_t partition) {
  for (auto& p : partitions_)
    if (p.partition == partition && p.topic == topic) return p;
  partitions_.push_back({std::string(topic), partition, {}, {}});
  return partitions_.back();
}

std::unique_ptr<TransactionOrder::Entry> TransactionOrder::NewEntry() {
  if (free_entries_.empty()) return std::make_unique<Entry>();
  auto entry = std::move(free_entries_.back());
  free_entries_.pop_back();
  *entry = Entry();
  return entry;
}

bool TransactionOrder::Add(kafka::RetainedMessage message, std::string& error) {
  const kafka::MessageView& view = message.view();
  if (view.topic == transaction_topic_) return AddControl(std::move(message), error);
  Partition& part = PartitionFor(view.topic, view.partition);
  const bool tombstone = !view.value.has_value();
  std::string_view id;
  uint64_t order = 0;
  bool has_order = false;
  if (view.topic == standalone_topic_) {
    // The schema change topic: every event stands alone (see SetStandaloneTopic).
  } else if (auto header = kafka::FindHeader(view, kTxnHeader)) {
    const size_t space = header->find(' ');
    id = header->substr(0, space);
    if (space != std::string_view::npos) {
      const auto digits = header->substr(space + 1);
      has_order = std::from_chars(digits.data(), digits.data() + digits.size(), order).ec == std::errc();
    }
  } else if (!tombstone) {
    // Debezium's SQL Server connector: payload.transaction {id, total_order} (null without metadata).
    simdjson::dom::element root;
    simdjson::dom::object payload, txn;
    std::string_view text;
    int64_t total = 0;
    if (parser_.parse(view.value->data(), view.value->size()).get(root) == simdjson::SUCCESS &&
        PayloadOf(root, payload) && payload["transaction"].get(txn) == simdjson::SUCCESS &&
        txn["id"].get(text) == simdjson::SUCCESS) {
      id = text;
      if (txn["total_order"].get(total) == simdjson::SUCCESS && total >= 0) {
        order = static_cast<uint64_t>(total);
        has_order = true;
      }
    }
  } else {
    id = part.last_txn;  // a tombstone follows its delete
  }

  auto entry = NewEntry();
  if (!id.empty() && !Late(id)) {
    Txn& txn = TxnFor(id);
    entry->txn = &txn;
    // A tombstone sorts right after its delete; without total_order, arrival order.
    entry->order = has_order && !tombstone ? order : (txn.entries.empty() ? 0 : txn.entries.back()->order);
    if (!tombstone) ++txn.received;
    ++txn.live;
    txn.entries.push_back(entry.get());
    if (!tombstone) part.last_txn = txn.id;
  }
  entry->message = std::move(message);
  part.entries.push_back(std::move(entry));
  ++buffered_;  // past max_buffered_ the head streams (Drain) and reading pauses (PartitionsToPause)
  return true;
}

bool TransactionOrder::AddControl(kafka::RetainedMessage message, std::string& error) {
  const kafka::MessageView& view = message.view();
  auto where = [&]() {
    return transaction_topic_ + " partition " + std::to_string(view.partition) + " offset " +
           std::to_string(view.offset);
  };
  if (!view.value) {  // a tombstone on the transaction topic says nothing: progress only
    late_control_.push_back(std::move(message));
    return true;
  }
  simdjson::dom::element root;
  simdjson::dom::object payload;
  std::string_view status, id;
  if (parser_.parse(view.value->data(), view.value->size()).get(root) != simdjson::SUCCESS ||
      !PayloadOf(root, payload) || payload["status"].get(status) != simdjson::SUCCESS ||
      payload["id"].get(id) != simdjson::SUCCESS || (status != "BEGIN" && status != "END")) {
    error = "unreadable transaction event at " + where() + " (want {\"status\": BEGIN|END, \"id\": ...})";
    return false;
  }
  if (Late(id)) {  // of a transaction already applied
    late_control_.push_back(std::move(message));
    return true;
  }
  Txn& txn = TxnFor(id);
  if (!txn.queued) {
    txn.queued = true;
    queue_.push_back(&txn);
  }
  if (status == "END") {
    uint64_t needed = 0;
    simdjson::dom::array collections;
    if (payload["data_collections"].get(collections) != simdjson::SUCCESS) {
      error = "transaction END without data_collections at " + where();
      return false;
    }
    for (simdjson::dom::element collection : collections) {
      std::string_view name;
      int64_t count = 0;
      if (collection["data_collection"].get(name) != simdjson::SUCCESS ||
          collection["event_count"].get(count) != simdjson::SUCCESS || count < 0) {
        error = "transaction END with an unreadable data_collections entry at " + where();
        return false;
      }
      std::string topic = prefix_;
      topic += '.';
      topic += name;
      if (data_topics_.count(topic) != 0) needed += static_cast<uint64_t>(count);
    }
    txn.needed = needed;
    txn.ended = true;
    txn.end.push_back(std::move(message));
  } else {
    txn.begin.push_back(std::move(message));
  }
  ++buffered_;
  return true;
}

std::string TransactionOrder::IdOf(const kafka::MessageView& control) {
  simdjson::dom::element root;
  simdjson::dom::object payload;
  std::string_view id;
  if (!control.value || parser_.parse(control.value->data(), control.value->size()).get(root) != simdjson::SUCCESS ||
      !PayloadOf(root, payload) || payload["id"].get(id) != simdjson::SUCCESS) {
    return {};
  }
  return std::string(id);
}

void TransactionOrder::Drain(std::vector<OrderedMessage>& out) {
  for (auto& control : late_control_) out.push_back({std::move(control), true, true, {}});
  late_control_.clear();
  for (bool moved = true; moved;) {
    moved = false;
    // Fronts that belong to no transaction still to come go first.
    for (auto& part : partitions_) {
      auto& entries = part.entries;
      while (!entries.empty() && (entries.front()->txn == nullptr || Late(entries.front()->txn->id))) {
        PopFront(entries, out);
        moved = true;
      }
    }
    if (queue_.empty()) break;
    Txn& head = *queue_.front();
    if (!head.ended || head.received < head.needed) {
      // A source transaction larger than the buffer: apply what has arrived, keep the rest coming.
      if (head.streaming || buffered_ > max_buffered_) StreamHead(head, out);
      break;
    }
    PopBefore(head, out);
    ReleaseTxn(head, out);
    moved = true;
  }
}

// An entry held ahead of the head's in its partition: standalone, or of a transaction the transaction
// topic never named that committed before the head.
bool TransactionOrder::Before(const Entry& entry, const Txn& head) {
  if (entry.released) return true;
  if (entry.txn == nullptr) return true;
  return entry.txn != &head && !entry.txn->queued && entry.txn->id < head.id;
}

void TransactionOrder::PopFront(std::deque<std::unique_ptr<Entry>>& entries, std::vector<OrderedMessage>& out) {
  std::unique_ptr<Entry> entry = std::move(entries.front());
  entries.pop_front();
  --buffered_;
  if (!entry->released) {  // else moved out with its transaction already
    out.push_back({std::move(entry->message), false, true, {}});
    Forget(entry->txn);
  }
  free_entries_.push_back(std::move(entry));
}

void TransactionOrder::Forget(Txn* txn) {
  if (txn == nullptr || --txn->live > 0 || txn->queued) return;
  txns_.erase(txn->id);  // a transaction the transaction topic never named, now empty
}

// Everything still held with a smaller id came before the head: released first, on its own.
void TransactionOrder::PopBefore(const Txn& head, std::vector<OrderedMessage>& out) {
  for (auto& part : partitions_) {
    while (!part.entries.empty() && Before(*part.entries.front(), head)) PopFront(part.entries, out);
  }
}

// The transaction's held events, by total_order; they leave their partitions in PopReleasedFronts.
void TransactionOrder::ReleaseEntries(Txn& txn, std::vector<OrderedMessage>& out) {
  std::stable_sort(txn.entries.begin(), txn.entries.end(),
                   [](const Entry* a, const Entry* b) { return a->order < b->order; });
  for (Entry* entry : txn.entries) {
    out.push_back({std::move(entry->message), false, false, {}});
    entry->released = true;
    entry->txn = nullptr;
  }
  txn.entries.clear();
}

void TransactionOrder::ReleaseTxn(Txn& txn, std::vector<OrderedMessage>& out) {
  for (auto& begin : txn.begin) out.push_back({std::move(begin), true, false, {}});
  ReleaseEntries(txn, out);
  for (auto& end : txn.end) out.push_back({std::move(end), true, false, {}});
  out.back().ends = true;
  out.back().txn_id = txn.id;
  buffered_ -= txn.begin.size() + txn.end.size();
  last_released_ = txn.id;
  queue_.pop_front();
  PopReleasedFronts();
  txns_.erase(txn.id);
}

// Released entries leave their partitions' fronts (a partition's entries of the head lead it).
void TransactionOrder::PopReleasedFronts() {
  for (auto& part : partitions_) {
    while (!part.entries.empty() && part.entries.front()->released) {
      free_entries_.push_back(std::move(part.entries.front()));
      part.entries.pop_front();
      --buffered_;
    }
  }
}

// The head's events that have arrived, after what comes before them, sorted by total_order. Events of
// another partition with a smaller total_order may still arrive: across partitions a streamed
// transaction is applied in arrival order (docs/operator-guide.md); per partition in log order.
void TransactionOrder::StreamHead(Txn& head, std::vector<OrderedMessage>& out) {
  PopBefore(head, out);
  if (!head.streaming) {
    head.streaming = true;
    ++streamed_transactions_;
    for (auto& begin : head.begin) out.push_back({std::move(begin), true, false, {}});
    buffered_ -= head.begin.size();
    head.begin.clear();
  }
  ReleaseEntries(head, out);
  PopReleasedFronts();
}

void TransactionOrder::Clear(std::string last_committed_id) {
  partitions_.clear();
  queue_.clear();
  txns_.clear();
  late_control_.clear();
  buffered_ = 0;
  last_released_ = std::move(last_committed_id);
}

void TransactionOrder::PartitionsToPause(std::span<const kafka::PartitionStart> assigned,
                                         std::vector<kafka::TopicPartition>& out) const {
  out.clear();
  if (buffered_ <= max_buffered_) return;
  const Txn* head = queue_.empty() ? nullptr : queue_.front();
  for (const auto& a : assigned) {
    if (a.topic == transaction_topic_) {
      // Needed until the head's END is known; after it, it only names later transactions.
      if (head != nullptr && head->ended) out.push_back({a.topic, a.partition});
      continue;
    }
    // No head yet: everything held waits for the transaction topic, so no data partition helps.
    // Else the head streams (Drain), and a partition that still holds events holds later
    // transactions' (a partition is in commit order): the head's missing events are not behind them.
    bool holds = head == nullptr;
    for (const auto& p : partitions_)
      if (p.partition == a.partition && p.topic == a.topic) holds = holds || !p.entries.empty();
    if (holds) out.push_back({a.topic, a.partition});
  }
}

std::string TransactionOrder::Waiting() const {
  if (queue_.empty()) {
    return txns_.empty() ? "no source transaction open"
                         : std::to_string(txns_.size()) + " source transaction(s) not yet on " + transaction_topic_;
  }
  const Txn& head = *queue_.front();
  std::string text = "waiting for source transaction " + head.id + ": ";
  if (!head.ended)
    return text + "its END event has not arrived yet (" + std::to_string(head.received) + " events held)";
  return text + std::to_string(head.received) + " of its " + std::to_string(head.needed) + " events arrived";
}

}  // namespace sqltail::engine
