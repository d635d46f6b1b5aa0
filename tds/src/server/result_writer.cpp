#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "sqltail/tds/server.h"
#include "sqltail/tds/wire.h"

namespace sqltail::tds {

namespace {

constexpr uint8_t kTokenColMetadata = 0x81;
constexpr uint8_t kTokenError = 0xAA;
constexpr uint8_t kTokenRow = 0xD1;
constexpr uint8_t kTokenNbcRow = 0xD2;
constexpr uint8_t kTokenDone = 0xFD;
constexpr uint16_t kDoneMore = 0x0001;
constexpr uint16_t kDoneError = 0x0002;
constexpr uint16_t kDoneCount = 0x0010;
constexpr uint16_t kDoneAttention = 0x0020;
constexpr uint16_t kCurCmdSelect = 0xC1;
// The collation SQL Server reports for SQL_Latin1_General_CP1_CI_AS (LCID 0x0409, sort id 52).
constexpr uint8_t kCollation[5] = {0x09, 0x04, 0xD0, 0x00, 0x34};

inline void StoreLe(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

const char* TypeName(SqlType t) {
  switch (t) {
    case SqlType::kNVarChar:
      return "nvarchar";
    case SqlType::kVarBinary:
      return "varbinary";
    case SqlType::kTinyInt:
      return "tinyint";
    case SqlType::kSmallInt:
      return "smallint";
    case SqlType::kInt:
      return "int";
    case SqlType::kBigInt:
      return "bigint";
    case SqlType::kBit:
      return "bit";
    case SqlType::kVarChar:
      return "varchar";
    case SqlType::kChar:
      return "char";
  }
  return "?";
}

}  // namespace

ResultWriter::ResultWriter(PacketSink& sink, uint32_t packet_size, uint16_t spid, std::string server_name)
    : sink_(sink),
      packet_size_(std::clamp<uint32_t>(packet_size, wire::kMinPacketSize, wire::kMaxPacketSize)),
      spid_(spid),
      server_name_(std::move(server_name)) {
  // Room for ~128 KiB of packets: few write calls, bounded memory.
  const size_t packets = std::max<size_t>(2, (128u << 10) / packet_size_);
  buffer_capacity_ = packets * packet_size_;
  buffer_ = std::make_unique<uint8_t[]>(buffer_capacity_);
  row_.resize(16u << 10);
}

ResultWriter::~ResultWriter() = default;

void ResultWriter::OpenPacket() {
  if (buffer_used_ + packet_size_ > buffer_capacity_) FlushComplete();
  packet_start_ = buffer_used_;
  buffer_used_ += wire::kHeaderSize;
  packet_open_ = true;
}

void ResultWriter::ClosePacket(bool end_of_message) {
  wire::PacketHeader h;
  h.type = wire::kTabularResult;
  h.status = end_of_message ? wire::kStatusEndOfMessage : 0;
  h.length = static_cast<uint16_t>(buffer_used_ - packet_start_);
  h.spid = spid_;
  h.packet_id = packet_id_++;
  wire::EncodeHeader(h, buffer_.get() + packet_start_);
  packet_open_ = false;
}

void ResultWriter::FlushComplete() {
  if (buffer_used_ == 0) return;
  sink_.Write({buffer_.get(), buffer_used_});
  buffer_used_ = 0;
  // Between flushes is the only moment a blocking server can notice the client's ATTENTION.
  if (!attention_seen_ && sink_.PollAttention()) attention_seen_ = true;
}

void ResultWriter::Put(const void* data, size_t size) {
  const auto* src = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (!packet_open_) OpenPacket();
    size_t room = packet_size_ - (buffer_used_ - packet_start_);
    if (room == 0) {
      // Close a full packet only when more bytes come, so the last packet is never empty.
      ClosePacket(false);
      OpenPacket();
      room = packet_size_ - wire::kHeaderSize;
    }
    const size_t n = std::min(room, size);
    std::memcpy(buffer_.get() + buffer_used_, src, n);
    buffer_used_ += n;
    src += n;
    size -= n;
  }
}

void ResultWriter::WriteDone(uint16_t status, uint16_t curcmd, uint64_t rowcount) {
  uint8_t done[13];
  done[0] = kTokenDone;
  StoreLe(done + 1, status, 2);
  StoreLe(done + 3, curcmd, 2);
  StoreLe(done + 5, rowcount, 8);
  Put(done, sizeof done);
}

void ResultWriter::WritePendingDone(bool more) {
  if (!done_pending_) return;
  WriteDone(static_cast<uint16_t>(pending_status_ | (more ? kDoneMore : 0)), pending_curcmd_, pending_rows_);
  done_pending_ = false;
}

void ResultWriter::BeginMessage() {
  buffer_used_ = 0;
  packet_open_ = false;
  packet_id_ = 1;
  in_result_ = in_row_ = false;
  done_pending_ = false;
  error_written_ = false;
  attention_seen_ = false;
  cancelled_ = false;
  rows_in_result_ = 0;
}

void ResultWriter::EndMessage() {
  in_row_ = false;  // an unfinished row was never put into packets; drop it
  if (in_result_ && !cancelled_) EndResult();
  if (attention_seen_) {
    WritePendingDone(true);
    WriteDone(kDoneAttention, 0, 0);
  } else if (done_pending_) {
    if (error_written_) pending_status_ |= kDoneError;
    WritePendingDone(false);
  } else {
    WriteDone(error_written_ ? kDoneError : 0, 0, 0);
  }
  ClosePacket(true);
  // The last flush must not consume an ATTENTION: the server answers one that arrives later itself.
  sink_.Write({buffer_.get(), buffer_used_});
  buffer_used_ = 0;
}

void ResultWriter::BeginResult(std::span<const ColumnSpec> columns) {
  if (cancelled_) return;
  if (in_row_) throw std::logic_error("tds: BeginResult inside a row");
  if (columns.empty() || columns.size() > 4096) throw std::logic_error("tds: a result set needs 1..4096 columns");
  if (in_result_) EndResult();
  WritePendingDone(true);

  column_types_.clear();
  column_max_bytes_.clear();
  uint8_t head[3] = {kTokenColMetadata};
  StoreLe(head + 1, columns.size(), 2);
  Put(head, 3);
  uint8_t name_utf16[2 * 256 * 4];
  for (const ColumnSpec& c : columns) {
    uint8_t meta[16];
    size_t n = 0;
    StoreLe(meta, 0, 4);  // UserType
    StoreLe(meta + 4, c.nullable ? 0x0001 : 0x0000, 2);
    n = 6;
    uint16_t max_bytes = 0;
    switch (c.type) {
      case SqlType::kNVarChar:
        if (c.max_length == 0 || c.max_length > 4000) throw std::logic_error("tds: nvarchar length must be 1..4000");
        max_bytes = static_cast<uint16_t>(c.max_length * 2);
        meta[n++] = 0xE7;
        StoreLe(meta + n, max_bytes, 2);
        n += 2;
        std::memcpy(meta + n, kCollation, 5);
        n += 5;
        break;
      case SqlType::kVarBinary:
        if (c.max_length == 0 || c.max_length > 8000) throw std::logic_error("tds: varbinary length must be 1..8000");
        max_bytes = c.max_length;
        meta[n++] = 0xA5;
        StoreLe(meta + n, max_bytes, 2);
        n += 2;
        break;
      case SqlType::kVarChar:
      case SqlType::kChar:
        if (c.max_length == 0 || c.max_length > 8000)
          throw std::logic_error("tds: varchar/char length must be 1..8000");
        max_bytes = c.max_length;
        meta[n++] = c.type == SqlType::kVarChar ? 0xA7 : 0xAF;  // BIGVARCHR / BIGCHAR
        StoreLe(meta + n, max_bytes, 2);
        n += 2;
        std::memcpy(meta + n, kCollation, 5);
        n += 5;
        break;
      case SqlType::kTinyInt:
      case SqlType::kSmallInt:
      case SqlType::kInt:
      case SqlType::kBigInt:
        max_bytes = c.type == SqlType::kTinyInt    ? 1
                    : c.type == SqlType::kSmallInt ? 2
                    : c.type == SqlType::kInt      ? 4
                                                   : 8;
        meta[n++] = 0x26;  // INTN
        meta[n++] = static_cast<uint8_t>(max_bytes);
        break;
      case SqlType::kBit:
        max_bytes = 1;
        meta[n++] = 0x68;  // BITN
        meta[n++] = 1;
        break;
    }
    Put(meta, n);
    if (c.name.size() > 128 * 4) throw std::logic_error("tds: column name too long: " + c.name);
    const size_t name_bytes = wire::Utf8ToUtf16(c.name, name_utf16);
    const uint8_t chars = static_cast<uint8_t>(std::min<size_t>(name_bytes / 2, 255));
    PutByte(chars);
    Put(name_utf16, chars * 2u);
    column_types_.push_back(c.type);
    column_max_bytes_.push_back(max_bytes);
  }
  null_bitmap_.assign((columns.size() + 7) / 8, 0);
  in_result_ = true;
  rows_in_result_ = 0;
}

void ResultWriter::BeginRow() {
  if (cancelled_) return;
  if (!in_result_ || in_row_) throw std::logic_error("tds: BeginRow outside a result set or inside a row");
  row_used_ = 0;
  std::fill(null_bitmap_.begin(), null_bitmap_.end(), 0);
  row_has_null_ = false;
  next_column_ = 0;
  in_row_ = true;
}

void ResultWriter::NextValue(const char* what) {
  if (!in_row_) throw std::logic_error(std::string("tds: ") + what + " outside a row");
  if (next_column_ >= column_types_.size())
    throw std::logic_error(std::string("tds: ") + what + ": row has too many values");
}

void ResultWriter::EnsureRowCapacity(size_t extra) {
  if (row_used_ + extra > row_.size()) row_.resize(std::max(row_.size() * 2, row_used_ + extra));
}

void ResultWriter::AddNull() {
  if (cancelled_) return;
  NextValue("AddNull");
  // Values of a row with NULLs go out as NBCROW: NULLs are only bits, no bytes.
  null_bitmap_[next_column_ / 8] |= static_cast<uint8_t>(1u << (next_column_ % 8));
  row_has_null_ = true;
  ++next_column_;
}

void ResultWriter::AddInt(int64_t value) {
  if (cancelled_) return;
  NextValue("AddInt");
  const SqlType type = column_types_[next_column_];
  int64_t lo = 0, hi = 0;
  switch (type) {
    case SqlType::kTinyInt:
      lo = 0;
      hi = 255;
      break;
    case SqlType::kSmallInt:
      lo = INT16_MIN;
      hi = INT16_MAX;
      break;
    case SqlType::kInt:
      lo = INT32_MIN;
      hi = INT32_MAX;
      break;
    case SqlType::kBigInt:
      lo = INT64_MIN;
      hi = INT64_MAX;
      break;
    case SqlType::kBit:
      lo = 0;
      hi = 1;
      break;
    default:
      throw std::logic_error(std::string("tds: AddInt on a ") + TypeName(type) + " column");
  }
  if (value < lo || value > hi) {
    throw std::logic_error("tds: value " + std::to_string(value) + " out of range for " + TypeName(type));
  }
  const size_t width = column_max_bytes_[next_column_];
  EnsureRowCapacity(1 + width);
  row_[row_used_] = static_cast<uint8_t>(width);
  StoreLe(row_.data() + row_used_ + 1, static_cast<uint64_t>(value), width);
  row_used_ += 1 + width;
  ++next_column_;
}

void ResultWriter::AddText(std::string_view utf8) {
  if (cancelled_) return;
  NextValue("AddText");
  const SqlType type = column_types_[next_column_];
  if (type == SqlType::kVarChar || type == SqlType::kChar) {
    const size_t max = column_max_bytes_[next_column_];
    if (utf8.size() > max) {
      throw std::logic_error("tds: text of " + std::to_string(utf8.size()) + " bytes exceeds " + TypeName(type) + "(" +
                             std::to_string(max) + ")");
    }
    for (char ch : utf8)
      if (static_cast<unsigned char>(ch) >= 0x80) throw std::logic_error("tds: varchar/char text must be ASCII");
    const size_t size = type == SqlType::kChar ? max : utf8.size();  // char(n) is space padded
    EnsureRowCapacity(2 + size);
    StoreLe(row_.data() + row_used_, size, 2);
    std::memcpy(row_.data() + row_used_ + 2, utf8.data(), utf8.size());
    std::memset(row_.data() + row_used_ + 2 + utf8.size(), ' ', size - utf8.size());
    row_used_ += 2 + size;
    ++next_column_;
    return;
  }
  if (type != SqlType::kNVarChar) {
    throw std::logic_error(std::string("tds: AddText on a ") + TypeName(column_types_[next_column_]) + " column");
  }
  EnsureRowCapacity(2 + 2 * utf8.size());
  const size_t bytes = wire::Utf8ToUtf16(utf8, row_.data() + row_used_ + 2);
  if (bytes > column_max_bytes_[next_column_]) {
    throw std::logic_error("tds: text of " + std::to_string(bytes / 2) + " characters exceeds nvarchar(" +
                           std::to_string(column_max_bytes_[next_column_] / 2) + ")");
  }
  StoreLe(row_.data() + row_used_, bytes, 2);
  row_used_ += 2 + bytes;
  ++next_column_;
}

void ResultWriter::AddBytes(std::span<const uint8_t> bytes) {
  if (cancelled_) return;
  NextValue("AddBytes");
  if (column_types_[next_column_] != SqlType::kVarBinary) {
    throw std::logic_error(std::string("tds: AddBytes on a ") + TypeName(column_types_[next_column_]) + " column");
  }
  if (bytes.size() > column_max_bytes_[next_column_]) {
    throw std::logic_error("tds: " + std::to_string(bytes.size()) + " bytes exceed varbinary(" +
                           std::to_string(column_max_bytes_[next_column_]) + ")");
  }
  EnsureRowCapacity(2 + bytes.size());
  StoreLe(row_.data() + row_used_, bytes.size(), 2);
  if (!bytes.empty()) std::memcpy(row_.data() + row_used_ + 2, bytes.data(), bytes.size());
  row_used_ += 2 + bytes.size();
  ++next_column_;
}

void ResultWriter::EndRow() {
  if (cancelled_) return;
  if (!in_row_) throw std::logic_error("tds: EndRow outside a row");
  if (next_column_ != column_types_.size()) {
    throw std::logic_error("tds: row has " + std::to_string(next_column_) + " values for " +
                           std::to_string(column_types_.size()) + " columns");
  }
  if (row_has_null_) {
    PutByte(kTokenNbcRow);
    Put(null_bitmap_.data(), null_bitmap_.size());
  } else {
    PutByte(kTokenRow);
  }
  Put(row_.data(), row_used_);
  in_row_ = false;
  ++rows_in_result_;
  if (attention_seen_) cancelled_ = true;
}

void ResultWriter::EndResult() {
  if (cancelled_) return;
  if (!in_result_ || in_row_) throw std::logic_error("tds: EndResult outside a result set or inside a row");
  WritePendingDone(true);
  done_pending_ = true;
  pending_status_ = kDoneCount;
  pending_curcmd_ = kCurCmdSelect;
  pending_rows_ = rows_in_result_;
  in_result_ = false;
}

void ResultWriter::RowsAffected(uint64_t rows, uint16_t curcmd) {
  if (cancelled_) return;
  if (in_row_) throw std::logic_error("tds: RowsAffected inside a row");
  if (in_result_) EndResult();
  WritePendingDone(true);
  done_pending_ = true;
  pending_status_ = kDoneCount;
  pending_curcmd_ = curcmd;
  pending_rows_ = rows;
}

void ResultWriter::Error(const ServerError& error) {
  if (cancelled_) return;
  if (in_row_) throw std::logic_error("tds: Error inside a row");
  if (in_result_) EndResult();
  WritePendingDone(true);

  // Cap the texts so the token's 16-bit length always fits.
  auto utf16 = [](std::string_view text, size_t max_units) {
    std::string s(text.substr(0, max_units * 2));
    std::vector<uint8_t> out(2 * s.size());
    out.resize(wire::Utf8ToUtf16(s, out.data()));
    out.resize(std::min(out.size(), max_units * 2));
    return out;
  };
  const auto message = utf16(error.message, 4000);
  const auto server = utf16(server_name_, 128);
  const auto proc = utf16(error.procedure, 128);
  const size_t length = 4 + 1 + 1 + 2 + message.size() + 1 + server.size() + 1 + proc.size() + 4;
  std::vector<uint8_t> token(3 + length);
  size_t at = 0;
  token[at++] = kTokenError;
  StoreLe(&token[at], length, 2), at += 2;
  StoreLe(&token[at], static_cast<uint32_t>(error.number), 4), at += 4;
  token[at++] = error.state;
  token[at++] = error.severity;
  StoreLe(&token[at], message.size() / 2, 2), at += 2;
  std::memcpy(&token[at], message.data(), message.size()), at += message.size();
  token[at++] = static_cast<uint8_t>(server.size() / 2);
  std::memcpy(&token[at], server.data(), server.size()), at += server.size();
  token[at++] = static_cast<uint8_t>(proc.size() / 2);
  if (!proc.empty()) std::memcpy(&token[at], proc.data(), proc.size()), at += proc.size();
  StoreLe(&token[at], static_cast<uint32_t>(error.line), 4);
  Put(token.data(), token.size());
  error_written_ = true;
}

}  // namespace sqltail::tds
