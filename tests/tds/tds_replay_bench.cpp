// Not a test: how fast the log is read from a TDS server (e.g. tds-replay), two ways over the same
// batches (TOP (batch) of the reader's fn_dblog columns, each batch starting at the last LSN of the
// one before, as LogReader asks):
//   bare    a db-lib loop that only touches each row's LSN text and [Log Record] bytes: the physical
//           limit of this path;
//   reader  the capture's reader: the live source, ParseLogRecord and the TransactionAssembler
//           (transactions assembled and committed, no Kafka).
//   tds_replay_bench PORT bare|reader [BATCH_ROWS] [PACKET_SIZE] [IMAGE_CACHE_ROWS]
// (IMAGE_CACHE_ROWS: capture.image_cache_rows for the reader, default 100000; 0 measures the
// reader without the update resolver's cache.)
// Prints one line: mode, rows, seconds, rows/s (and transactions for reader).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sqltail/logreader/live_source.h"
#include "sqltail/logreader/log_reader.h"
#include "sqltail/tds/connection.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The bare loop: the same queries as the reader, LSN text and record bytes touched, nothing parsed
// but the LSN that starts the next batch.
int RunBare(const sqltail::tds::ConnectOptions& options, size_t batch_rows) {
  auto connection = sqltail::tds::Connection::Connect(options);
  const auto start = Clock::now();
  uint64_t rows = 0, bytes = 0;
  sqltail::logreader::Lsn from;
  std::string last_text;
  int record_column = -1;  // by name, once, as the reader finds it
  bool first = true;
  for (;;) {
    size_t batch = 0;
    auto error = connection.Execute(sqltail::logreader::FnDblogQuery(from, batch_rows + (first ? 0 : 1)),
                                    [&](const sqltail::tds::Row& row) {
                                      if (record_column < 0) record_column = row.ColumnIndex("Log Record");
                                      const std::string_view lsn = row.Text(0);
                                      bytes += lsn.size() + row.Bytes(record_column).size();
                                      last_text.assign(lsn);
                                      ++batch;
                                      return true;
                                    });
    if (error) {
      std::fprintf(stderr, "%s\n", error->ToString().c_str());
      return 1;
    }
    rows += first ? batch : (batch > 0 ? batch - 1 : 0);  // the first row repeats the last one read
    if (batch <= (first ? 0U : 1U)) break;
    const auto next = sqltail::logreader::Lsn::Parse(last_text);
    if (!next) {
      std::fprintf(stderr, "bad LSN %s\n", last_text.c_str());
      return 1;
    }
    from = *next;
    first = false;
  }
  const double s = Seconds(start);
  std::printf("bare: %llu rows (%llu bytes of LSN + Log Record) in %.3f s = %.0f rows/s\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(bytes), s, rows / s);
  return 0;
}

int RunReader(const sqltail::tds::ConnectOptions& options, size_t batch_rows,
              sqltail::logreader::UpdateResolverLimits image_cache) {
  auto source = sqltail::logreader::OpenLiveSource(options);
  sqltail::logreader::Catalog catalog;
  std::string error;
  if (!source->ReadCatalog(catalog, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  uint64_t transactions = 0, changes = 0;
  sqltail::logreader::LogReader reader(
      *source, catalog,
      [&](const sqltail::logreader::CommittedTransaction& txn, std::string&) {
        ++transactions;
        changes += txn.changes.size();
        return true;
      },
      image_cache);
  const auto start = Clock::now();
  uint64_t rows = 0;
  for (;;) {
    size_t batch = 0;
    if (!reader.Poll(batch_rows, batch, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    if (batch == 0) break;
    rows += batch;
  }
  const double s = Seconds(start);
  std::printf("reader: %llu rows (%llu transactions, %llu changes) in %.3f s = %.0f rows/s\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(transactions),
              static_cast<unsigned long long>(changes), s, rows / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::strcmp(argv[2], "bare") != 0 && std::strcmp(argv[2], "reader") != 0)) {
    std::fprintf(stderr, "usage: tds_replay_bench PORT bare|reader [BATCH_ROWS] [PACKET_SIZE] [IMAGE_CACHE_ROWS]\n");
    return 2;
  }
  sqltail::tds::ConnectOptions options;
  options.port = static_cast<uint16_t>(std::atoi(argv[1]));
  options.user = "sqltail";
  options.password = "x";
  options.database = "source_db";
  options.encryption = "off";
  const size_t batch_rows = argc > 3 ? static_cast<size_t>(std::atol(argv[3])) : 50000;
  if (argc > 4 && std::atoi(argv[4]) > 0) options.packet_size = std::atoi(argv[4]);
  sqltail::logreader::UpdateResolverLimits image_cache;
  if (argc > 5) image_cache.max_rows = static_cast<size_t>(std::atol(argv[5]));
  try {
    return std::strcmp(argv[2], "bare") == 0 ? RunBare(options, batch_rows)
                                             : RunReader(options, batch_rows, image_cache);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
