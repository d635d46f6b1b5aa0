// The update resolver's image cache on its own: keys of every identity length, forced hash
// collisions, growth, LRU eviction by rows and bytes, erase by allocation unit, and a randomized
// comparison with a plain std::list model of the same bounded LRU.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/logreader/row_image_cache.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <random>
#include <vector>

using sqltail::logreader::RowImageCache;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes IdentityOf(uint64_t n, size_t size) {
  Bytes out(size, 0);
  for (size_t i = 0; i < size && i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  return out;
}

Bytes ImageOf(uint64_t n, size_t size = 20) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(n * 31 + i);
  return out;
}

bool Has(RowImageCache& cache, uint64_t unit, const Bytes& identity, const Bytes& image) {
  const Bytes* found = cache.Find(cache.MakeKey(unit, identity));
  return found != nullptr && *found == image;
}

bool Missing(RowImageCache& cache, uint64_t unit, const Bytes& identity) {
  return cache.Find(cache.MakeKey(unit, identity)) == nullptr;
}

// How many images a Put evicted (counted when the staged Put completes, here at evictions()).
uint64_t PutEvicting(RowImageCache& cache, const RowImageCache::Key& key, const Bytes& image) {
  const uint64_t before = cache.evictions();
  cache.Put(key, image);
  return cache.evictions() - before;
}

}  // namespace

TEST_CASE("identities of different lengths and zero padding, and units, are distinct keys") {
  for (uint64_t mask : {~uint64_t{0}, uint64_t{0}}) {
    CAPTURE(mask);
    RowImageCache cache(1000, 1 << 20, mask);
    // Inline (up to 16 bytes) and buffered (longer) identities, all zero but for their length.
    const std::vector<size_t> sizes = {0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 40, 900};
    for (size_t i = 0; i < sizes.size(); ++i) {
      cache.Put(cache.MakeKey(1, Bytes(sizes[i], 0)), ImageOf(i));
      cache.Put(cache.MakeKey(2, Bytes(sizes[i], 0)), ImageOf(100 + i));
    }
    CHECK(cache.rows() == 2 * sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      CAPTURE(sizes[i]);
      CHECK(Has(cache, 1, Bytes(sizes[i], 0), ImageOf(i)));
      CHECK(Has(cache, 2, Bytes(sizes[i], 0), ImageOf(100 + i)));
      if (sizes[i] != 0) CHECK(Missing(cache, 1, Bytes(sizes[i], 1)));
    }
    size_t bytes = 0;
    for (size_t size : sizes) bytes += 2 * (8 + size + 20);
    CHECK(cache.bytes() == bytes);
  }
}

TEST_CASE("every key colliding: found, updated, erased from the middle of a probe run, re-inserted") {
  RowImageCache cache(10000, 1 << 24, /*hash_mask=*/0);
  constexpr uint64_t kKeys = 500;
  for (uint64_t n = 0; n < kKeys; ++n) cache.Put(cache.MakeKey(7, IdentityOf(n, 4 + n % 20)), ImageOf(n));
  for (uint64_t n = 0; n < kKeys; n += 3) cache.Erase(cache.MakeKey(7, IdentityOf(n, 4 + n % 20)));
  for (uint64_t n = 1; n < kKeys; n += 3) cache.Put(cache.MakeKey(7, IdentityOf(n, 4 + n % 20)), ImageOf(n + 1, 30));
  for (uint64_t n = 0; n < kKeys; ++n) {
    CAPTURE(n);
    const Bytes identity = IdentityOf(n, 4 + n % 20);
    if (n % 3 == 0)
      CHECK(Missing(cache, 7, identity));
    else
      CHECK(Has(cache, 7, identity, n % 3 == 1 ? ImageOf(n + 1, 30) : ImageOf(n)));
  }
  for (uint64_t n = 0; n < kKeys; n += 3) cache.Put(cache.MakeKey(7, IdentityOf(n, 4 + n % 20)), ImageOf(n));
  for (uint64_t n = 0; n < kKeys; n += 3) CHECK(Has(cache, 7, IdentityOf(n, 4 + n % 20), ImageOf(n)));
  CHECK(cache.rows() == kKeys);
}

TEST_CASE("the index grows from empty to 200,000 keys and every key stays found") {
  RowImageCache cache(1000000, size_t{1} << 30);
  constexpr uint64_t kKeys = 200000;
  for (uint64_t n = 0; n < kKeys; ++n) cache.Put(cache.MakeKey(n % 3, IdentityOf(n, 8)), ImageOf(n, 4));
  CHECK(cache.rows() == kKeys);
  CHECK(cache.bytes() == kKeys * (8 + 8 + 4));
  bool all = true;
  for (uint64_t n = 0; n < kKeys; ++n) all = all && Has(cache, n % 3, IdentityOf(n, 8), ImageOf(n, 4));
  CHECK(all);
  CHECK(Missing(cache, 1, IdentityOf(0, 8)));  // key 0 is in unit 0
}

