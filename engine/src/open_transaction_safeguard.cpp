#include "open_transaction_safeguard.h"

#include <algorithm>

namespace sqltail::engine {

using logreader::Lsn;

OpenTransactionSafeguard::OpenTransactionSafeguard(logreader::LogHolder& holder, int interval_ms,
                                                   std::function<void(const std::string&)> info,
                                                   std::function<void(const std::string&)> on_failure)
    : holder_(holder),
      interval_(std::max(1, interval_ms)),
      info_(std::move(info)),
      on_failure_(std::move(on_failure)) {}

std::vector<Lsn> OpenTransactionSafeguard::IgnoredBegins() const {
  std::vector<Lsn> out = released_;
  for (const Slot& s : slots_)
    if (s.holding) out.push_back(s.begin);
  return out;
}

Lsn OpenTransactionSafeguard::OldestHeld() const {
  Lsn oldest;
  for (const Slot& s : slots_)
    if (s.holding && (oldest.IsZero() || s.begin < oldest)) oldest = s.begin;
  return oldest;
}

bool OpenTransactionSafeguard::HoldOn(int slot, Lsn durable_restart) {
  std::string error;
  Lsn begin;
  if (!holder_.Hold(slot, begin, error)) {
    on_failure_(error);
    return false;
  }
  // A begin at or before a transaction this safeguard already holds, or before the durable restart
  // LSN, contradicts "a new transaction begins at the end of the log": the begin LSN is not what it
  // is taken to be. It is held (it can only keep more log) but never trusted to protect.
  Slot& s = slots_[slot];
  s = Slot{true, begin, false, false};
  ++counters_.holds;
  last_hold_ = Clock::now();
  info_("log safeguard: connection " + std::to_string(slot) + " holds a transaction that began at " + begin.ToString() +
        " (durable restart LSN " + durable_restart.ToString() + ")");
  for (int other = 0; other < logreader::LogHolder::kSlots; ++other) {
    if (other != slot && slots_[other].holding && slots_[other].begin >= begin) {
      on_failure_("log safeguard: the transaction held on connection " + std::to_string(slot) + " began at " +
                  begin.ToString() + ", not after the one held on connection " + std::to_string(other) + " (" +
                  slots_[other].begin.ToString() +
                  "): the begin LSNs the server reports are not in log order; nothing is released");
      s.mismatch_reported = true;
    }
  }
  return true;
}

void OpenTransactionSafeguard::Verify(const SafeguardLogView& view) {
  for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
    Slot& s = slots_[i];
    if (!s.holding || s.verified || s.mismatch_reported) continue;
    // Only a reader that began at or before the begin record and has read it can tell.
    if (view.read_from > s.begin || view.read_through < s.begin) continue;
    bool has_changes = false;
    if (view.is_open && view.is_open(s.begin, &has_changes) && !has_changes) {
      s.verified = true;
      continue;
    }
    s.mismatch_reported = true;
    on_failure_("log safeguard: the server reported " + s.begin.ToString() + " (sys.dm_tran_database_transactions." +
                "database_transaction_begin_lsn) as the begin of the transaction held on connection " +
                std::to_string(i) + ", but the log read through " + view.read_through.ToString() +
                (has_changes ? " shows a transaction there that changed a captured table"
                             : " has no open transaction that began there") +
                ": the held transaction is not recognised, so it is never released (the log is kept, and grows)");
  }
}

void OpenTransactionSafeguard::Prune(const SafeguardLogView* view) {
  if (view == nullptr) return;
  std::erase_if(released_, [&](Lsn begin) {
    // Gone from the reader: its end was read, or the reader began after it.
    return view->read_through >= begin && !(view->is_open && view->is_open(begin, nullptr));
  });
}

void OpenTransactionSafeguard::Tick(Lsn durable_restart, const SafeguardLogView* view, bool force,
                                    Clock::time_point now) {
  if (fatal_) return;
  if (ticked_ && !force && now - last_tick_ < interval_) return;
  ticked_ = true;
  last_tick_ = now;
  if (!prepared_) {
    std::string error;
    bool fatal = false;
    if (!holder_.Prepare(error, fatal)) {
      if (fatal) {
        fatal_ = true;
        fatal_error_ = error;
      }
      on_failure_(error);
      return;
    }
    prepared_ = true;
  }
  // 1. Are the held transactions still open?
  for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
    Slot& s = slots_[i];
    if (!s.holding) continue;
    bool open = false;
    std::string error;
    if (!holder_.Check(i, open, error)) {
      on_failure_(error);
      continue;
    }
    if (open) continue;
    ++counters_.losses;
    on_failure_("log safeguard: the transaction held on connection " + std::to_string(i) + " since " +
                s.begin.ToString() +
                " is gone (connection lost or ended; the server rolled it back): the server no longer keeps "
                "the log from there; holding a new one");
    released_.push_back(s.begin);
    s = Slot{};
  }
  if (view) Verify(*view);
  Prune(view);

  // 2. Release: the newest verified transaction that began at or before the durable restart LSN
  //    protects everything the capture still needs; every older one may go.
  int protecting = -1;
  for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
    const Slot& s = slots_[i];
    if (s.holding && s.verified && s.begin <= durable_restart && (protecting < 0 || s.begin > slots_[protecting].begin))
      protecting = i;
  }
  if (protecting >= 0) {
    for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
      Slot& s = slots_[i];
      if (i == protecting || !s.holding || s.begin >= slots_[protecting].begin) continue;
      std::string error;
      const Lsn begin = s.begin;
      const bool ok = holder_.Release(i, error);
      released_.push_back(begin);
      s = Slot{};
      if (!ok) {
        on_failure_(error);
        continue;
      }
      ++counters_.releases;
      info_("log safeguard: released the transaction held on connection " + std::to_string(i) + " since " +
            begin.ToString() + ": the durable restart LSN " + durable_restart.ToString() +
            " has reached the one held on connection " + std::to_string(protecting) + " since " +
            slots_[protecting].begin.ToString());
    }
  }

  // 3. Hold: the first one, one after a loss, or the next one once the durable restart LSN is in a
  //    later VLF than the protecting one's begin.
  int holding = 0, free_slot = -1;
  for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
    if (slots_[i].holding) {
      ++holding;
    } else if (free_slot < 0) {
      free_slot = i;
    }
  }
  if (free_slot < 0) return;
  if (holding == 0) {
    (void)HoldOn(free_slot, durable_restart);
    return;
  }
  if (protecting >= 0 && holding == 1 && durable_restart.vlf() > slots_[protecting].begin.vlf() &&
      (force || now - last_hold_ >= interval_))
    (void)HoldOn(free_slot, durable_restart);
}

bool OpenTransactionSafeguard::ReleaseAll() {
  bool ok = true;
  for (int i = 0; i < logreader::LogHolder::kSlots; ++i) {
    Slot& s = slots_[i];
    if (!s.holding) continue;
    std::string error;
    const Lsn begin = s.begin;
    s = Slot{};
    if (!holder_.Release(i, error)) {
      on_failure_(error);
      ok = false;
      continue;
    }
    ++counters_.releases;
    info_("log safeguard: released the transaction held on connection " + std::to_string(i) + " since " +
          begin.ToString() + " (stopping)");
  }
  return ok;
}

}  // namespace sqltail::engine
