#pragma once
// The composition root: every part of a backfill built from one
// configuration and owned in one place — HTTP clients, rate limiters,
// fetchers, the resolver, the exporter with its sink and state store, the
// pipeline and the work loop — for `bsky-backfill run` ("until this intake
// is drained"), the daemon ("until stopped") and tests alike.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "backfill/pipeline.hpp"
#include "backfill/runner.hpp"
#include "config/config.hpp"
#include "report/report.hpp"
#include "schedule/work_loop.hpp"

namespace bsky::metrics {
class registry;
}
namespace bsky::ops {
class status_monitor;
}

namespace bsky::service {

/// @par Thread Safety
/// Not thread-safe: construct, use and destroy it on the event loop's thread.
/// Destroy it only after its run_*() coroutines have returned.
class backfill_service {
public:
    /// Throws at start-up: a CA file that cannot be loaded, a state directory
    /// in use by another process, an output kind not built in.
    backfill_service(boost::asio::any_io_executor executor, const config::config& cfg, log::logger& logger,
                     metrics::registry* registry = nullptr);
    ~backfill_service();

    /// Intake and reports go through the exporter (it owns the state store).
    exporter::exporter& exporter() noexcept;
    const backfill::pipeline_progress& progress() const noexcept;

    /// Works through a stored batch until each of its DIDs has ended (recovering
    /// an interrupted earlier run first); returns total_batches as the original
    /// service counted them.
    boost::asio::awaitable<std::size_t> run_batch(std::int64_t batch, std::size_t dids_per_batch);
    /// A short list held in memory (tests, embedding): recorded as one batch, every outcome reported.
    boost::asio::awaitable<backfill::run_report> run_dids(std::vector<std::string> dids, std::size_t dids_per_batch,
                                                          std::string source);
    /// Works through every unfinished DID of every batch, and the ones added
    /// later (wake()), until stop() or abandon().
    boost::asio::awaitable<void> run_forever();
    /// The same, over the DIDs `source` hands out (the NATS work stream's deliveries).
    boost::asio::awaitable<void> run_forever(schedule::did_source source);

    /// New DIDs were recorded (a spool file).
    void wake();
    /// Takes no new DIDs; the run_*() coroutine returns once in-flight DIDs end.
    void stop();
    /// stop(), and cancels in-flight DIDs: they return to pending at the next start.
    void abandon();
    /// A reloaded configuration, for work that starts after it: record types, time
    /// range and mode, format, batch size, rate limits and caps, retries, timeouts,
    /// size limits, allow_private_addresses, the look-ahead. The keys
    /// config::keys_needing_restart names are not applied.
    void apply(const config::config& cfg);

    /// Called with each DID's outcome as it ends.
    void on_outcome(std::function<void(backfill::did_outcome&&)> callback);

    struct snapshot_t {
        std::size_t resolving = 0, waiting = 0, in_flight = 0, hosts = 0;
    };
    snapshot_t snapshot() const;
    /// The PDS hosts the rate limiter holds now (the busiest, then "other"), for the status page.
    std::vector<report::live_host> host_status();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The state-store gauges, /healthz (loop alive, output and state
/// directories writable) and /status.json for `service`; run() it on the loop.
std::unique_ptr<ops::status_monitor> make_status_monitor(backfill_service& service, metrics::registry& registry,
                                                         const config::config& cfg);

}  // namespace bsky::service