TEST_CASE("eviction: the least recently used image goes first, by rows and by bytes") {
  std::vector<Bytes> ids;  // keys hold spans of their identities
  for (uint64_t n = 0; n < 6; ++n) ids.push_back(IdentityOf(n, 4));
  RowImageCache cache(3, 1 << 20);
  auto key = [&](uint64_t n) { return cache.MakeKey(1, ids[n]); };
  const Bytes a = IdentityOf(1, 4), b = IdentityOf(2, 4), c = IdentityOf(3, 4), d = IdentityOf(4, 4);
  CHECK(PutEvicting(cache, key(1), ImageOf(1)) == 0);
  CHECK(PutEvicting(cache, key(2), ImageOf(2)) == 0);
  CHECK(PutEvicting(cache, key(3), ImageOf(3)) == 0);
  CHECK(cache.Find(key(1)) != nullptr);                // 1 is now the most recently used: 2 is the oldest
  CHECK(PutEvicting(cache, key(4), ImageOf(4)) == 1);  // evicts 2
  CHECK(Missing(cache, 1, b));
  CHECK(PutEvicting(cache, key(3), ImageOf(33)) == 0);  // an update is a use: 1 is the oldest
  CHECK(PutEvicting(cache, key(5), ImageOf(5)) == 1);   // evicts 1
  CHECK(Missing(cache, 1, a));
  CHECK(Has(cache, 1, c, ImageOf(33)));
  CHECK(Has(cache, 1, d, ImageOf(4)));
  CHECK(cache.rows() == 3);

  // Bytes: each entry is 8 + 4 + image bytes.
  RowImageCache small(100, 3 * (8 + 4 + 20));
  auto small_key = [&](uint64_t n) { return small.MakeKey(1, ids[n]); };
  for (uint64_t n = 0; n < 3; ++n) CHECK(PutEvicting(small, small_key(n), ImageOf(n)) == 0);
  CHECK(PutEvicting(small, small_key(3), ImageOf(3, 50)) == 2);  // 62 bytes: two 32-byte images make room
  CHECK(small.rows() == 2);
  CHECK(small.bytes() == (8 + 4 + 20) + (8 + 4 + 50));
  CHECK(PutEvicting(small, small_key(2), ImageOf(2, 200)) == 0);  // larger than the bound alone: only erased
  CHECK(Missing(small, 1, IdentityOf(2, 4)));
  CHECK(small.rows() == 1);

  RowImageCache none(0, 1 << 20);
  CHECK(PutEvicting(none, none.MakeKey(1, a), ImageOf(1)) == 0);
  CHECK(none.rows() == 0);
}

TEST_CASE("EraseAllocationUnit forgets one unit's images and keeps the others, in LRU order") {
  RowImageCache cache(4, 1 << 20);
  for (uint64_t n = 0; n < 4; ++n) cache.Put(cache.MakeKey(n % 2, IdentityOf(n, 8)), ImageOf(n));
  cache.EraseAllocationUnit(0);
  CHECK(cache.rows() == 2);
  CHECK(cache.bytes() == 2 * (8 + 8 + 20));
  CHECK(Missing(cache, 0, IdentityOf(0, 8)));
  CHECK(Missing(cache, 0, IdentityOf(2, 8)));
  CHECK(Has(cache, 1, IdentityOf(1, 8), ImageOf(1)));
  CHECK(Has(cache, 1, IdentityOf(3, 8), ImageOf(3)));
  cache.EraseAllocationUnit(0);  // nothing left of it
  cache.EraseAllocationUnit(9);  // never seen
  CHECK(cache.rows() == 2);
  // Filling again reuses the erased entries; 1 is the oldest (3 was found after it).
  cache.Put(cache.MakeKey(0, IdentityOf(10, 8)), ImageOf(10));
  cache.Put(cache.MakeKey(0, IdentityOf(11, 8)), ImageOf(11));
  CHECK(PutEvicting(cache, cache.MakeKey(0, IdentityOf(12, 8)), ImageOf(12)) == 1);
  CHECK(Missing(cache, 1, IdentityOf(1, 8)));
  CHECK(Has(cache, 1, IdentityOf(3, 8), ImageOf(3)));
  cache.Clear();
  CHECK(cache.rows() == 0);
  CHECK(cache.bytes() == 0);
  CHECK(Missing(cache, 1, IdentityOf(3, 8)));
  cache.Put(cache.MakeKey(1, IdentityOf(3, 8)), ImageOf(3));
  CHECK(Has(cache, 1, IdentityOf(3, 8), ImageOf(3)));
}

