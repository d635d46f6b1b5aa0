// capture.log_safeguard = open_transaction: the roll-forward rules of OpenTransactionSafeguard
// against a fake holder whose "server" hands out begin LSNs at a log end the test moves.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "open_transaction_safeguard.h"

#include <doctest/doctest.h>

#include <map>
#include <set>

using sqltail::engine::OpenTransactionSafeguard;
using sqltail::engine::SafeguardLogView;
using sqltail::logreader::LogHolder;
using sqltail::logreader::Lsn;

namespace {

struct FakeHolder final : LogHolder {
  Lsn log_end{1, 0x10, 1};
  std::map<int, Lsn> held;  // slot -> begin
  std::vector<std::string> calls;
  bool refuse_prepare = false, fatal_prepare = false, refuse_hold = false, refuse_release = false;
  std::set<int> lost;
  uint64_t reconnects = 0;

  bool Prepare(std::string& error, bool& fatal) override {
    calls.push_back("prepare");
    fatal = fatal_prepare;
    if (refuse_prepare || fatal_prepare) {
      error = "CREATE TABLE permission denied";
      return false;
    }
    return true;
  }
  bool Hold(int slot, Lsn& begin, std::string& error) override {
    calls.push_back("hold " + std::to_string(slot));
    if (refuse_hold) {
      error = "refused";
      return false;
    }
    REQUIRE(held.count(slot) == 0);
    log_end = Lsn(log_end.vlf(), log_end.block(), static_cast<uint16_t>(log_end.slot() + 1));
    begin = log_end;
    held[slot] = begin;
    return true;
  }
  bool Check(int slot, bool& open, std::string&) override {
    open = held.count(slot) > 0 && lost.count(slot) == 0;
    if (!open) held.erase(slot);
    return true;
  }
  bool Release(int slot, std::string& error) override {
    calls.push_back("release " + std::to_string(slot));
    if (refuse_release) {
      held.erase(slot);
      error = "connection gone";
      return false;
    }
    REQUIRE(held.count(slot) == 1);
    held.erase(slot);
    return true;
  }
  uint64_t Reconnects() const override { return reconnects; }

  // The oldest begin held now (the server keeps the log from there).
  Lsn Oldest() const {
    Lsn oldest;
    for (auto& [slot, begin] : held)
      if (oldest.IsZero() || begin < oldest) oldest = begin;
    return oldest;
  }
  void Grow(uint32_t vlfs) { log_end = Lsn(log_end.vlf() + vlfs, 0x10, 1); }
};

// A reader that began at `from` and read everything up to `through`; every held begin in that range
// is seen open (what the log shows while the server holds it).
struct FakeReader {
  FakeHolder& holder;
  Lsn from;
  Lsn through;
  std::set<Lsn> foreign;  // begins where the log shows something else (assumption broken)
  SafeguardLogView View() {
    SafeguardLogView v;
    v.read_from = from;
    v.read_through = through;
    v.is_open = [this](Lsn begin, bool* has_changes) {
      if (has_changes) *has_changes = false;
      if (foreign.count(begin)) return false;
      for (auto& [slot, b] : holder.held)
        if (b == begin) return begin >= from && begin <= through;
      return false;
    };
    return v;
  }
};

struct Run {
  FakeHolder holder;
  std::vector<std::string> failures, infos;
  OpenTransactionSafeguard safeguard{holder, 100, [this](const std::string& m) { infos.push_back(m); },
                                     [this](const std::string& m) { failures.push_back(m); }};
  FakeReader reader{holder, Lsn(1, 0x10, 1), Lsn(1, 0x10, 1), {}};
  void Tick(Lsn durable_restart, bool force = true) {
    auto view = reader.View();
    safeguard.Tick(durable_restart, &view, force, OpenTransactionSafeguard::Clock::now());
  }
  int Releases() const {
    int n = 0;
    for (auto& c : holder.calls) n += c.rfind("release", 0) == 0;
    return n;
  }
};

}  // namespace

