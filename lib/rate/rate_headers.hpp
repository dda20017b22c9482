#pragma once
// What a response says about rate limits (RateLimit-* draft headers as the
// atproto PDS sends them, Retry-After, 429s) and what the limiter should do.
#include <chrono>
#include <optional>
#include <string_view>

namespace bsky::rate {

/// Header values past this many seconds (about 31 years) are taken as this:
/// every conversion below stays far inside int64 nanoseconds, and the
/// limiter caps pauses much lower still (rate_limits.max_pause_seconds).
inline constexpr double max_header_seconds = 1e9;
/// RateLimit-Reset values past this (the year 5138) are taken as this.
inline constexpr double max_reset_unix = 1e11;

struct rate_limit_info {
    std::optional<double> limit;              ///< RateLimit-Limit
    std::optional<double> remaining;          ///< RateLimit-Remaining
    std::optional<std::int64_t> reset_unix;   ///< RateLimit-Reset: absolute Unix seconds (clamped, see parse_reset)
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
/// A finite, non-negative decimal number; nullopt for anything else (NaN, inf, "-1", "soon").
std::optional<double> parse_number(std::string_view text) noexcept;
/// RateLimit-Reset as Unix seconds, clamped to max_reset_unix so a hostile
/// value converts without overflow.
std::optional<std::int64_t> parse_reset(std::string_view text) noexcept;

template <class HeaderFn>
rate_limit_info parse_rate_limit_headers(HeaderFn&& header, std::int64_t now_unix) {
    rate_limit_info info;
    info.limit = parse_number(header("RateLimit-Limit"));
    info.remaining = parse_number(header("RateLimit-Remaining"));
    info.reset_unix = parse_reset(header("RateLimit-Reset"));
    double n = 0, w = 0;
    if (parse_policy(header("RateLimit-Policy"), n, w)) {
        info.policy_requests = n;
        info.policy_window = w;
    }
    info.retry_after = parse_retry_after(header("Retry-After"), now_unix);
    return info;
}

}  // namespace bsky::rate
