#include "sqltail/logreader/row_image_cache.h"

#include <algorithm>
#include <cstring>

namespace sqltail::logreader {
namespace {

constexpr size_t kMaxSpare = 256;  // erased entries that keep their buffers (bounded memory)
constexpr size_t kInitialSlots = 16;
constexpr size_t kMaxReserved = size_t{1} << 20;  // entries reserved up front (about 90 MB of slab)
constexpr uint64_t kOdd = 0x9e3779b97f4a7c15;     // 2^64 / golden ratio: spreads sequential ids

uint64_t Load(const uint8_t* p, size_t n) {  // n <= 8, little-endian, zero-padded
  uint64_t word = 0;
  std::memcpy(&word, p, n);
  return word;
}

uint64_t HashOf(uint64_t unit, std::span<const uint8_t> identity) {
  // Multiply-xorshift over 8-byte words; the length is mixed in so that zero-padded tails of
  // identities of different lengths differ.
  uint64_t h = (unit ^ (identity.size() * kOdd)) * kOdd;
  size_t at = 0;
  for (; at + 8 <= identity.size(); at += 8) {
    h = (h ^ Load(identity.data() + at, 8)) * kOdd;
    h ^= h >> 29;
  }
  if (at < identity.size()) h = ((h ^ Load(identity.data() + at, identity.size() - at)) * kOdd) ^ (h >> 29);
  h ^= h >> 32;
  h *= kOdd;
  return h ^ (h >> 31);
}

}  // namespace

RowImageCache::RowImageCache(size_t max_rows, size_t max_bytes, uint64_t hash_mask)
    : max_rows_(max_rows), max_bytes_(max_bytes), hash_mask_(hash_mask) {}

RowImageCache::Key RowImageCache::MakeKey(uint64_t unit, std::span<const uint8_t> identity) const {
  return Key{unit, identity, static_cast<uint32_t>(HashOf(unit, identity) & hash_mask_)};
}

size_t RowImageCache::FindSlot(const Key& key) const {
  if (slots_.empty()) return 0;
  const size_t mask = slots_.size() - 1;
  for (size_t i = key.hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry == kNone) return slots_.size();
    if (slot.hash != key.hash) continue;
    const Entry& entry = entries_[slot.entry];
    if (entry.unit == key.unit && entry.identity_size == key.identity.size() &&
        (key.identity.empty() || std::memcmp(entry.identity(), key.identity.data(), key.identity.size()) == 0))
      return i;
  }
}

std::vector<uint8_t>* RowImageCache::Find(const Key& key) {
  Complete();
  return FindEntry(key);
}

std::vector<uint8_t>* RowImageCache::FindEntry(const Key& key) {
  const size_t slot = FindSlot(key);
  if (slot == slots_.size()) return nullptr;
  const uint32_t entry = slots_[slot].entry;
  if (entry != newest_) {
    Unlink(entry);
    LinkFront(entry);
  }
  return &entries_[entry].image;
}

void RowImageCache::Put(const Key& key, std::span<const uint8_t> image) {
  Complete();
  const size_t added = sizeof key.unit + key.identity.size() + image.size();
  if (added > max_bytes_ || max_rows_ == 0) {
    Erase(key);
    return;
  }
  staged_unit_ = key.unit;
  staged_hash_ = key.hash;
  staged_identity_.assign(key.identity.begin(), key.identity.end());
  staged_image_.assign(image.begin(), image.end());
  staged_ = true;
  if (slots_.empty()) return;
  const size_t mask = slots_.size() - 1;
  __builtin_prefetch(&slots_[key.hash & mask]);
  if (oldest_ != kNone && (rows_ >= max_rows_ || bytes_ + added > max_bytes_))
    __builtin_prefetch(&slots_[entries_[oldest_].hash & mask]);
}

void RowImageCache::Complete() {
  if (!staged_) return;
  staged_ = false;
  const Key key{staged_unit_, staged_identity_, staged_hash_};
  const size_t added = sizeof key.unit + key.identity.size() + staged_image_.size();
  if (std::vector<uint8_t>* cached = FindEntry(key)) {
    bytes_ -= cached->size();
    cached->swap(staged_image_);
    bytes_ += cached->size();
  } else {
    const uint32_t id = TakeEntry(added);
    Entry& entry = entries_[id];
    entry.unit = key.unit;
    entry.hash = key.hash;
    entry.identity_size = static_cast<uint32_t>(key.identity.size());
    if (key.identity.size() <= kInlineIdentity) {
      if (!key.identity.empty()) std::memcpy(entry.short_identity, key.identity.data(), key.identity.size());
    } else {
      entry.long_identity.assign(key.identity.begin(), key.identity.end());
    }
    entry.image.swap(staged_image_);
    if ((rows_ + 1) * 2 > slots_.size()) Grow();
    InsertSlot(key.hash, id);
    LinkFront(id);
    ++rows_;
    bytes_ += added;
    ++rows_per_unit_[key.unit];
  }
  while (rows_ > 0 && (rows_ > max_rows_ || bytes_ > max_bytes_)) {
    EvictOldest();
    ++evictions_;
  }
}

