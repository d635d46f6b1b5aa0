// Not a test: measures how fast a db-lib loop reads an fn_dblog result (e.g. from tds-replay).
//   tds_replay_bench PORT [PACKET_SIZE]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "sqltail/tds/connection.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tds_replay_bench PORT [PACKET_SIZE]\n");
    return 2;
  }
  sqltail::tds::ConnectOptions o;
  o.port = static_cast<uint16_t>(std::atoi(argv[1]));
  o.user = "sqltail";
  o.password = "x";
  o.database = "source_db";
  o.encryption = "off";
  if (argc > 2) o.packet_size = std::atoi(argv[2]);
  try {
    auto c = sqltail::tds::Connection::Connect(o);
    const auto start = std::chrono::steady_clock::now();
    uint64_t rows = 0, bytes = 0;
    auto err = c.Execute(
        "SELECT [Current LSN], [Operation], [Context], [Transaction ID], [Log Record Length], [AllocUnitId], "
        "[PartitionId], [Page ID], [Slot ID], [Log Record] FROM sys.fn_dblog(NULL, NULL)",
        [&](const sqltail::tds::Row& row) {
          ++rows;
          bytes += row.Text(0).size() + row.Bytes(9).size();
          return true;
        });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (err) {
      std::fprintf(stderr, "%s\n", err->ToString().c_str());
      return 1;
    }
    std::printf("%llu rows (%llu bytes of LSN + Log Record) in %.3f s = %.0f rows/s\n",
                static_cast<unsigned long long>(rows), static_cast<unsigned long long>(bytes), s, rows / s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