namespace {

// The same bounded LRU, the obvious way.
class Model {
 public:
  Model(size_t max_rows, size_t max_bytes) : max_rows_(max_rows), max_bytes_(max_bytes) {}
  const Bytes* Find(uint64_t unit, const Bytes& identity) {
    auto it = Locate(unit, identity);
    if (it == entries_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it);
    return &entries_.front().image;
  }
  size_t Put(uint64_t unit, const Bytes& identity, const Bytes& image) {
    const size_t size = 8 + identity.size() + image.size();
    if (size > max_bytes_ || max_rows_ == 0) {
      Erase(unit, identity);
      return 0;
    }
    if (Find(unit, identity) != nullptr) {
      bytes_ += image.size() - entries_.front().image.size();
      entries_.front().image = image;
    } else {
      entries_.push_front({unit, identity, image});
      bytes_ += size;
    }
    size_t evicted = 0;
    while (entries_.size() > max_rows_ || bytes_ > max_bytes_) {
      bytes_ -= Size(entries_.back());
      entries_.pop_back();
      ++evicted;
    }
    return evicted;
  }
  void Erase(uint64_t unit, const Bytes& identity) {
    auto it = Locate(unit, identity);
    if (it == entries_.end()) return;
    bytes_ -= Size(*it);
    entries_.erase(it);
  }
  void EraseAllocationUnit(uint64_t unit) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->unit != unit) {
        ++it;
        continue;
      }
      bytes_ -= Size(*it);
      it = entries_.erase(it);
    }
  }
  size_t rows() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    uint64_t unit;
    Bytes identity, image;
  };
  static size_t Size(const Entry& e) { return 8 + e.identity.size() + e.image.size(); }
  std::list<Entry>::iterator Locate(uint64_t unit, const Bytes& identity) {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const Entry& e) { return e.unit == unit && e.identity == identity; });
  }
  size_t max_rows_, max_bytes_, bytes_ = 0;
  std::list<Entry> entries_;
};

}  // namespace

TEST_CASE("random operations agree with a plain LRU model (few, some and no forced collisions)") {
  // Counts are compared after every operation, and also only every seventh one, so that runs of
  // Puts complete their staged index work inside the next Put, Find or Erase rather than in rows().
  for (int check_every : {1, 7}) {
    for (uint64_t mask : {uint64_t{0}, uint64_t{0x7}, ~uint64_t{0}}) {
      for (size_t max_rows : {size_t{1}, size_t{8}, size_t{60}}) {
        CAPTURE(check_every);
        CAPTURE(mask);
        CAPTURE(max_rows);
        const size_t max_bytes = 40 * 60;  // binds before max_rows = 60 with large images
        RowImageCache cache(max_rows, max_bytes, mask);
        Model model(max_rows, max_bytes);
        uint64_t model_evictions = 0;
        std::mt19937_64 random(max_rows * 1000 + mask + static_cast<uint64_t>(check_every));
        bool same = true;
        int step = 0;
        for (; step < 20000 && same; ++step) {
          const uint64_t unit = random() % 3;
          const uint64_t n = random() % 100;
          const Bytes identity = IdentityOf(n, n % 4 == 0 ? 24 : 2 + n % 12);
          const uint64_t op = random() % 100;
          if (op < 50) {
            const Bytes image = ImageOf(random(), 1 + random() % (op < 2 ? 3000 : 60));
            cache.Put(cache.MakeKey(unit, identity), image);
            model_evictions += model.Put(unit, identity, image);
          } else if (op < 85) {
            const Bytes* got = cache.Find(cache.MakeKey(unit, identity));
            const Bytes* want = model.Find(unit, identity);
            same = (got == nullptr) == (want == nullptr) && (got == nullptr || *got == *want);
          } else if (op < 98) {
            cache.Erase(cache.MakeKey(unit, identity));
            model.Erase(unit, identity);
          } else {
            cache.EraseAllocationUnit(unit);
            model.EraseAllocationUnit(unit);
          }
          if (step % check_every == 0)
            same = same && cache.rows() == model.rows() && cache.bytes() == model.bytes() &&
                   cache.evictions() == model_evictions;
        }
        CAPTURE(step);
        CHECK(same);
      }
    }
  }
}