// An entry for a new key: a spare one, else (cache full) the least recently used one, evicted,
// else a new one.
uint32_t RowImageCache::TakeEntry(size_t added) {
  if (free_ == kNone && rows_ > 0 && (rows_ >= max_rows_ || bytes_ + added > max_bytes_)) {
    EvictOldest();
    ++evictions_;
  }
  if (free_ != kNone) {
    const uint32_t id = free_;
    free_ = entries_[id].older;
    --free_count_;
    return id;
  }
  // The slab grows to max_rows at most: reserved at once, it is never moved (a warm-up cost that
  // showed in profiles), and its pages are touched only as images arrive.
  if (entries_.capacity() == 0) entries_.reserve(std::min(max_rows_, kMaxReserved));
  entries_.emplace_back();
  return static_cast<uint32_t>(entries_.size() - 1);
}

void RowImageCache::Erase(const Key& key) {
  Complete();
  const size_t slot = FindSlot(key);
  if (slot != slots_.size()) Remove(slots_[slot].entry);
}

void RowImageCache::EraseAllocationUnit(uint64_t unit) {
  Complete();
  auto count = rows_per_unit_.find(unit);
  if (count == rows_per_unit_.end() || count->second == 0) return;
  for (uint32_t id = newest_; id != kNone;) {
    const uint32_t older = entries_[id].older;
    if (entries_[id].unit == unit) Remove(id);
    id = older;
  }
}

void RowImageCache::Clear() {
  staged_ = false;
  staged_identity_ = {};
  staged_image_ = {};
  slots_ = {};
  entries_ = {};
  newest_ = oldest_ = free_ = kNone;
  free_count_ = rows_ = bytes_ = 0;
  rows_per_unit_.clear();
}

void RowImageCache::InsertSlot(uint32_t hash, uint32_t entry) {
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].entry != kNone) i = (i + 1) & mask;
  slots_[i] = Slot{hash, entry};
}

// Backward shift: every later slot of the probe run that may move into the hole does, so lookups
// never need tombstones and stay short however many erases there were.
void RowImageCache::RemoveSlot(uint32_t entry) {
  const size_t mask = slots_.size() - 1;
  size_t hole = entries_[entry].hash & mask;
  while (slots_[hole].entry != entry) hole = (hole + 1) & mask;
  for (size_t next = (hole + 1) & mask; slots_[next].entry != kNone; next = (next + 1) & mask) {
    const size_t home = slots_[next].hash & mask;
    if (((next - home) & mask) >= ((next - hole) & mask)) {  // the hole lies between home and next
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole].entry = kNone;
}

void RowImageCache::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? kInitialSlots : old.size() * 2, Slot{});
  for (const Slot& slot : old)
    if (slot.entry != kNone) InsertSlot(slot.hash, slot.entry);
}

void RowImageCache::Unlink(uint32_t id) {
  Entry& entry = entries_[id];
  (entry.newer == kNone ? newest_ : entries_[entry.newer].older) = entry.older;
  (entry.older == kNone ? oldest_ : entries_[entry.older].newer) = entry.newer;
}

void RowImageCache::LinkFront(uint32_t id) {
  Entry& entry = entries_[id];
  entry.newer = kNone;
  entry.older = newest_;
  (newest_ == kNone ? oldest_ : entries_[newest_].newer) = id;
  newest_ = id;
}

void RowImageCache::Remove(uint32_t id) {
  RemoveSlot(id);
  Unlink(id);
  Entry& entry = entries_[id];
  --rows_;
  bytes_ -= entry.Bytes();
  --rows_per_unit_[entry.unit];
  if (free_count_ >= kMaxSpare) {
    entry.image = {};
    entry.long_identity = {};
  }
  entry.older = free_;
  free_ = id;
  ++free_count_;
}

void RowImageCache::EvictOldest() { Remove(oldest_); }

}  // namespace sqltail::logreader
