// An order-independent checksum of table rows: the sum of a 64-bit FNV-1a hash per row over its
// column names and values. Source and target compute it the same way, whatever the row order.
#pragma once

#include <cstdint>
#include <string_view>

namespace sqltail::engine {

class RowChecksum {
 public:
  void BeginRow() { hash_ = kOffset; }
  void Name(std::string_view name) { Mix("n", name); }
  void Null() { Mix("z", {}); }
  void Integer(int64_t value);
  void Real(double value);
  void Text(std::string_view text) { Mix("s", text); }
  // A value already in canonical form under its own tag (verify's per-type normalisation).
  void Tagged(std::string_view tag, std::string_view bytes) { Mix(tag, bytes); }
  void EndRow() {
    sum_ += hash_;
    ++rows_;
  }
  uint64_t value() const { return sum_; }
  uint64_t rows() const { return rows_; }

 private:
  static constexpr uint64_t kOffset = 14695981039346656037ull;
  void Mix(std::string_view tag, std::string_view bytes);
  uint64_t hash_ = kOffset;
  uint64_t sum_ = 0;
  uint64_t rows_ = 0;
};

}  // namespace sqltail::engine
