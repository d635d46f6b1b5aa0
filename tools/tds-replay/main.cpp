// tds-replay: a TDS 7.4 server answering sqltail's queries from a fixture directory.
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "sqltail/replay/fixture_query_handler.h"
#include "sqltail/tds/server.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string fixture, user, password, record, listen, tls_cert, tls_key, encryption;
  int batch_delay_ms = 0;
  int drop_after_batches = 0;
  int log_growth_rows_per_s = 0;
  int drop_holder_after_checks = 0;
  int port = 14330;
  po::options_description options("tds-replay --fixture DIR --port P [options]");
  options.add_options()                                                                                       //
      ("help,h", "show this help")                                                                            //
      ("fixture", po::value(&fixture)->required(), "fixture directory (catalog.json, log.jsonl)")             //
      ("port", po::value(&port)->default_value(14330), "TCP port; 0 picks a free one (printed)")              //
      ("listen", po::value(&listen)->default_value("127.0.0.1"), "address to listen on")                      //
      ("user", po::value(&user), "accept only this login name (default: any)")                                //
      ("password", po::value(&password), "accept only this password (default: any)")                          //
      ("record-batches", po::value(&record), "append every received SQL batch to FILE as a JSON line")        //
      ("batch-delay-ms", po::value(&batch_delay_ms)->default_value(0), "stall this long before each answer")  //
      ("drop-after-batches", po::value(&drop_after_batches)->default_value(0),
       "fault: close the connection halfway through every N-th fn_dblog/fn_dump_dblog answer")  //
      ("tls-cert", po::value(&tls_cert),
       "PEM certificate (chain) for TLS; with --tls-key the server supports encryption")  //
      ("tls-key", po::value(&tls_key), "PEM private key of --tls-cert")                   //
      ("encryption", po::value(&encryption),
       "what PRELOGIN answers, as SQL Server's settings would: off (the default with a certificate: only the LOGIN7 "
       "packet is encrypted unless the client asks for more), on (everything encrypted), required (everything "
       "encrypted, clients without TLS refused); without a certificate: not-supported")  //
      ("log-growth-rows-per-s", po::value(&log_growth_rows_per_s)->default_value(0),
       "a growing log: the fixture's rows appear at this rate, up to a commit (0: all at once)")  //
      ("drop-holder-after-checks", po::value(&drop_holder_after_checks)->default_value(0),
       "fault: close the session of the N-th SELECT @@TRANCOUNT from a session holding a safeguard "
       "transaction (once)")  //
      ("verbose,v", "log every connection");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    po::notify(vm);
    if (port < 0 || port > 65535) throw po::error("--port must be 0..65535");
    if (drop_after_batches < 0) throw po::error("--drop-after-batches must be 0 or more");
    if (tls_cert.empty() != tls_key.empty()) throw po::error("--tls-cert and --tls-key go together");
    if (encryption.empty()) encryption = tls_cert.empty() ? "not-supported" : "off";
    const auto parsed = sqltail::tds::ParseEncryption(encryption);
    if (!parsed) throw po::error("--encryption must be off, on, required or not-supported, not '" + encryption + "'");
    if ((*parsed == sqltail::tds::Encryption::kNotSupported) != tls_cert.empty()) {
      throw po::error(tls_cert.empty() ? "--encryption " + encryption + " needs --tls-cert and --tls-key"
                                       : "--encryption not-supported contradicts --tls-cert");
    }
    if (log_growth_rows_per_s < 0 || drop_holder_after_checks < 0)
      throw po::error("--log-growth-rows-per-s and --drop-holder-after-checks must be 0 or more");
  } catch (const po::error& e) {
    std::cerr << "tds-replay: " << e.what() << "\n" << options << "\n";
    return 2;
  }

  // Logs go to stderr: stdout carries only the "serving" line scripts wait for.
  spdlog::set_default_logger(spdlog::stderr_color_mt("tds-replay"));
  spdlog::set_level(vm.count("verbose") ? spdlog::level::debug : spdlog::level::info);

  // Block the stop signals in every thread (threads inherit the mask) and wait for them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    sqltail::replay::FixtureOptions fixture_options;
    fixture_options.record_batches_path = record;
    fixture_options.batch_delay_ms = batch_delay_ms;
    fixture_options.drop_after_batches = drop_after_batches;
    fixture_options.log_growth_rows_per_s = log_growth_rows_per_s;
    fixture_options.drop_holder_after_checks = drop_holder_after_checks;
    sqltail::replay::FixtureQueryHandler handler(fixture, fixture_options);

    sqltail::tds::ServerOptions server_options;
    server_options.listen_address = listen;
    server_options.port = static_cast<uint16_t>(port);
    if (vm.count("user")) server_options.user = user;
    if (vm.count("password")) server_options.password = password;
    if (!handler.database().empty()) server_options.database = handler.database();
    if (!handler.server_name().empty()) server_options.server_name = handler.server_name();
    server_options.encryption = *sqltail::tds::ParseEncryption(encryption);
    server_options.tls_cert_file = tls_cert;
    server_options.tls_key_file = tls_key;
    sqltail::tds::Server server(server_options, handler);
    server.Start();
    spdlog::info("loaded {} fn_dblog rows and {} catalog rows from {}", handler.log_row_count(),
                 handler.catalog_row_count(), fixture);
    if (server_options.encryption != sqltail::tds::Encryption::kNotSupported) {
      spdlog::info("TLS with certificate {}; PRELOGIN encryption setting '{}'", tls_cert, encryption);
    }
    std::printf("tds-replay: serving %s on %s:%u\n", fixture.c_str(), listen.c_str(), server.port());
    std::fflush(stdout);

    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("stopping on signal {}", signal);
    server.Stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tds-replay: %s\n", e.what());
    return 1;
  }
  return 0;
}
