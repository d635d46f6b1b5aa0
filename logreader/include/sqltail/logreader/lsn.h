// Log sequence number: VLF sequence : log block (512-byte units in the VLF) : slot in the block.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sqltail::logreader {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr Lsn(uint32_t vlf, uint32_t block, uint16_t slot) : vlf_(vlf), block_(block), slot_(slot) {}

  // Accepts every form SQL Server prints or takes:
  //   "0000001a:0000003b:0001"    fn_dblog's [Current LSN] (hex, colon separated)
  //   "0x0000001A:0000003B:0001"  the hex argument form fn_dblog/fn_dump_dblog accept
  //   "26:59:1"                   the decimal colon form fn_dblog accepts
  //   "26000000005900001"         the numeric(25,0) form of msdb and sys.fn_cdc_* (vlf*10^15 + block*10^5 + slot)
  //   "0x0000001A0000003B0001"    binary(10) as hex
  static std::optional<Lsn> Parse(std::string_view text);

  // "0000001a:0000003b:0001", as fn_dblog prints it.
  std::string ToString() const;
  // "0x0000001a:0000003b:0001", the form to pass to fn_dblog / fn_dump_dblog.
  std::string ToHexArgument() const;
  // "26:59:1"
  std::string ToDecimalColon() const;
  // "26000000005900001". Only exact while block < 10^10 and slot < 10^5, which SQL Server guarantees
  // (blocks are 512-byte units of a VLF, slots are at most a few thousand per 60 KB block).
  std::string ToNumeric() const;

  // Writes the 22 characters of ToString() into out (no allocation, for hot paths).
  void Format(char out[22]) const;

  constexpr uint32_t vlf() const { return vlf_; }
  constexpr uint32_t block() const { return block_; }
  constexpr uint16_t slot() const { return slot_; }
  constexpr bool IsZero() const { return vlf_ == 0 && block_ == 0 && slot_ == 0; }

  constexpr auto operator<=>(const Lsn&) const = default;

 private:
  uint32_t vlf_ = 0;
  uint32_t block_ = 0;
  uint16_t slot_ = 0;
};

}  // namespace sqltail::logreader
