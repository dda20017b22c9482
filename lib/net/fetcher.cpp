#include "net/fetcher.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>

namespace bsky::net {

namespace asio = boost::asio;

std::chrono::milliseconds backoff_delay(std::uint32_t attempt, const retry_params& params, std::mt19937_64& rng) {
    double ceiling = static_cast<double>(params.backoff_base.count()) * std::pow(2.0, std::min<std::uint32_t>(attempt, 30));
    ceiling = std::min(ceiling, static_cast<double>(params.backoff_cap.count()));
    std::uniform_real_distribution<double> pick(0.0, ceiling);
    return std::chrono::milliseconds(static_cast<std::int64_t>(pick(rng)));
}

bool is_retryable(const std::error_code& ec) noexcept {
    if (ec.category() == error_category()) {
        switch (static_cast<error>(ec.value())) {
            case error::connect_timeout:
            case error::handshake_timeout:
            case error::headers_timeout:
            case error::idle_timeout:
            case error::fetch_timeout:
            case error::truncated_body:
            case error::bad_gzip:
                return true;
            default:
                return false;
        }
    }
    // Certificate failures will not fix themselves; most other socket errors might.
    auto in = [&](const boost::system::error_category& cat) {
        return ec.category() == static_cast<const std::error_category&>(cat);
    };
    if (in(asio::error::get_ssl_category())) return false;
    if (in(asio::ssl::error::get_stream_category()))
        return ec == std::error_code(boost::system::error_code(asio::ssl::error::stream_truncated));
    if (ec == std::errc::connection_refused || ec == std::errc::connection_reset || ec == std::errc::connection_aborted ||
        ec == std::errc::network_unreachable || ec == std::errc::host_unreachable || ec == std::errc::timed_out ||
        ec == std::errc::broken_pipe)
        return true;
    if (in(asio::error::get_netdb_category())) return ec.value() == asio::error::host_not_found_try_again;
    return in(asio::error::get_misc_category()) && ec.value() == asio::error::eof;
}

std::string authority_of(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return {};
    std::string port = parsed->has_port() ? std::string(parsed->port()) : (parsed->scheme() == "https" ? "443" : "80");
    return std::string(parsed->encoded_host()) + ":" + port;
}

fetcher::fetcher(http_client& client, rate::host_limiter& limiter, retry_params params, std::uint64_t seed)
    : client_(client), limiter_(limiter), params_(params), rng_(seed) {}

void fetcher::attach_metrics(metrics::registry& registry, std::string client) {
    metrics_.responses = &registry.counter("bsky_http_responses_total", "HTTP responses by status code (\"error\": no response)", "client,code");
    // By host as well: one failing PDS among thousands is what an operator needs to find.
    metrics_.retries = &registry.counter("bsky_fetch_retries_total", "Attempts repeated after a timeout, reset, truncation or 5xx, by the host that failed",
                                         "client,host");
    metrics_.failures = &registry.counter("bsky_fetch_failures_total", "Fetches that gave up or failed for good", "client");
    metrics_.latency = &registry.histogram_family("bsky_fetch_latency_seconds", "From sending a request to its response's first body byte (or its end)",
                                                  "client", metrics::latency_buckets());
    metrics_.client = std::move(client);
}

asio::awaitable<fetch_result> fetcher::get(std::string url, std::string limit_key, consumer_factory make_consumer) {
    fetch_result result;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto rate_info = [](const response& resp) {
        return rate::parse_rate_limit_headers([&](std::string_view name) { return resp.header(name); },
                                              static_cast<std::int64_t>(std::time(nullptr)));
    };
    // Each hop (a relay's 302 to a PDS, say) is charged to, and learns the
    // limits of, the host that answers it: the first hop under limit_key, the
    // others under their own authority.
    rate::host_limiter::permit permit;
    std::string answering = limit_key;
    hop_hooks hooks;
    hooks.before = [&](unsigned hop, const std::string& hop_url) -> asio::awaitable<void> {
        answering = limit_key;
        if (hop > 0) answering = authority_of(hop_url);
        permit = co_await limiter_.acquire(answering);
    };
    hooks.after = [&](unsigned, const std::string&, const response& resp) {
        permit.release();
        limiter_.observe(answering, resp.status, rate_info(resp));
    };
    for (;;) {
        result.resp = response{};
        body_sink consumer;
        if (make_consumer) consumer = make_consumer();
        // Latency runs to the first body byte: the rest is the body's size and our parsing.
        auto sent = std::chrono::steady_clock::now();
        std::optional<std::chrono::steady_clock::time_point> first_byte;
        if (metrics_.latency && consumer.on_data)
            consumer.on_data = [inner = std::move(consumer.on_data), &first_byte](std::span<const std::uint8_t> bytes) {
                if (!first_byte) first_byte = std::chrono::steady_clock::now();
                return inner(bytes);
            };
        result.ec = co_await client_.get(url, result.resp, std::move(consumer), {}, hooks);
        if (permit) {  // the hop failed before its response was complete
            permit.release();
            limiter_.observe(answering, result.resp.status, rate_info(result.resp));
        }
        const auto& resp = result.resp;
        if (metrics_.latency) {
            auto end = first_byte.value_or(std::chrono::steady_clock::now());
            metrics_.latency->observe(metrics_.client, std::chrono::duration<double>(end - sent).count());
            auto code = result.ec || resp.status == 0 ? std::string("error") : std::to_string(resp.status);
            metrics_.responses->add({metrics_.client, code});
        }
        bool retry = false;
        if (result.ec) {
            result.detail = resp.detail.empty() ? result.ec.message() : resp.detail;
            retry = is_retryable(result.ec);
        } else if (resp.status == 429) {
            if (++result.rate_limited > params_.max_rate_limited) {
                result.detail = "still rate limited (HTTP 429) by " + answering + " after " + std::to_string(result.rate_limited - 1) + " pauses";
                if (metrics_.failures) metrics_.failures->add(metrics_.client);
                co_return result;
            }
            continue;  // the limiter now holds the host until its reset; no attempt is used up
        } else if (resp.status >= 500) {
            result.detail = "HTTP " + std::to_string(resp.status) + " from " + answering;
            retry = true;
        } else {
            result.detail.clear();
            co_return result;
        }
        ++result.attempts;
        if (!retry || result.attempts >= params_.max_attempts) {
            if (retry)
                result.detail = "gave up after " + std::to_string(result.attempts) + (result.attempts == 1 ? " attempt: " : " attempts: ") +
                                result.detail;
            if (metrics_.failures) metrics_.failures->add(metrics_.client);
            co_return result;
        }
        ++retries_;
        if (metrics_.retries) metrics_.retries->add({metrics_.client, answering});
        timer.expires_after(backoff_delay(result.attempts - 1, params_, rng_));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

}  // namespace bsky::net
