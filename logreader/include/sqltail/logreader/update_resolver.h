// Turns the byte regions of LOP_MODIFY_ROW / LOP_MODIFY_COLUMNS into row images (DESIGN.md "Updates
// are byte diffs"): it replays every base-row record of a captured table onto the last known
// physical image of each row, in log order, and splices updates onto it. Without a base image it
// keeps only what the log alone determines and reports every other column as unavailable.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sqltail/logreader/catalog.h"
#include "sqltail/logreader/log_record.h"
#include "sqltail/logreader/lsn.h"
#include "sqltail/logreader/row_image_cache.h"

namespace sqltail::logreader {

struct UpdateResolverLimits {
  size_t max_rows = 100000;             // cached row images
  size_t max_bytes = size_t{64} << 20;  // bytes of cached images and identities
};

struct UpdateResolverStats {
  uint64_t updates_spliced = 0;       // full before and after images from a cached base image
  uint64_t updates_without_base = 0;  // only the columns the log determines
  uint64_t base_mismatches = 0;       // cached image did not hold the region's before bytes: dropped
  uint64_t images_evicted = 0;        // LRU evictions (bounds)
};

// A column value the log determines without a base image (offsets into UpdateResult::bytes).
struct KnownColumnBytes {
  uint32_t column = 0;  // index into the layout's columns
  uint32_t before_offset = 0, before_size = 0;
  uint32_t after_offset = 0, after_size = 0;
};

struct UpdateResult {
  bool complete = false;                // before and after are full records
  std::vector<uint8_t> before;          // complete: the full before image
  std::vector<uint8_t> after;           // complete: the full after image
  std::vector<KnownColumnBytes> known;  // !complete: what the log alone determines
  std::vector<uint8_t> bytes;           // !complete: the known values' bytes
  std::vector<uint8_t> identity;        // the row's identity (empty when unknown)
};

class UpdateResolver {
 public:
  explicit UpdateResolver(UpdateResolverLimits limits = {});

  // The identity of the row `record` touches, into `out`: for clustered tables the fixed-length key
  // columns' bytes (from the record image, or from the key element of a modify record), for heaps
  // the RID (page, file, slot). False when it cannot be known (variable or nullable key columns,
  // a key element of an unexpected size, ...).
  static bool RowIdentity(const CapturedTable& table, const LogRecordView& record, std::vector<uint8_t>& out);

  // Feeds one base-row record (heap / clustered / ghost context) of `table`, in log order, whatever
  // transaction it belongs to (CLRs included): images change at the record's LSN. For a non-CLR
  // modify record `update` receives the resolved images. False with `error` on malformed regions.
  bool Apply(const CapturedTable& table, Lsn lsn, const LogRecordView& record, UpdateResult* update,
             std::string& error);

  // The cached image of the row `record` touches (after the records applied so far), or null.
  const std::vector<uint8_t>* CachedImage(const CapturedTable& table, const LogRecordView& record);

  // Forgets every cached image (e.g. after a gap in the log).
  void Clear();

  UpdateResolverStats stats() const {
    UpdateResolverStats stats = stats_;
    stats.images_evicted = cache_.evictions();
    return stats;
  }
  size_t cached_rows() const { return cache_.rows(); }
  size_t cached_bytes() const { return cache_.bytes(); }

 private:
  void Put(std::span<const uint8_t> image) { cache_.Put(key_, image); }
  void ResolveWithoutBase(const CapturedTable& table, const std::vector<ModifyRegion>& regions, bool identity_from_key,
                          UpdateResult& update) const;

  UpdateResolverStats stats_;  // but images_evicted, which the cache counts
  // Mutable because its counts complete a staged Put first: what they report does not change.
  mutable RowImageCache cache_;
  RowImageCache::Key key_;             // of the record being applied (over identity_)
  std::vector<uint8_t> identity_;      // scratch
  std::vector<ModifyRegion> regions_;  // scratch
  std::vector<uint8_t> spliced_;       // scratch
};

}  // namespace sqltail::logreader
