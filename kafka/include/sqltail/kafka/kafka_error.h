// Errors from the Kafka layer: librdkafka's code and name plus what the caller should do about it,
// and where it happened (bootstrap servers, transactional.id, topic, partition).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace sqltail::kafka {

// What a caller of the transactional API must do after an error (librdkafka's error model).
enum class ErrorAction {
  kNone,              // success
  kRetry,             // retriable: call the same function again
  kAbortTransaction,  // abortable: AbortTransaction(), rewind input to the transaction start, begin again
  kFatal,             // fatal (including fenced): destroy the producer; the process should restart
};

class KafkaError {
 public:
  KafkaError() = default;  // success
  KafkaError(int code, std::string name, std::string message, std::string where)
      : code_(code), name_(std::move(name)), message_(std::move(message)), where_(std::move(where)) {}

  bool ok() const { return code_ == 0; }
  // librdkafka's rd_kafka_resp_err_t value: negative = client-local (e.g. -144 _FENCED), positive = broker.
  int code() const { return code_; }
  // rd_kafka_err2name, e.g. "_TIMED_OUT", "TOPIC_ALREADY_EXISTS".
  const std::string& name() const { return name_; }
  const std::string& message() const { return message_; }
  // "operation (bootstrap=..., transactional.id=..., topic=..., partition=...)".
  const std::string& where() const { return where_; }

  bool retriable() const { return retriable_; }
  bool fatal() const { return fatal_; }
  bool txn_requires_abort() const { return txn_requires_abort_; }

  KafkaError& SetRetriable(bool value = true) {
    retriable_ = value;
    return *this;
  }
  KafkaError& SetFatal(bool value = true) {
    fatal_ = value;
    return *this;
  }
  KafkaError& SetTxnRequiresAbort(bool value = true) {
    txn_requires_abort_ = value;
    return *this;
  }

  // For transactional producer calls: an error with none of the three flags is treated as fatal,
  // as librdkafka's documentation prescribes.
  ErrorAction Action() const;

  // One line: "kafka error _FENCED (-144) [fatal] in commit_transaction (bootstrap=..., ...): <message>".
  std::string ToString() const;

 private:
  int code_ = 0;
  std::string name_;
  std::string message_;
  std::string where_;
  bool retriable_ = false;
  bool fatal_ = false;
  bool txn_requires_abort_ = false;
};

// Thrown only where no return value fits: constructors (bad configuration, client creation).
class KafkaException : public std::runtime_error {
 public:
  explicit KafkaException(KafkaError error) : std::runtime_error(error.ToString()), error_(std::move(error)) {}
  const KafkaError& error() const { return error_; }

 private:
  KafkaError error_;
};

// A value or the error that prevented it.
template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}           // NOLINT: implicit on purpose
  Result(KafkaError error) : state_(std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const { return state_.index() == 0; }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }
  const KafkaError& error() const {
    static const KafkaError kSuccess;
    return ok() ? kSuccess : std::get<1>(state_);
  }

 private:
  std::variant<T, KafkaError> state_;
};

}  // namespace sqltail::kafka
