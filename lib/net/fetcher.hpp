#pragma once
// Polite GETs: every attempt waits for its host's rate-limit token and
// concurrency slot, learns from the response's rate-limit headers, and
// failures are retried with exponential backoff and full jitter. 429s pause
// the host and are retried without using up the attempt budget.
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <system_error>

#include <boost/asio/awaitable.hpp>

#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "rate/host_limiter.hpp"

namespace bsky::net {

struct retry_params {
    std::uint32_t max_attempts = 5;
    std::chrono::milliseconds backoff_base{1000};
    std::chrono::milliseconds backoff_cap{120'000};
    std::uint32_t max_rate_limited = 50;  ///< 429s tolerated for one fetch before giving up
};

/// Full jitter: uniform in [0, min(cap, base * 2^attempt)].
std::chrono::milliseconds backoff_delay(std::uint32_t attempt, const retry_params& params, std::mt19937_64& rng);

/// Whether a transport error is worth another attempt (timeouts, resets,
/// truncation) or final (bad URL, private address, size cap, consumer refusal).
bool is_retryable(const std::error_code& ec) noexcept;

struct fetch_result {
    std::error_code ec;          ///< transport failure after the last attempt (or a final one)
    response resp;               ///< the last response (status 0 when none)
    std::uint32_t attempts = 0;  ///< attempts that counted against the budget
    std::uint32_t rate_limited = 0;
    std::string detail;          ///< what went wrong, for the user
};

/// Called before every attempt: returns the body consumer for that attempt
/// (a retry starts a fresh parse).
using consumer_factory = std::function<body_sink()>;

/// @par Thread Safety
/// Not thread-safe: use it from the event loop thread.
class fetcher {
public:
    fetcher(http_client& client, rate::host_limiter& limiter, retry_params params, std::uint64_t seed = std::random_device{}());

    /// GETs `url` politely. `limit_key` names the bucket of the first hop
    /// (usually the URL's authority); a redirect's hop waits for, and is
    /// paused by, the bucket of its own authority.
    boost::asio::awaitable<fetch_result> get(std::string url, std::string limit_key, consumer_factory make_consumer);

    void set_params(const retry_params& params) { params_ = params; }
    std::uint64_t retries() const noexcept { return retries_; }

    /// Counts responses, retries, failures and latency into `registry` under
    /// the label client="{client}" (e.g. pds, plc); 429s by host are the
    /// limiter's to publish.
    void attach_metrics(metrics::registry& registry, std::string client);

private:
    struct counters {
        metrics::family* responses = nullptr;     ///< {client,code}
        metrics::family* retries = nullptr;       ///< {client,host}: the host whose answer (or silence) is retried
        metrics::family* failures = nullptr;      ///< {client}
        metrics::histogram* latency = nullptr;    ///< {client}
        std::string client;
    } metrics_;

    http_client& client_;
    rate::host_limiter& limiter_;
    retry_params params_;
    std::mt19937_64 rng_;
    std::uint64_t retries_ = 0;
};

/// The authority ("host:port") of an http(s) URL, for rate-limit keys; empty when malformed.
std::string authority_of(std::string_view url);

}  // namespace bsky::net
