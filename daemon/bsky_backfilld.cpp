// bsky-backfilld: the long-running service. Wiring only: arguments, config,
// signals and systemd notification; the work lives in lib/.
#include "common.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"
#include "ops/metrics_server.hpp"
#include "ops/sd_notify.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <memory>

namespace net = boost::asio;
using namespace bsky;

namespace {

constexpr const char* usage_text =
    "usage: bsky-backfilld --config FILE\n"
    "\n"
    "Backfills Bluesky / AT Protocol repos for the DID lists dropped into the\n"
    "configured spool directory. SIGHUP reloads the config; SIGTERM stops.\n"
    "\n"
    "options:\n"
    "  --config FILE   YAML configuration (default /etc/bsky-backfill/config.yaml)\n"
    "  --check-config  validate the configuration, print the result and exit\n"
    "  --help          this text\n"
    "  --version       print the version\n";

struct supervisor {
    net::io_context& io;
    std::filesystem::path config_path;
    std::shared_ptr<const config::config> current;
    log::logger& logger;
    metrics::family& reloads;
    ops::metrics_server* metrics_server = nullptr;

    // Owns the signals for the life of the process: SIGHUP swaps the config,
    // SIGTERM/SIGINT end the loop (and with it io.run()).
    net::awaitable<void> run_signals() {
        net::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
        for (;;) {
            int signo = co_await signals.async_wait(net::use_awaitable);
            if (signo == SIGHUP) {
                reload();
                continue;
            }
            logger.info("received {}, stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
            ops::sd_notify("STOPPING=1");
            if (metrics_server) metrics_server->stop();
            io.stop();
            co_return;
        }
    }

    void reload() {
        ops::sd_notify("RELOADING=1");
        try {
            auto fresh = std::make_shared<const config::config>(config::load_file(config_path));
            for (const auto& key : config::keys_needing_restart(*current, *fresh))
                logger.warn("config reload: {} changed; it takes effect only after a restart", key);
            logger.set_level(fresh->log_level);
            current = std::move(fresh);
            reloads.add("applied");
            logger.info("config reloaded from {}", config_path.string());
        } catch (const config::config_error& e) {
            reloads.add("rejected");
            logger.error("config reload rejected, keeping the running config: {}", e.what());
        }
        ops::sd_notify("READY=1");
    }

    net::awaitable<void> run_watchdog(std::chrono::microseconds interval) {
        net::steady_timer timer(io);
        for (;;) {
            ops::sd_notify("WATCHDOG=1");
            timer.expires_after(interval / 2);
            co_await timer.async_wait(net::use_awaitable);
        }
    }
};

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
    metrics::registry registry;
    registry.gauge("bsky_build_info", "The running version", "version").set(BSKY_VERSION, 1);
    auto& reloads = registry.counter("bsky_config_reloads_total", "SIGHUP reloads by result", "result");
    // Bound before READY=1: a taken port is a start-up failure systemd can report.
    ops::metrics_server metrics_server(io.get_executor(), cfg->metrics_listen, registry);
    supervisor sup{io, config_path, cfg, logger, reloads, &metrics_server};
    net::co_spawn(io, sup.run_signals(), net::detached);
    auto serve_metrics = [&]() -> net::awaitable<void> { co_await metrics_server.run(); };
    net::co_spawn(io, serve_metrics(), net::detached);
    if (auto usec = ops::watchdog_usec())
        net::co_spawn(io, sup.run_watchdog(std::chrono::microseconds(usec)), net::detached);

    logger.warn("spool intake is not part of this build yet; the daemon only holds its configuration");
    ops::sd_notify("READY=1\nSTATUS=idle");
    logger.info("bsky-backfilld {} started with {}; metrics at http://{}/metrics", BSKY_VERSION, config_path.string(),
                metrics_server.local_address());
    io.run();
    return 0;
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
