// TDS wire decoding on untrusted bytes, the result encoder, and the fn_dblog query parser.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <random>

#include "sqltail/replay/fn_dblog_query.h"
#include "sqltail/tds/server.h"
#include "sqltail/tds/wire.h"

using namespace sqltail;

namespace {

void PutLe16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x);
  v[at + 1] = static_cast<uint8_t>(x >> 8);
}

std::vector<uint8_t> Utf16(std::string_view s) {
  std::vector<uint8_t> out(2 * s.size());
  out.resize(tds::wire::Utf8ToUtf16(s, out.data()));
  return out;
}

// A LOGIN7 payload with user, password (obfuscated) and database.
std::vector<uint8_t> MakeLogin7(std::string_view user, std::string_view password, std::string_view database) {
  std::vector<uint8_t> v(94, 0);
  auto add = [&](size_t field, std::string_view text, bool obfuscate) {
    auto bytes = Utf16(text);
    if (obfuscate) tds::wire::ObfuscatePassword(bytes);
    PutLe16(v, field, static_cast<uint16_t>(v.size()));
    PutLe16(v, field + 2, static_cast<uint16_t>(bytes.size() / 2));
    v.insert(v.end(), bytes.begin(), bytes.end());
  };
  add(40, user, false);
  add(44, password, true);
  add(68, database, false);
  const uint32_t length = static_cast<uint32_t>(v.size());
  for (int i = 0; i < 4; ++i) v[i] = static_cast<uint8_t>(length >> (8 * i));
  v[4] = 0x04, v[7] = 0x74;  // TDS 7.4
  v[8] = 0x00, v[9] = 0x10;  // packet size 4096
  return v;
}

struct MemorySink : tds::PacketSink {
  std::vector<uint8_t> bytes;
  void Write(std::span<const uint8_t> b) override { bytes.insert(bytes.end(), b.begin(), b.end()); }
  bool PollAttention() override { return false; }
};

}  // namespace

TEST_CASE("LOGIN7: user, de-obfuscated password and database are read") {
  auto payload = MakeLogin7("sqltail", "s3cret!é", "source_db");
  std::string why;
  auto login = tds::wire::ParseLogin7(payload, &why);
  REQUIRE_MESSAGE(login, why);
  CHECK(login->user_name == "sqltail");
  CHECK(login->password == "s3cret!é");
  CHECK(login->database == "source_db");
  CHECK(login->tds_version == 0x74000004u);
  CHECK(login->packet_size == 4096u);
}

TEST_CASE("LOGIN7: password obfuscation is swap nibbles then XOR 0xA5") {
  std::vector<uint8_t> b = {0x61, 0x00};  // 'a' in UCS-2
  tds::wire::ObfuscatePassword(b);
  CHECK(b[0] == static_cast<uint8_t>(0x16 ^ 0xA5));
  CHECK(b[1] == 0xA5);
  tds::wire::DeobfuscatePassword(b);
  CHECK(b[0] == 0x61);
  CHECK(b[1] == 0x00);
}

TEST_CASE("LOGIN7: bad lengths and offsets are rejected, never read out of bounds") {
  std::string why;
  std::vector<uint8_t> tiny(20, 0);
  CHECK_FALSE(tds::wire::ParseLogin7(tiny, &why));
  CHECK(why.find("too short") != std::string::npos);

  auto payload = MakeLogin7("u", "p", "d");
  auto bad_length = payload;
  bad_length[0] = 0xFF, bad_length[1] = 0xFF;
  CHECK_FALSE(tds::wire::ParseLogin7(bad_length, &why));

  auto bad_offset = payload;
  PutLe16(bad_offset, 40, 0xFFF0);  // user name offset far past the end
  CHECK_FALSE(tds::wire::ParseLogin7(bad_offset, &why));
  CHECK(why.find("UserName") != std::string::npos);

  // Random garbage of every small size: must not crash (run under ASan to be sure).
  std::mt19937 rng(42);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> junk(rng() % 300);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (junk.size() >= 4 && (round & 1)) {
      const uint32_t n = static_cast<uint32_t>(junk.size());
      for (int i = 0; i < 4; ++i) junk[i] = static_cast<uint8_t>(n >> (8 * i));
    }
    (void)tds::wire::ParseLogin7(junk, &why);
    (void)tds::wire::ValidatePrelogin(junk, &why);
    (void)tds::wire::Utf16ToUtf8(junk);
  }
}

