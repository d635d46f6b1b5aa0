#include "sqltail/kafka/kafka_error.h"

namespace sqltail::kafka {

ErrorAction KafkaError::Action() const {
  if (ok()) return ErrorAction::kNone;
  if (fatal_) return ErrorAction::kFatal;
  if (txn_requires_abort_) return ErrorAction::kAbortTransaction;
  if (retriable_) return ErrorAction::kRetry;
  return ErrorAction::kFatal;
}

std::string KafkaError::ToString() const {
  if (ok()) return "ok";
  std::string text = "kafka error " + name_ + " (" + std::to_string(code_) + ")";
  if (fatal_) text += " [fatal]";
  if (txn_requires_abort_) text += " [abort transaction]";
  if (retriable_) text += " [retriable]";
  if (!where_.empty()) text += " in " + where_;
  if (!message_.empty()) text += ": " + message_;
  return text;
}

}  // namespace sqltail::kafka
