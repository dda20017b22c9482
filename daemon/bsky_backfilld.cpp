// bsky-backfilld: the long-running service. Wiring only: arguments, config,
// signals and systemd notification; the work lives in lib/.
#include "common.hpp"
#include "config/config.hpp"
#include "service/daemon_runtime.hpp"

#include <boost/asio/io_context.hpp>

#include <csignal>

#include <pthread.h>
#include <cstdio>
#include <memory>

namespace net = boost::asio;
using namespace bsky;

namespace {

constexpr const char* usage_text =
    "usage: bsky-backfilld --config FILE\n"
    "\n"
    "Backfills Bluesky / AT Protocol repos for the DID lists dropped into the\n"
    "configured spool directory (spool_dir): one file per list, .txt, .csv or\n"
    ".jsonl; results appear in spool_dir/finished/. SIGHUP reloads the config\n"
    "(limits, types, time range, retries apply to DIDs that start afterwards);\n"
    "SIGTERM lets DIDs in flight finish (stop_timeout_seconds), then stops.\n"
    "\n"
    "options (default, then an example):\n"
    "  --config FILE   YAML configuration (/etc/bsky-backfill/config.yaml)  --config /srv/backfill/config.yaml\n"
    "  --check-config  validate the configuration, print the result and exit (off)  --check-config --config new.yaml\n"
    "  --help          this text\n"
    "  --version       print the version\n"
    "\n"
    "Everything else (spool_dir, state_dir, output, metrics.listen, rate limits)\n"
    "is set in the configuration file: see config.example.yaml and operations.md\n"
    "(installed in share/doc/bsky-backfill; in the source, config/ and docs/).\n";

int run(int argc, char** argv) {
    std::filesystem::path config_path = "/etc/bsky-backfill/config.yaml";
    bool check_only = false;
    daemon::arg_cursor args(argc, argv, 1);
    while (!args.done()) {
        if (args.take("--help") || args.take("-h")) {
            std::fputs(usage_text, stdout);
            return 0;
        }
        if (args.take("--version")) {
            std::printf("bsky-backfilld %s\n", BSKY_VERSION);
            return 0;
        }
        if (args.take("--config")) config_path = args.value();
        else if (args.take("--check-config")) check_only = true;
        else throw daemon::usage_error{"unknown argument '" + std::string(args.peek()) + "'"};
    }

    auto& logger = daemon::stderr_logger();
    std::shared_ptr<const config::config> cfg;
    try {
        cfg = std::make_shared<const config::config>(config::load_file(config_path));
    } catch (const config::config_error& e) {
        logger.error("{}", e.what());
        return 1;
    }
    logger.set_level(cfg->log_level);
    if (check_only) {
        std::printf("%s: configuration is valid\n", config_path.string().c_str());
        return 0;
    }

    net::io_context io;
    service::daemon_runtime runtime(io, config_path, *cfg, logger);
    int status = runtime.run();
    // The daemon is stopping already: a stop signal that comes while the runtime
    // is torn down (its signal set gone, the default action back) must not turn
    // the exit status into 143. Blocked, it stays pending until the process ends.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop_signals, s);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    // A peer that closes mid-write is an error code on the socket, not a reason to die.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const daemon::usage_error& e) {
        std::fprintf(stderr, "bsky-backfilld: %s (see --help)\n", e.message.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bsky-backfilld: fatal: %s\n", e.what());
        return 1;
    }
}