TEST_CASE("PRELOGIN option table is bounds-checked") {
  std::string why;
  const std::vector<uint8_t> ok = {0x00, 0x00, 0x06, 0x00, 0x01, 0xFF, 0x42};
  CHECK(tds::wire::ValidatePrelogin(ok, &why));
  const std::vector<uint8_t> past_end = {0x00, 0x00, 0x06, 0x00, 0x09, 0xFF, 0x42};
  CHECK_FALSE(tds::wire::ValidatePrelogin(past_end, &why));
  const std::vector<uint8_t> no_terminator = {0x00, 0x00, 0x05, 0x00, 0x00};
  CHECK_FALSE(tds::wire::ValidatePrelogin(no_terminator, &why));
}

TEST_CASE("UTF-8 <-> UTF-16 round trip, including surrogate pairs") {
  const std::string text = "abc é € 𝄞";
  std::vector<uint8_t> utf16(2 * text.size());
  utf16.resize(tds::wire::Utf8ToUtf16(text, utf16.data()));
  CHECK(utf16.size() == 2 * 10);  // 9 BMP characters + one surrogate pair
  CHECK(tds::wire::Utf16ToUtf8(utf16) == text);
}

TEST_CASE("ResultWriter splits a message into packets of the negotiated size, EOM only on the last") {
  MemorySink sink;
  tds::ResultWriter writer(sink, 512, 51, "TEST");
  const std::vector<tds::ColumnSpec> columns = {{"id", tds::SqlType::kInt, 0, true},
                                                {"data", tds::SqlType::kVarBinary, 100, true}};
  const std::vector<uint8_t> data(100, 0xAB);
  writer.BeginMessage();
  writer.BeginResult(columns);
  for (int i = 0; i < 50; ++i) {
    writer.BeginRow();
    writer.AddInt(i);
    if (i % 2)
      writer.AddNull();
    else
      writer.AddBytes(data);
    writer.EndRow();
  }
  writer.EndResult();
  writer.EndMessage();

  size_t at = 0, packets = 0;
  std::vector<uint8_t> payload;
  while (at < sink.bytes.size()) {
    REQUIRE(at + 8 <= sink.bytes.size());
    auto h = tds::wire::DecodeHeader(&sink.bytes[at]);
    CHECK(h.type == 0x04);
    CHECK(h.spid == 51);
    CHECK(h.length <= 512);
    const bool last = at + h.length == sink.bytes.size();
    CHECK(((h.status & 1) != 0) == last);
    if (!last) CHECK(h.length == 512);
    payload.insert(payload.end(), sink.bytes.begin() + at + 8, sink.bytes.begin() + at + h.length);
    at += h.length;
    ++packets;
  }
  CHECK(packets > 5);
  // The payload ends with DONE(COUNT) rowcount 50.
  REQUIRE(payload.size() > 13);
  const uint8_t* done = &payload[payload.size() - 13];
  CHECK(done[0] == 0xFD);
  CHECK(done[1] == 0x10);
  CHECK(done[5] == 50);
}

