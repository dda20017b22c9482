#include "service/daemon_runtime.hpp"

#include "metrics/registry.hpp"
#include "ops/metrics_server.hpp"
#include "ops/sd_notify.hpp"
#include "ops/status_monitor.hpp"
#include "schedule/task_group.hpp"
#include "service/backfill_service.hpp"
#include "service/nats_intake.hpp"
#include "spool/spool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <cstdlib>
#include <string>

namespace bsky::service {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct daemon_runtime::impl {
    impl(asio::io_context& io_, std::filesystem::path path, config::config c, log::logger& log)
        : io(io_),
          config_path(std::move(path)),
          cfg(std::move(c)),
          logger(log),
          watched(io_, SIGHUP, SIGTERM, SIGINT),
          reloads(registry.counter("bsky_config_reloads_total", "SIGHUP reloads by result", "result")),
          metrics_server(io.get_executor(), cfg.metrics_listen, registry),
          backfill(io.get_executor(), cfg, logger, &registry),
          spool(io.get_executor(), backfill.exporter(), {.dir = cfg.spool_dir, .batch_size = cfg.output.batch_size}, logger),
          tasks(logger),
          monitor(make_status_monitor(backfill, registry, cfg)) {
        registry.gauge("bsky_build_info", "The running version", "version").set(BSKY_VERSION, 1);
        if (cfg.intake == config::intake_kind::nats)
            work_stream = std::make_unique<nats_intake>(io.get_executor(), backfill.exporter(), cfg.output.nats,
                                                        2 * cfg.rate_limits.max_concurrent_fetches, logger);
        monitor->serve_on(metrics_server);
    }

    asio::io_context& io;
    std::filesystem::path config_path;
    config::config cfg;
    log::logger& logger;
    // Made first and gone last: a signal from the start of the constructor to
    // the end of the destructors (sinks flushed, store closed) is handled,
    // never the default action that would end the process mid-way with 143.
    asio::signal_set watched;
    metrics::registry registry;  // before the parts that publish into it
    metrics::family& reloads;
    ops::metrics_server metrics_server;
    backfill_service backfill;
    spool::spool_intake spool;
    std::unique_ptr<nats_intake> work_stream;  ///< intake.kind nats: DIDs from NATS instead of the spool
    schedule::task_group tasks;
    std::unique_ptr<ops::status_monitor> monitor;  // reads through backfill's exporter
    bool stopping = false, work_ended = false, results_due = false;
    std::string failure;  ///< what made the work loop or the intake fail: the exit is then non-zero
    asio::signal_set* signals = nullptr;

    void reload() {
        ops::sd_notify("RELOADING=1");
        try {
            auto fresh = config::load_file(config_path);
            auto restart_only = config::keys_needing_restart(cfg, fresh);
            if (!restart_only.empty()) {
                std::string keys;
                for (const auto& k : restart_only) keys += (keys.empty() ? "" : ", ") + k;
                logger.warn("config reload: {} changed; these take effect only after a restart, the rest applies now", keys);
            }
            backfill.apply(fresh);
            spool.set_batch_size(fresh.output.batch_size);
            logger.set_level(fresh.log_level);
            cfg = std::move(fresh);
            reloads.add("applied");
            logger.info("config reloaded from {}: new limits, types, time range and retries apply to DIDs that start from now on",
                        config_path.string());
        } catch (const config::config_error& e) {
            reloads.add("rejected");
            logger.error("config reload rejected, keeping the running config: {}", e.what());
        }
        ops::sd_notify("READY=1");
    }

