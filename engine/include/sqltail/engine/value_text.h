// Text forms of column values that the encoder writes, the applier reads and verify compares: one
// parser each, so the three agree on what a value means.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sqltail::engine {

// "YYYY-MM-DD" -> days since 1970-01-01 (proleptic Gregorian, negative before 1970).
bool ParseIsoDate(std::string_view text, int64_t& days);
// "HH:MM:SS[.fffffffff]" -> nanoseconds since midnight.
bool ParseIsoTimeOfDay(std::string_view text, int64_t& nanos);
// Standard base64 (padding optional) -> bytes.
bool DecodeBase64(std::string_view text, std::string& out);

}  // namespace sqltail::engine
