#pragma once
// The backfill of one DID, end to end, and of many at once: resolve, fetch
// politely, stream the CAR through the repo reader, classify, filter and
// transform each record, and stage batches with the exporter; commit only
// when the whole repo was read and verified.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "backfill/classify.hpp"
#include "export/exporter.hpp"
#include "log/log.hpp"
#include "metrics/registry.hpp"
#include "net/fetcher.hpp"
#include "resolve/resolver.hpp"
#include "state/state_store.hpp"

namespace bsky::backfill {

struct pipeline_params {
    std::set<std::string> record_types{"block", "follow", "like", "post", "reply", "repost"};
    time_range range{};
    bool filter_by_time = false;  ///< time_range.mode: filter (follows are always kept)
    bool pipeline_format = true;  ///< false: raw
    std::size_t batch_size = 50;  ///< records per queue row
    bool verify_signatures = true;
    std::uint64_t spill_threshold_bytes = 64ull << 20;
    std::filesystem::path spill_dir;
    std::uint64_t max_car_bytes = 4ull << 30;
    std::uint64_t max_block_bytes = 2ull << 20;
    std::uint32_t max_cbor_depth = 64;
    /// Formatted batches of one DID waiting for the exporter before the walk
    /// is held (a fixed allowance per DID in flight, on top of the spill threshold).
    std::size_t max_waiting_export_bytes = 4u << 20;
};

struct did_outcome {
    std::string did;
    state::did_status status = state::did_status::failed;
    std::string error;
    std::map<std::string, std::uint64_t> counts;  ///< exported records per type
    std::uint64_t skipped = 0, invalid = 0, filtered = 0, bytes = 0;
    std::string rev, pds;
    double seconds = 0;
};

/// Live totals for progress lines and metrics.
struct pipeline_progress {
    std::atomic<std::uint64_t> dids_finished{0};
    std::atomic<std::uint64_t> records{0};
    std::atomic<std::uint64_t> bytes{0};
    /// The longest the event loop spent parsing one body chunk, in microseconds.
    std::atomic<std::int64_t> longest_parse_slice_us{0};
};

/// @par Thread Safety
/// Not thread-safe: runs on the event loop thread.
class pipeline {
public:
    pipeline(net::fetcher& pds_fetcher, resolve::resolver& resolver, exporter::exporter& exporter, pipeline_params params,
             log::logger& logger);

    /// Backfills one DID (already recorded in the state store) to a final state.
    boost::asio::awaitable<did_outcome> backfill(std::string did);
    /// The same for a DID whose document was looked up ahead (the work loop resolves ahead).
    boost::asio::awaitable<did_outcome> backfill(std::string did, resolve::resolution resolution);

    void set_params(pipeline_params params) { params_ = std::move(params); }
    const pipeline_progress& progress() const noexcept { return progress_; }

    /// Counts DIDs by final state, records by type, skipped records by reason
    /// and repo bytes into `registry` (which must outlive the pipeline's work).
    void attach_metrics(metrics::registry& registry);

private:
    void count_outcome(const did_outcome& out);

    struct counters {
        metrics::family* dids = nullptr;       ///< {state}
        metrics::family* in_flight = nullptr;
        metrics::family* records = nullptr;    ///< {type}
        metrics::family* skipped = nullptr;    ///< {reason}
        metrics::family* bytes = nullptr;
    } metrics_;

    net::fetcher& fetcher_;
    resolve::resolver& resolver_;
    exporter::exporter& exporter_;
    pipeline_params params_;
    log::logger& logger_;
    pipeline_progress progress_;
};

/// The counts map as JSON: {"post":3,...}.
std::string counts_json(const std::map<std::string, std::uint64_t>& counts);

}  // namespace bsky::backfill
