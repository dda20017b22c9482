#pragma once
// The continuous work loop of `run` and the daemon: DIDs read ahead from the
// state store in bounded chunks, resolved ahead (a bounded window of lookups
// overlapping the fetches), queued per PDS host, and started by the
// host_scheduler as soon as their host can take them. No batch barrier: a
// paused or slow host, or a giant repo, holds only its own slots.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "backfill/pipeline.hpp"
#include "backfill/runner.hpp"
#include "schedule/host_scheduler.hpp"

namespace bsky::rate {
class host_limiter;
}

namespace bsky::schedule {

/// A DID waiting in the state store, at its input position.
struct queued_did {
    std::int64_t batch = 0;
    std::int64_t seq = 0;
    std::string did;
};

/// The next unfinished DIDs after a position, in input order (at most `limit`).
using did_source = std::function<boost::asio::awaitable<std::vector<queued_did>>(std::int64_t after_batch, std::int64_t after_seq,
                                                                                 std::size_t limit)>;

struct loop_params {
    scheduler_params scheduling;
    std::size_t lookups_in_flight = 16;  ///< DID documents fetched ahead at once (the PLC's own limiter paces them)
    std::size_t read_ahead = 1000;       ///< DIDs read from the state store at a time
};

/// @par Thread Safety
/// Not thread-safe: runs on the event loop thread with the pipeline it drives.
class work_loop {
public:
    work_loop(backfill::pipeline& pipeline, resolve::resolver& resolver, rate::host_limiter& pds_limiter, log::logger& logger,
              loop_params params);
    ~work_loop();

    /// Works through `source`. With `until_drained`, returns once the source has
    /// no more DIDs and every DID taken has ended; otherwise keeps waiting for new
    /// DIDs (wake()) until stop(). Either way returns only when nothing it started runs.
    boost::asio::awaitable<void> run(did_source source, bool until_drained);

    /// New DIDs may be in the state store.
    void wake();
    /// Takes no new DIDs; run() returns when the DIDs in flight have ended.
    /// DIDs read ahead but not started stay pending in the state store.
    void stop();
    /// stop(), and cancels the DIDs in flight: they stay `running` in the state
    /// store, which recovery returns to `pending` (staged rows discarded).
    void abandon();
    /// Applies from the next decision on (config reload).
    void set_params(loop_params params);

    /// Called with each DID's outcome as it ends.
    std::function<void(backfill::did_outcome&&)> on_outcome;

    struct snapshot_t {
        std::size_t resolving = 0, waiting = 0, in_flight = 0, hosts = 0;
    };
    snapshot_t snapshot() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Works through a stored batch until each of its DIDs has ended, skipping those
/// already final; memory stays bounded however long the list is. Returns the
/// batch's number of DID batches as the original service counted them
/// (ceil(DIDs / dids_per_batch)): `dids_per_batch` never makes work wait.
boost::asio::awaitable<std::size_t> run_stored_batch(work_loop& loop, exporter::exporter& exporter, std::int64_t batch,
                                                     std::size_t dids_per_batch);

/// The in-memory form for short lists (tests, embedding): records the DIDs as
/// one batch and reports every DID's outcome in input order.
boost::asio::awaitable<backfill::run_report> run_dids(work_loop& loop, exporter::exporter& exporter, std::vector<std::string> dids,
                                                      std::size_t dids_per_batch, std::string source);

}  // namespace bsky::schedule