TEST_CASE("the first hold; no release before the durable restart LSN reaches the newer hold") {
  Run r;
  r.Tick(Lsn(1, 0x10, 1));
  REQUIRE(r.holder.held.size() == 1);
  const Lsn a = r.holder.held.at(0);
  CHECK(r.failures.empty());
  // The capture reads past A and its checkpoint restart passes it, but only inside A's VLF: no new hold.
  r.reader.through = Lsn(1, 0x90, 3);
  r.Tick(Lsn(1, 0x80, 1));
  CHECK(r.holder.held.size() == 1);
  // The log grows into VLF 3 and the durable restart LSN follows: B is held, A stays.
  r.holder.Grow(2);
  r.reader.through = r.holder.log_end;
  r.Tick(Lsn(3, 0x10, 1));
  REQUIRE(r.holder.held.size() == 2);
  const Lsn b = r.holder.held.at(1);
  CHECK(b > a);
  // The reader reads B's begin, but the durable restart LSN has not reached B: A stays.
  r.reader.through = Lsn(b.vlf(), b.block() + 5, 1);
  r.Tick(Lsn(b.vlf(), b.block(), static_cast<uint16_t>(b.slot() - 1)));
  CHECK(r.holder.held.size() == 2);
  CHECK(r.Releases() == 0);
  // Now it has: A is released, B protects.
  r.Tick(Lsn(b.vlf(), b.block() + 1, 1));
  CHECK(r.holder.held.size() == 1);
  CHECK(r.holder.held.count(1) == 1);
  CHECK(r.Releases() == 1);
  CHECK(r.safeguard.counters().releases == 1);
  // A's begin stays ignored until the reader no longer has it open.
  auto ignored = r.safeguard.IgnoredBegins();
  CHECK(std::find(ignored.begin(), ignored.end(), b) != ignored.end());
  // Stop: everything released.
  CHECK(r.safeguard.ReleaseAll());
  CHECK(r.holder.held.empty());
  CHECK(r.failures.empty());
}

TEST_CASE("never unprotected: after the first hold is reached, a hold at or before the durable restart LSN stays") {
  Run r;
  Lsn restart(1, 0x10, 1);
  r.Tick(restart);
  bool protected_once = false;
  for (int step = 0; step < 60; ++step) {
    // The log grows a VLF every few steps; the reader and the checkpoint follow with a lag.
    if (step % 3 == 0) r.holder.Grow(1);
    r.reader.through = r.holder.log_end;
    if (step % 2 == 0) restart = Lsn(r.holder.log_end.vlf(), r.holder.log_end.block(), r.holder.log_end.slot());
    r.Tick(restart);
    const Lsn oldest = r.holder.Oldest();
    REQUIRE(!oldest.IsZero());
    if (oldest <= restart) protected_once = true;
    if (protected_once) CHECK(oldest <= restart);
  }
  CHECK(protected_once);
  CHECK(r.Releases() > 5);
  CHECK(r.failures.empty());
}

TEST_CASE("a begin LSN the log does not show is reported and never trusted") {
  Run r;
  r.Tick(Lsn(1, 0x10, 1));
  const Lsn a = r.holder.held.at(0);
  r.reader.foreign.insert(a);
  r.reader.through = Lsn(5, 0x10, 1);
  r.Tick(Lsn(5, 0x10, 1));
  REQUIRE(r.failures.size() == 1);
  CHECK(r.failures[0].find("not recognised") != std::string::npos);
  // Never verified: never protecting, so no second hold replaces it and nothing is released.
  for (int i = 0; i < 5; ++i) {
    r.holder.Grow(1);
    r.Tick(r.holder.log_end);
  }
  CHECK(r.Releases() == 0);
  CHECK(r.holder.held.count(0) == 1);
  CHECK(r.failures.size() == 1);  // reported once
}

TEST_CASE("refusals and a lost holder are reported, counted and retried") {
  Run r;
  r.holder.refuse_prepare = true;
  r.Tick(Lsn(1, 0x10, 1));
  CHECK(r.failures.size() == 1);
  CHECK(r.holder.held.empty());
  CHECK_FALSE(r.safeguard.fatal());
  // Not yet due: no retry inside the interval.
  auto view = r.reader.View();
  r.safeguard.Tick(Lsn(1, 0x10, 1), &view, false, OpenTransactionSafeguard::Clock::now());
  CHECK(r.failures.size() == 1);
  r.holder.refuse_prepare = false;
  r.Tick(Lsn(1, 0x10, 1));
  REQUIRE(r.holder.held.size() == 1);
  // The connection is lost: reported, and held anew.
  r.holder.lost.insert(0);
  r.Tick(Lsn(1, 0x10, 1));
  CHECK(r.failures.size() == 2);
  CHECK(r.failures[1].find("is gone") != std::string::npos);
  CHECK(r.safeguard.counters().losses == 1);
  r.holder.lost.clear();
  CHECK(r.holder.held.size() == 1);  // held anew (on the first free connection)
  CHECK(r.safeguard.counters().holds == 2);
}

TEST_CASE("accelerated database recovery (fatal prepare) ends the mode") {
  Run r;
  r.holder.fatal_prepare = true;
  r.Tick(Lsn(1, 0x10, 1));
  CHECK(r.safeguard.fatal());
  CHECK(r.holder.held.empty());
}
