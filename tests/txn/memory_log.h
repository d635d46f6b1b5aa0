// An in-memory log for the transaction tests: records appended with increasing LSNs, built by the
// fixture generator's encoders; the catalog it answers is what `server` says (none: an error).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sqltail/fixtures/log_record_encoder.h"
#include "sqltail/logreader/log_source.h"

namespace sqltail::testing {

class MemoryLog : public logreader::LogSource {
 public:
  using Lsn = logreader::Lsn;
  std::function<logreader::Catalog()> server;
  int catalog_reads = 0;

  Lsn Begin(uint32_t xact, std::string name = "user_transaction") {
    fixtures::BeginXactRecord r;
    r.transaction_id.low = xact;
    r.transaction_name = std::move(name);
    r.login_sid = {1};
    return Append(fixtures::EncodeBeginXact(r));
  }
  // An INSERT_ROWS of `record` (a row image) into `unit`.
  Lsn InsertRecord(uint32_t xact, fixtures::Bytes record, uint64_t unit, int32_t object_id,
                   uint16_t flags = fixtures::kOrdinaryFlagBits) {
    fixtures::InsertRowsRecord r;
    r.transaction_id.low = xact;
    r.flag_bits = flags;
    r.allocation_unit_id = unit;
    r.record = std::move(record);
    r.lock_info = fixtures::InsertLockInfo(object_id);
    return Append(fixtures::EncodeInsertRows(r));
  }
  Lsn End(uint32_t xact, Lsn begin, bool commit = true) {
    fixtures::EndXactRecord r;
    r.operation = commit ? fixtures::LogOperation::kCommitXact : fixtures::LogOperation::kAbortXact;
    r.transaction_id.low = xact;
    r.begin_lsn = begin;
    return Append(fixtures::EncodeEndXact(r));
  }
  Lsn Append(fixtures::Bytes bytes) {
    Lsn lsn(0x25, 0x100, static_cast<uint16_t>(records_.size() + 1));
    records_.emplace_back(lsn, std::move(bytes));
    return lsn;
  }

  bool ReadCatalog(logreader::Catalog& out, std::string& error) override {
    ++catalog_reads;
    if (!server) {
      error = "no server";
      return false;
    }
    out = server();
    return true;
  }
  bool ReadLog(Lsn from, size_t max_rows, const RowHandler& on_row, size_t& delivered, std::string& error) override {
    delivered = 0;
    for (const auto& [lsn, bytes] : records_) {
      if (lsn < from || delivered == max_rows) continue;
      ++delivered;
      if (!on_row({lsn, bytes, static_cast<int>(bytes.size())}, error)) return false;
    }
    return true;
  }

 private:
  std::vector<std::pair<Lsn, fixtures::Bytes>> records_;
};

}  // namespace sqltail::testing
