#pragma once
// Which DID to fetch next, given the hosts' states and the time: the
// decision core of the work loop, with no I/O and the clock passed in.
//
// Resolved DIDs wait in one FIFO queue per PDS host. A host is served when it
// has work, is below its concurrency cap and its gate (the rate limiter: a
// pause after a 429, an empty token bucket) is open; hosts take turns round
// robin, so 10,000 DIDs of one host never starve 10 of another, and a paused,
// throttled or slow host holds none of the slots another host could use.
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace bsky::schedule {

using clock = std::chrono::steady_clock;

struct scheduler_params {
    std::size_t max_in_flight = 32;          ///< DIDs fetching at once, all hosts together
    std::size_t max_in_flight_per_host = 4;  ///< DIDs fetching at once from one host
    std::size_t max_waiting = 10'000;        ///< resolved DIDs queued ahead of the fetches (the look-ahead)
};

struct work_item {
    std::string did;
    std::string host;  ///< the limiter's key of the DID's PDS ("host:port")
};

/// When `host` may be sent its next request (`now` when it may at once).
using host_gate = std::function<clock::time_point(const std::string& host, clock::time_point now)>;

/// @par Thread Safety
/// Not thread-safe: the work loop owns it.
class host_scheduler {
public:
    explicit host_scheduler(scheduler_params params) : params_(params) {}

    /// Takes effect from the next decision on (a config reload).
    void set_params(scheduler_params params) noexcept { params_ = params; }
    const scheduler_params& params() const noexcept { return params_; }

    /// Whether the look-ahead has room for one more resolved DID.
    bool has_room() const noexcept { return waiting_ < params_.max_waiting; }
    void enqueue(work_item item);

    struct decision {
        std::optional<work_item> start;  ///< the DID to start now, if any
        /// Without a start: when a gate opens next (time_point::max() when only
        /// a finishing DID or new work can change the answer).
        clock::time_point retry_at = clock::time_point::max();
    };
    /// Picks the next DID to start; the caller starts it and later calls finished().
    decision next(clock::time_point now, const host_gate& gate);
    /// A DID of `host` started by next() has ended.
    void finished(const std::string& host);

    std::size_t waiting() const noexcept { return waiting_; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    /// Hosts with queued or in-flight DIDs (idle hosts are forgotten).
    std::size_t hosts() const noexcept { return hosts_.size(); }
    std::size_t waiting_for(const std::string& host) const;

private:
    struct host_queue {
        std::deque<std::string> dids;
        std::size_t in_flight = 0;
        bool in_ring = false;
    };
    void forget_if_idle(std::unordered_map<std::string, host_queue>::iterator it);

    scheduler_params params_;
    std::unordered_map<std::string, host_queue> hosts_;
    std::deque<std::string> ring_;  ///< hosts with queued DIDs, in turn order
    std::size_t waiting_ = 0, in_flight_ = 0;
};

}  // namespace bsky::schedule
