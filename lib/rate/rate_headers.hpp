#pragma once
// What a response says about rate limits (RateLimit-* draft headers as the
// atproto PDS sends them, Retry-After, 429s) and what the limiter should do.
#include <chrono>
#include <optional>
#include <string_view>

namespace bsky::rate {

struct rate_limit_info {
    std::optional<double> limit;              ///< RateLimit-Limit
    std::optional<double> remaining;          ///< RateLimit-Remaining
    std::optional<std::int64_t> reset_unix;   ///< RateLimit-Reset: absolute Unix seconds
    std::optional<double> policy_requests;    ///< RateLimit-Policy "N;w=S": N
    std::optional<double> policy_window;      ///< ... and S seconds
    std::optional<std::chrono::seconds> retry_after;  ///< Retry-After, as a delay from now
};

/// Reads the headers through `header(name)` (empty when absent). `now_unix`
/// converts an HTTP-date Retry-After into a delay.
template <class HeaderFn>
rate_limit_info parse_rate_limit_headers(HeaderFn&& header, std::int64_t now_unix);

/// Parses "N;w=S" (and "N, N;w=S" lists: the first policy wins).
bool parse_policy(std::string_view text, double& requests, double& window) noexcept;
/// Parses a Retry-After value: delta-seconds or an IMF-fixdate; delay from now.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view text, std::int64_t now_unix) noexcept;
std::optional<double> parse_number(std::string_view text) noexcept;

template <class HeaderFn>
rate_limit_info parse_rate_limit_headers(HeaderFn&& header, std::int64_t now_unix) {
    rate_limit_info info;
    info.limit = parse_number(header("RateLimit-Limit"));
    info.remaining = parse_number(header("RateLimit-Remaining"));
    if (auto reset = parse_number(header("RateLimit-Reset"))) info.reset_unix = static_cast<std::int64_t>(*reset);
    double n = 0, w = 0;
    if (parse_policy(header("RateLimit-Policy"), n, w)) {
        info.policy_requests = n;
        info.policy_window = w;
    }
    info.retry_after = parse_retry_after(header("Retry-After"), now_unix);
    return info;
}

}  // namespace bsky::rate
