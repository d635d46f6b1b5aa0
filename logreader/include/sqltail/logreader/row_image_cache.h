// The update resolver's bounded LRU cache of row images, keyed by (allocation unit, row identity).
// A flat open-addressing index (linear probing, backward-shift deletion, so no tombstones pile up)
// over a slab of entries linked in LRU order by position: a lookup that misses reads one or two
// contiguous slots and no entry, and once warm, caching an image allocates nothing (a new image
// reuses an evicted or erased entry with its buffers).
//
// Put is staged: it copies the image, prefetches the index slots it will touch (the new key's and,
// when full, the oldest image's) and does the index work at the next call of any other member.
// The caller reads the next log row in between, so the two random reads of a 2 MB index are
// already in cache when they are needed (they were most of the cost of caching an insert). Every
// member but Put completes a staged Put first, so what callers observe is as if Put were immediate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace sqltail::logreader {

class RowImageCache {
 public:
  // A key with its hash, computed once per record. `identity` is not copied: it must outlive the key.
  struct Key {
    uint64_t unit = 0;
    std::span<const uint8_t> identity;
    uint32_t hash = 0;
  };

  // Bounds: at most `max_rows` images and `max_bytes` of them, each counted as 8 (the allocation
  // unit) + identity + image bytes. `hash_mask` is for tests: 0 makes every key collide.
  RowImageCache(size_t max_rows, size_t max_bytes, uint64_t hash_mask = ~uint64_t{0});

  Key MakeKey(uint64_t unit, std::span<const uint8_t> identity) const;

  // The key's image, or null; a hit makes it the most recently used. Valid until the next Put.
  std::vector<uint8_t>* Find(const Key& key);
  // Caches `image` (copied, not aliasing a cached one; the key's identity too) as the key's most recently used image,
  // evicting least recently used ones beyond the bounds; an image too large for them only erases
  // the key.
  void Put(const Key& key, std::span<const uint8_t> image);
  void Erase(const Key& key);
  void EraseAllocationUnit(uint64_t unit);
  void Clear();  // also releases the memory

  size_t rows() {
    Complete();
    return rows_;
  }
  size_t bytes() {
    Complete();
    return bytes_;
  }
  uint64_t evictions() {  // LRU evictions (bounds) so far
    Complete();
    return evictions_;
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kInlineIdentity = 16;  // RIDs, int and bigint keys: no identity buffer

  struct Entry {
    uint64_t unit = 0;
    uint32_t hash = 0;
    uint32_t identity_size = 0;
    uint32_t newer = kNone, older = kNone;  // LRU links; `older` also links the free list
    uint8_t short_identity[kInlineIdentity] = {};
    std::vector<uint8_t> long_identity;  // identities longer than kInlineIdentity
    std::vector<uint8_t> image;
    const uint8_t* identity() const { return identity_size <= kInlineIdentity ? short_identity : long_identity.data(); }
    size_t Bytes() const { return sizeof unit + identity_size + image.size(); }
  };
  struct Slot {
    uint32_t hash = 0;
    uint32_t entry = kNone;  // kNone: empty
  };

  void Complete();  // the staged Put's index work, if any
  std::vector<uint8_t>* FindEntry(const Key& key);
  size_t FindSlot(const Key& key) const;  // slot of the key, or slots_.size()
  uint32_t TakeEntry(size_t added);
  void InsertSlot(uint32_t hash, uint32_t entry);
  void RemoveSlot(uint32_t entry);
  void Grow();
  void Unlink(uint32_t entry);
  void LinkFront(uint32_t entry);
  void Remove(uint32_t entry);  // from the index, the LRU list and the counts; to the free list
  void EvictOldest();

  size_t max_rows_, max_bytes_;
  uint64_t hash_mask_;
  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::vector<Entry> entries_;
  uint32_t newest_ = kNone, oldest_ = kNone;
  uint32_t free_ = kNone;  // erased entries for reuse; those beyond kMaxSpare give back their buffers
  size_t free_count_ = 0;
  size_t rows_ = 0, bytes_ = 0;
  uint64_t evictions_ = 0;
  std::unordered_map<uint64_t, size_t> rows_per_unit_;  // skips the scan of EraseAllocationUnit when 0
  // The staged Put: its key (identity copied) and image; the buffers are swapped with entries', so
  // staging allocates nothing once warm.
  bool staged_ = false;
  uint64_t staged_unit_ = 0;
  uint32_t staged_hash_ = 0;
  std::vector<uint8_t> staged_identity_, staged_image_;
};

}  // namespace sqltail::logreader
