#pragma once
// Politeness per host: a token bucket, a cap on concurrent requests, and a
// pause learnt from 429s and RateLimit-* headers; plus a global cap. Waiting
// is done on Asio timers (no sleeping threads, no polling loops).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "metrics/registry.hpp"
#include "rate/rate_headers.hpp"
#include "rate/token_bucket.hpp"

namespace bsky::rate {

struct limiter_params {
    double requests_per_window = 2700;
    double window_seconds = 300;
    double burst = 100;
    std::uint32_t max_concurrent_per_host = 4;
    std::uint32_t max_concurrent_total = 32;
    std::chrono::milliseconds default_pause{60'000};  ///< after a 429 with no usable headers
    /// No pause learnt from a server, and no wait for a server-policy token, is longer.
    std::chrono::milliseconds max_pause{3'600'000};
};

/// @par Thread Safety
/// Not thread-safe: use it from one thread or strand (the event loop).
class host_limiter {
public:
    struct host_state;

    /// Holds one concurrency slot of a host until destroyed.
    class permit {
    public:
        permit() = default;
        permit(permit&& o) noexcept : limiter_(std::exchange(o.limiter_, nullptr)), host_(o.host_) {}
        permit& operator=(permit&& o) noexcept;
        ~permit() { release(); }
        void release() noexcept;
        explicit operator bool() const noexcept { return limiter_ != nullptr; }

    private:
        friend class host_limiter;
        permit(host_limiter* l, host_state* h) : limiter_(l), host_(h) {}
        host_limiter* limiter_ = nullptr;
        host_state* host_ = nullptr;
    };

    host_limiter(boost::asio::any_io_executor executor, limiter_params params);
    ~host_limiter();

    /// Waits until `host` may be sent one more request, then takes a token and a slot.
    /// Throws boost::system::system_error(operation_aborted) when the awaiting coroutine is cancelled.
    boost::asio::awaitable<permit> acquire(std::string host);

    /// Learns from a response: a 429 pauses the host until RateLimit-Reset or
    /// Retry-After (or for the default pause); RateLimit-Remaining 0 pauses it
    /// until the reset; RateLimit-Policy lowers the bucket to the server's rate.
    /// Whatever the values, a pause lasts at most max_pause and a policy's bucket
    /// gives a token at least once per max_pause.
    void observe(const std::string& host, unsigned status, const rate_limit_info& info);

    /// When `host` may be sent its next request as far as its pause and its
    /// tokens go (concurrency caps are the caller's to count): `now` when at
    /// once, and for a host never seen. Changes nothing.
    clock::time_point ready_at(const std::string& host, clock::time_point now);

    /// New limits for every host (config reload); tokens already earned are kept.
    void set_params(const limiter_params& params);

    struct host_snapshot {
        double tokens;
        std::uint32_t in_flight;
        std::uint64_t requests;
        std::uint64_t rate_limited;     ///< 429s seen
        double paused_for_seconds;      ///< 0 when not paused
        double seconds_until_token;     ///< 0 when the bucket has a token now
    };
    std::map<std::string, host_snapshot> snapshot();

    /// Forgets hosts that carry no information: nothing in flight, no pause in
    /// force, a full bucket. Done by acquire() about once a second, so a list
    /// over thousands of hosts keeps only the busy ones. Returns how many went.
    std::size_t forget_idle_hosts();
    std::uint32_t in_flight_total() const noexcept { return in_flight_total_; }

    /// Publishes tokens, pauses, in-flight requests and 429s per host at every scrape.
    /// The limiter must outlive the registry's scrapes.
    void attach_metrics(metrics::registry& registry);

private:
    host_state& state_for(const std::string& host);
    void notify_all();

    struct impl;
    std::unique_ptr<impl> impl_;
    std::uint32_t in_flight_total_ = 0;
};

}  // namespace bsky::rate
