// fixture-gen: writes a generated fixture directory (docs/fixture-format.md) for a workload.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "sqltail/fixtures/add_column_workload.h"
#include "sqltail/fixtures/inserts_workload.h"
#include "sqltail/fixtures/mixed_workload.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string workload;
  std::string out_dir;
  uint64_t vlf_size_mb = sqltail::fixtures::kDefaultVlfSizeBytes >> 20;
  sqltail::fixtures::InsertsWorkloadOptions options;
  sqltail::fixtures::MixedWorkloadOptions mixed;

  po::options_description described("fixture-gen: generate a SQL Server log fixture for a workload");
  described.add_options()("help,h", "show this help")(
      "workload", po::value(&workload)->required(),
      "workload to generate: inserts | updates (inserts, then UPDATEs, DELETEs and rolled-back UPDATEs) | mixed "
      "(three tables of many types, overlapping transactions) | add-column (rows INSERTs, ALTER TABLE ADD qty int NULL "
      "inside a transaction, rows more INSERTs)")("rows", po::value(&options.rows),
                                                  "inserts, updates: number of rows to insert (ids 0..rows-1)")(
      "transactions", po::value(&mixed.transactions), "mixed: number of transactions")(
      "seed", po::value(&options.seed)->default_value(1), "seed: same seed, byte-identical files")(
      "rows-per-transaction", po::value(&options.rows_per_transaction)->default_value(1),
      "rows per transaction (1 = autocommit INSERTs)")("updates", po::value(&options.updates)->default_value(0),
                                                       "updates workload: autocommit UPDATEs of [text]")(
      "deletes", po::value(&options.deletes)->default_value(0), "updates workload: autocommit DELETEs")(
      "rollbacks", po::value(&options.rollbacks)->default_value(1),
      "updates workload: BEGIN TRAN; UPDATE; ROLLBACK transactions")(
      "savepoints", po::value(&options.savepoints)->default_value(0),
      "updates workload: BEGIN TRAN; UPDATE; SAVE TRAN; UPDATE; DELETE; ROLLBACK TRAN to the savepoint; COMMIT")(
      "vlf-size-mb", po::value(&vlf_size_mb)->default_value(vlf_size_mb), "size of each virtual log file")(
      "out", po::value(&out_dir)->required(), "output directory");

  try {
    po::variables_map variables;
    po::store(po::parse_command_line(argc, argv, described), variables);
    if (variables.count("help")) {
      std::cout << described << "\n";
      return 0;
    }
    po::notify(variables);
    if (workload == "mixed") {
      if (variables.count("rows") || !variables.count("transactions")) {
        std::cerr << "fixture-gen: --workload mixed takes --transactions, not --rows\n";
        return 2;
      }
    } else if (!variables.count("rows")) {
      std::cerr << "fixture-gen: --workload " << workload << " needs --rows\n";
      return 2;
    }
    if (workload == "mixed") {
    } else if (workload == "inserts") {
      if (options.updates + options.deletes + options.savepoints > 0) {
        std::cerr << "fixture-gen: --updates, --deletes and --savepoints belong to --workload updates\n";
        return 2;
      }
      options.rollbacks = 0;
    } else if (workload != "updates" && workload != "add-column") {
      std::cerr << "fixture-gen: unknown workload '" << workload << "' (known: inserts, updates, mixed, add-column)\n";
      return 2;
    }
    options.vlf_size_bytes = vlf_size_mb << 20;
    mixed.seed = options.seed;
    mixed.vlf_size_bytes = options.vlf_size_bytes;
  } catch (const po::error& error) {
    std::cerr << "fixture-gen: " << error.what() << "\n" << described << "\n";
    return 2;
  }

  try {
    auto started = std::chrono::steady_clock::now();
    sqltail::fixtures::FixtureSummary summary;
    if (workload == "mixed") {
      summary = sqltail::fixtures::WriteMixedFixture(mixed, out_dir);
    } else if (workload == "add-column") {
      summary = sqltail::fixtures::WriteAddColumnFixture({options.rows, true}, out_dir);
    } else {
      summary = sqltail::fixtures::WriteInsertsFixture(options, out_dir);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(
        stderr,
        "fixture-gen: %llu rows, %llu updates (%llu multi-region), %llu deletes, %llu transactions, %llu page splits, "
        "%llu log "
        "records (%s .. %s) "
        "in %.2f s -> %s\n",
        static_cast<unsigned long long>(summary.rows), static_cast<unsigned long long>(summary.updates),
        static_cast<unsigned long long>(summary.multi_region_updates), static_cast<unsigned long long>(summary.deletes),
        static_cast<unsigned long long>(summary.transactions), static_cast<unsigned long long>(summary.page_splits),
        static_cast<unsigned long long>(summary.log_records), summary.first_lsn.ToString().c_str(),
        summary.last_lsn.ToString().c_str(), seconds, out_dir.c_str());
  } catch (const std::exception& error) {
    std::cerr << "fixture-gen: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