TEST_CASE("ResultWriter rejects misuse instead of sending a corrupt stream") {
  MemorySink sink;
  tds::ResultWriter writer(sink, 4096, 51, "TEST");
  const std::vector<tds::ColumnSpec> columns = {{"n", tds::SqlType::kTinyInt, 0, true},
                                                {"s", tds::SqlType::kNVarChar, 3, true}};
  writer.BeginMessage();
  writer.BeginResult(columns);
  writer.BeginRow();
  CHECK_THROWS_AS(writer.AddInt(256), std::logic_error);
  CHECK_THROWS_AS(writer.AddText("x"), std::logic_error);  // wrong type for column 0
  writer.AddInt(1);
  CHECK_THROWS_AS(writer.AddText("abcd"), std::logic_error);  // longer than nvarchar(3)
  writer.AddText("abc");
  CHECK_THROWS_AS(writer.AddNull(), std::logic_error);  // too many values
  writer.EndRow();
  writer.BeginRow();
  writer.AddInt(2);
  CHECK_THROWS_AS(writer.EndRow(), std::logic_error);  // too few values
}

TEST_CASE("fn_dblog query parser: the live reader's query") {
  auto parsed = replay::ParseFnDblogQuery(
      "SELECT TOP (50000) [Current LSN], [Operation], [Context], [Transaction ID], [Log Record Length],\n"
      "       [AllocUnitId], [PartitionId], [Page ID], [Slot ID], [Log Record]\n"
      "FROM sys.fn_dblog(N'0x00000025:00000010:0001', NULL)");
  REQUIRE(std::holds_alternative<replay::FnDblogQuery>(parsed));
  auto& q = std::get<replay::FnDblogQuery>(parsed);
  CHECK(q.top == 50000u);
  CHECK(q.columns.size() == 10);
  CHECK(q.columns[9] == replay::LogColumn::kLogRecord);
  REQUIRE(q.start);
  CHECK(*q.start == logreader::Lsn(0x25, 0x10, 1));
  CHECK_FALSE(q.end);
}

TEST_CASE("fn_dblog query parser: bare names, TOP n, DEFAULT, decimal and numeric LSNs, comments") {
  auto parsed = replay::ParseFnDblogQuery(
      "select top 3 operation, [Slot ID] -- comment\n from fn_dblog('37:16:2', '37000000002400001') /* x */;");
  REQUIRE(std::holds_alternative<replay::FnDblogQuery>(parsed));
  auto& q = std::get<replay::FnDblogQuery>(parsed);
  CHECK(q.top == 3u);
  CHECK(q.column_names[0] == "operation");
  CHECK(q.columns[0] == replay::LogColumn::kOperation);
  CHECK(*q.start == logreader::Lsn(37, 16, 2));
  CHECK(*q.end == logreader::Lsn(37, 24, 1));

  auto d = replay::ParseFnDblogQuery("SELECT [Operation] FROM sys.fn_dblog(DEFAULT, DEFAULT)");
  REQUIRE(std::holds_alternative<replay::FnDblogQuery>(d));
  CHECK_FALSE(std::get<replay::FnDblogQuery>(d).start);
}

TEST_CASE("fn_dblog query parser: errors carry SQL Server numbers") {
  auto number = [](std::string_view sql) {
    auto parsed = replay::ParseFnDblogQuery(sql);
    return std::holds_alternative<replay::QueryError>(parsed) ? std::get<replay::QueryError>(parsed).number : 0;
  };
  CHECK(number("SELECT [Nope] FROM fn_dblog(NULL, NULL)") == 207);
  CHECK(number("SELECT [Operation] FROM sys.fn_dblogx(NULL, NULL)") == 208);
  CHECK(number("SELECT [Operation] FROM fn_dblog(NULL)") == 174);
  CHECK(number("SELECT [Operation] FROM fn_dblog(NULL, NULL) WHERE 1=1") == 102);
  CHECK(number("SELECT [Operation], FROM fn_dblog(NULL, NULL)") == 102);
  CHECK(number("SELECT [Operation FROM fn_dblog(NULL, NULL)") == 105);
  CHECK(number("SELECT [Operation] FROM fn_dblog('zz', NULL)") == 9005);
  CHECK(number("SELECT TOP (x) [Operation] FROM fn_dblog(NULL, NULL)") == 102);
  auto e = std::get<replay::QueryError>(replay::ParseFnDblogQuery("SELECT [Bogus] FROM fn_dblog(NULL, NULL)"));
  CHECK(e.message == "Invalid column name 'Bogus'.");
}
