// capture.log_safeguard = open_transaction: keeps SQL Server from truncating the log the capture
// still needs by holding a transaction open, and rolls that transaction forward behind the durable
// checkpoint (docs/operator-guide.md "Who lets the log be truncated").
//
// Two holder slots (connections). The invariant: once the durable restart LSN R has passed a held
// transaction's begin, some held transaction that began at or before R stays open until another one
// that also began at or before R is open. So the roll forward is
//   1. slot A holds (begin A);  R passes A: A protects the log from A on;
//   2. once R has moved into a later virtual log file than A (truncation works per VLF, so a move
//      inside one VLF would gain nothing) and the interval has passed, slot B holds (begin B > R);
//   3. only when the durable R has reached B, and B's begin record has been seen in the log read
//      (see Verify), A is committed. B now protects; go to 2 with the slots swapped.
// The log between R and the first hold's begin is not held (it was not held before sqltail started
// either); a lost holder is reported and held anew, and the log between R and the new begin is then
// unprotected until R reaches it. Failures never stop the capture: they are reported through
// `on_failure` and retried at the next interval.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sqltail/logreader/log_source.h"
#include "sqltail/logreader/lsn.h"

namespace sqltail::engine {

// What the safeguard needs from the capture's log reader.
struct SafeguardLogView {
  logreader::Lsn read_from;     // where the reader began reading
  logreader::Lsn read_through;  // the last LSN it has read (or read_from before the first row)
  // Whether a transaction that began at the LSN is open in the reader, and whether it holds captured changes.
  std::function<bool(logreader::Lsn, bool* has_changes)> is_open;
};

struct SafeguardCounters {
  uint64_t holds = 0;     // transactions the server opened for the safeguard
  uint64_t releases = 0;  // ... and committed after a newer one began at or before the durable restart LSN
  uint64_t losses = 0;    // held transactions found gone (connection lost: the server rolled them back)
};

class OpenTransactionSafeguard {
 public:
  using Clock = std::chrono::steady_clock;
  OpenTransactionSafeguard(logreader::LogHolder& holder, int interval_ms, std::function<void(const std::string&)> info,
                           std::function<void(const std::string&)> on_failure);

  // Between polls. `durable_restart`: the restart LSN of the checkpoint last committed to Kafka;
  // `view` null before the reader exists (the first hold is taken before the snapshot). Does nothing
  // until the interval has passed since the last tick, unless `force`.
  void Tick(logreader::Lsn durable_restart, const SafeguardLogView* view, bool force, Clock::time_point now);
  // Commits every held transaction (on stop). False when one could not be committed cleanly.
  bool ReleaseAll();

  // The begin LSNs of the safeguard's own transactions that the reader may still see open: the
  // reader leaves them out of its restart LSN (LogReader::IgnoreTransactionsBegunAt).
  std::vector<logreader::Lsn> IgnoredBegins() const;
  // True when the mode cannot work on this database (fatal_error says why).
  bool fatal() const { return fatal_; }
  const std::string& fatal_error() const { return fatal_error_; }
  const SafeguardCounters& counters() const { return counters_; }
  // The oldest begin LSN held now (zero when none).
  logreader::Lsn OldestHeld() const;

 private:
  struct Slot {
    bool holding = false;
    logreader::Lsn begin;
    bool verified = false;  // its begin record was seen open in the log read
    bool mismatch_reported = false;
  };
  void Verify(const SafeguardLogView& view);
  void Prune(const SafeguardLogView* view);
  bool HoldOn(int slot, logreader::Lsn durable_restart);

  logreader::LogHolder& holder_;
  std::chrono::milliseconds interval_;
  std::function<void(const std::string&)> info_, on_failure_;
  bool prepared_ = false;
  bool fatal_ = false;
  std::string fatal_error_;
  bool ticked_ = false;
  Clock::time_point last_tick_{};
  Clock::time_point last_hold_{};
  Slot slots_[logreader::LogHolder::kSlots];
  std::vector<logreader::Lsn> released_;  // released or lost, maybe still open in the reader
  SafeguardCounters counters_;
};

}  // namespace sqltail::engine