    // The first stop signal drains; the deadline or a second signal abandons.
    void begin_stop(asio::steady_timer& deadline) {
        stopping = true;
        ops::sd_notify("STOPPING=1");
        spool.stop();
        if (work_stream) work_stream->stop();
        backfill.stop();
        deadline.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(cfg.stop_timeout_seconds * 1000)));
        deadline.async_wait([this](boost::system::error_code ec) {
            if (ec || work_ended) return;
            logger.warn("stop: DIDs still in flight after {} s are abandoned; they return to pending at the next start",
                        cfg.stop_timeout_seconds);
            backfill.abandon();
        });
    }

    asio::awaitable<void> watch_signals() {
        asio::steady_timer deadline(io);
        signals = &watched;
        while (!work_ended) {
            auto [ec, signo] = co_await watched.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            if (signo == SIGHUP) {
                reload();
                continue;
            }
            const char* name = signo == SIGTERM ? "SIGTERM" : "SIGINT";
            if (!stopping) {
                logger.info("received {}: taking no new DIDs, finishing those in flight (up to {} s)", name, cfg.stop_timeout_seconds);
                begin_stop(deadline);
            } else {
                logger.warn("received {} again: abandoning the DIDs in flight; they return to pending at the next start", name);
                backfill.abandon();
            }
        }
        signals = nullptr;
        deadline.cancel();
    }

    // Pings come from a timer on the event loop itself: a stalled loop stops them.
    asio::awaitable<void> watchdog(std::chrono::microseconds interval) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (;;) {
            ops::sd_notify("WATCHDOG=1");
            timer.expires_after(interval / 2);
            co_await timer.async_wait(asio::use_awaitable);
        }
    }

    asio::awaitable<void> report_status() {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        auto last = std::chrono::steady_clock::now();
        std::uint64_t last_records = backfill.progress().records.load();
        for (;;) {
            timer.expires_after(5s);
            co_await timer.async_wait(asio::use_awaitable);
            auto now = std::chrono::steady_clock::now();
            auto records = backfill.progress().records.load();
            double rate = static_cast<double>(records - last_records) / std::chrono::duration<double>(now - last).count();
            last = now;
            last_records = records;
            auto s = backfill.snapshot();
            ops::sd_notify("STATUS=" + std::to_string(backfill.progress().dids_finished.load()) + " DIDs ended, " +
                           std::to_string(s.in_flight) + " in flight, " + std::to_string(s.waiting) + " queued, " +
                           std::to_string(static_cast<long long>(rate)) + " records/s");
        }
    }

    // Outcomes come one DID at a time: the finished files are looked for at
    // most four times a second.
    void results_may_be_due() {
        if (results_due) return;
        results_due = true;
        tasks.spawn(io.get_executor(), write_due_results(), "spool results");
    }

    asio::awaitable<void> write_due_results() {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(250ms);
        co_await timer.async_wait(asio::use_awaitable);
        results_due = false;
        co_await spool.check_finished();
    }

    // A work loop or intake that throws ends the daemon with an error, so that
    // systemd restarts it: running on without them would look healthy and do nothing.
    asio::awaitable<void> essential(asio::awaitable<void> work, const char* name) {
        try {
            co_await std::move(work);
        } catch (const boost::system::system_error& e) {
            if (e.code() != asio::error::operation_aborted && failure.empty()) failure = std::string(name) + ": " + e.what();
            throw;
        } catch (const std::exception& e) {
            if (failure.empty()) failure = std::string(name) + ": " + e.what();
            throw;
        }
    }

    asio::awaitable<void> supervise() {
        auto ex = co_await asio::this_coro::executor;
        spool.on_recorded = [this] { backfill.wake(); };
        backfill.on_outcome([this](backfill::did_outcome&& outcome) {
            if (work_stream) work_stream->on_outcome(outcome);
            else results_may_be_due();
        });
        auto work = work_stream ? backfill.run_forever(work_stream->source()) : backfill.run_forever();
        tasks.spawn(ex, essential(std::move(work), "work loop"), "work loop", [this] {
            work_ended = true;
            // Work is over: the others end with it.
            tasks.cancel_all();
            metrics_server.stop();
            monitor->stop();
            if (signals) signals->cancel();
        });
        auto intake_ended = [this] {
            // The work loop's end ends the rest; its DIDs in flight return to pending.
            if (!failure.empty()) backfill.abandon();
        };
        if (work_stream) {
            work_stream->on_recorded = [this] { backfill.wake(); };
            tasks.spawn(ex, essential(work_stream->run(), "NATS intake"), "NATS intake", intake_ended);
        } else {
            tasks.spawn(ex, essential(spool.run(), "spool intake"), "spool intake", intake_ended);
        }
        tasks.spawn(ex, metrics_server.run(), "metrics server");
        tasks.spawn(ex, monitor->run(), "status monitor");
        if (auto usec = ops::watchdog_usec()) tasks.spawn(ex, watchdog(std::chrono::microseconds(usec)), "watchdog");
        tasks.spawn(ex, report_status(), "status");
        ops::sd_notify("READY=1\nSTATUS=started");
        logger.info("bsky-backfilld {} started with {}; metrics at http://{}/metrics and the status page at http://{}/", BSKY_VERSION,
                    config_path.string(), metrics_server.local_address(), metrics_server.local_address());
        co_await watch_signals();
    }
};

daemon_runtime::daemon_runtime(asio::io_context& io, std::filesystem::path config_path, config::config cfg, log::logger& logger)
    : impl_(std::make_unique<impl>(io, std::move(config_path), std::move(cfg), logger)) {}

daemon_runtime::~daemon_runtime() = default;

int daemon_runtime::run() {
    auto& m = *impl_;
    std::exception_ptr failure;
    asio::co_spawn(m.io, m.supervise(), [&](std::exception_ptr e) { failure = e; });
    m.io.run();
    if (failure) std::rethrow_exception(failure);
    if (!m.failure.empty()) {
        m.logger.error("stopping with exit 1 after a failure of the {}; every DID not finished is pending for the next start, "
                       "which recovers what the failure interrupted (under systemd, Restart=on-failure does it)",
                       m.failure);
        return 1;
    }
    m.logger.info("stopped; every DID not finished is pending for the next start");
    return 0;
}

}  // namespace bsky::service
