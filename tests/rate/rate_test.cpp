// The token bucket with simulated time; header parsing; the async limiter
// against the real clock with short windows.
#include "rate/host_limiter.hpp"
#include "rate/rate_headers.hpp"
#include "rate/token_bucket.hpp"
#include "support/run.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace bsky;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(TokenBucket, SimulatedTime) {
    rate::clock::time_point t0{};
    rate::token_bucket bucket(9.0, 3.0, t0);  // 2700 / 300 s, burst 3
    EXPECT_TRUE(bucket.try_consume(t0));
    EXPECT_TRUE(bucket.try_consume(t0));
    EXPECT_TRUE(bucket.try_consume(t0));
    EXPECT_FALSE(bucket.try_consume(t0));
    auto wait = bucket.time_until_available(t0);
    EXPECT_GT(wait, 110ms);
    EXPECT_LT(wait, 112ms);
    EXPECT_FALSE(bucket.try_consume(t0 + 100ms));
    EXPECT_TRUE(bucket.try_consume(t0 + 112ms));
    // Never more than the capacity, however long it rests.
    EXPECT_NEAR(bucket.tokens(t0 + 1h), 3.0, 1e-9);
    bucket.limit_tokens(0, t0 + 1h);
    EXPECT_FALSE(bucket.try_consume(t0 + 1h));
    bucket.reconfigure(1.0, 1.0, t0 + 1h);
    EXPECT_EQ(bucket.time_until_available(t0 + 1h) > 999ms, true);
}

TEST(RateHeaders, Parsing) {
    double n = 0, w = 0;
    EXPECT_TRUE(rate::parse_policy("3000;w=300", n, w));
    EXPECT_EQ(n, 3000);
    EXPECT_EQ(w, 300);
    EXPECT_TRUE(rate::parse_policy("100;w=60;comment=\"x\", 3000;w=300", n, w));
    EXPECT_EQ(n, 100);
    EXPECT_FALSE(rate::parse_policy("3000", n, w));
    EXPECT_FALSE(rate::parse_policy("x;w=5", n, w));
    EXPECT_EQ(rate::parse_retry_after("120", 0), 120s);
    EXPECT_EQ(rate::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), 30s);
    EXPECT_EQ(rate::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30), 0s);
    EXPECT_FALSE(rate::parse_retry_after("soon", 0));
    std::map<std::string, std::string> h{{"RateLimit-Limit", "3000"}, {"RateLimit-Remaining", "0"},
                                         {"RateLimit-Reset", "1700000000"}, {"RateLimit-Policy", "3000;w=300"}};
    auto info = rate::parse_rate_limit_headers(
        [&](std::string_view name) -> std::string_view {
            auto it = h.find(std::string(name));
            return it == h.end() ? std::string_view{} : std::string_view(it->second);
        },
        0);
    EXPECT_EQ(info.limit, 3000);
    EXPECT_EQ(info.remaining, 0);
    EXPECT_EQ(info.reset_unix, 1700000000);
    EXPECT_EQ(info.policy_window, 300);
    EXPECT_FALSE(info.retry_after);
}

rate::rate_limit_info headers_of(const std::map<std::string, std::string>& h, std::int64_t now_unix) {
    return rate::parse_rate_limit_headers(
        [&](std::string_view name) -> std::string_view {
            auto it = h.find(std::string(name));
            return it == h.end() ? std::string_view{} : std::string_view(it->second);
        },
        now_unix);
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A hostile or broken server picks the header values: whatever they are, a
// 429 pauses the host for at most max_pause, and never for nothing.
TEST(HostLimiter, HostileRateLimitHeadersGiveABoundedPause) {
    const std::vector<std::map<std::string, std::string>> hostile = {
        {{"RateLimit-Reset", "1e300"}},
        {{"RateLimit-Reset", "9223372036854775807"}},
        {{"RateLimit-Reset", "99999999999999999999999999"}},
        {{"RateLimit-Reset", "-5"}},
        {{"RateLimit-Reset", "nan"}},
        {{"RateLimit-Reset", "inf"}},
        {{"RateLimit-Reset", "soon"}},
        {{"Retry-After", "1e300"}},
        {{"Retry-After", "9223372036854775807"}},
        {{"Retry-After", "18446744073709551616"}},
        {{"Retry-After", "-1"}},
        {{"Retry-After", "NaN"}},
        {{"Retry-After", "infinity"}},
        {{"Retry-After", "tomorrow"}},
        {{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}},
        {{"RateLimit-Remaining", "0"}, {"RateLimit-Reset", "1e300"}},
        {{"RateLimit-Policy", "1;w=1e300"}, {"Retry-After", "1"}},
        {{"RateLimit-Policy", "0.001;w=1"}, {"Retry-After", "1"}},
        {{"RateLimit-Policy", "1e300;w=1e-300"}, {"Retry-After", "1"}},
    };
    const auto max_pause = 5s;
    rate::host_limiter limiter(asio::system_executor(), {.default_pause = 2s, .max_pause = max_pause});
    for (std::size_t i = 0; i < hostile.size(); ++i) {
        auto host = "h" + std::to_string(i);
        limiter.observe(host, 429, headers_of(hostile[i], unix_now()));
        auto s = limiter.snapshot()[host];
        EXPECT_GT(s.paused_for_seconds, 0.0) << "case " << i << ": a 429 must pause";
        EXPECT_LE(s.paused_for_seconds, 5.0) << "case " << i;
        // The bucket a server's policy set must still give a token within max_pause.
        EXPECT_LE(s.seconds_until_token, 5.0) << "case " << i;
    }
    // Also after a 200 that says the window is spent until a reset far away.
    limiter.observe("spent", 200, headers_of({{"RateLimit-Remaining", "0"}, {"RateLimit-Reset", "1e300"}}, unix_now()));
    EXPECT_LE(limiter.snapshot()["spent"].paused_for_seconds, 5.0);
    EXPECT_GT(limiter.snapshot()["spent"].paused_for_seconds, 4.0);
}

asio::awaitable<void> hold(rate::host_limiter& limiter, std::string host, std::chrono::milliseconds d, int& concurrent, int& peak) {
    auto permit = co_await limiter.acquire(host);
    ++concurrent;
    peak = std::max(peak, concurrent);
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
    --concurrent;
}

TEST(HostLimiter, PerHostConcurrencyCapHolds) {
    asio::io_context io;
    rate::host_limiter limiter(io.get_executor(), {.requests_per_window = 1000, .window_seconds = 1, .burst = 1000,
                                                   .max_concurrent_per_host = 2, .max_concurrent_total = 10});
    int a = 0, a_peak = 0, b = 0, b_peak = 0;
    for (int i = 0; i < 6; ++i) {
        asio::co_spawn(io, hold(limiter, "a", 30ms, a, a_peak), asio::detached);
        asio::co_spawn(io, hold(limiter, "b", 30ms, b, b_peak), asio::detached);
    }
    io.run();
    EXPECT_EQ(a_peak, 2);
    EXPECT_EQ(b_peak, 2);
    EXPECT_EQ(limiter.in_flight_total(), 0u);
}

TEST(HostLimiter, TokenBucketPacesRequests) {
    asio::io_context io;
    // 20 requests per second, burst 2: 6 requests need at least (6 - 2) / 20 = 200 ms.
    rate::host_limiter limiter(io.get_executor(), {.requests_per_window = 20, .window_seconds = 1, .burst = 2});
    auto start = std::chrono::steady_clock::now();
    int c = 0, peak = 0;
    for (int i = 0; i < 6; ++i) asio::co_spawn(io, hold(limiter, "a", 0ms, c, peak), asio::detached);
    io.run();
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 195ms);
    EXPECT_EQ(limiter.snapshot()["a"].requests, 6u);
}

TEST(HostLimiter, A429WithoutHeadersPausesForTheDefault) {
    asio::io_context io;
    rate::host_limiter limiter(io.get_executor(), {.default_pause = 300ms});
    limiter.observe("a", 429, {});
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> order;
    auto take = [&](std::string host) -> asio::awaitable<void> {
        auto permit = co_await limiter.acquire(host);
        order.push_back(host);
    };
    asio::co_spawn(io, take("a"), asio::detached);
    asio::co_spawn(io, take("other"), asio::detached);
    io.run();
    EXPECT_GE(std::chrono::steady_clock::now() - start, 295ms);
    // "a" was asked first, yet the other host went ahead without waiting for a's pause.
    EXPECT_EQ(order, (std::vector<std::string>{"other", "a"}));
    auto snap = limiter.snapshot();
    EXPECT_EQ(snap["a"].rate_limited, 1u);
    EXPECT_EQ(snap["other"].rate_limited, 0u);
    EXPECT_EQ(snap["other"].paused_for_seconds, 0.0);
    EXPECT_EQ(snap["other"].requests, 1u);
}

TEST(HostLimiter, IdleHostsAndTheirMetricSeriesAreForgotten) {
    asio::io_context io;
    // 1000 tokens/s, burst 1: a used bucket is full again within a millisecond.
    rate::host_limiter limiter(io.get_executor(), {.requests_per_window = 1000, .window_seconds = 1, .burst = 1,
                                                   .max_concurrent_per_host = 1, .max_concurrent_total = 10000, .default_pause = 60s});
    metrics::registry registry;
    limiter.attach_metrics(registry);
    rate::host_limiter::permit busy;
    auto visit = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2000; ++i) co_await limiter.acquire("host" + std::to_string(i) + ":443");
        busy = co_await limiter.acquire("busy:443");
    };
    test::run(io, visit());
    limiter.observe("paused:443", 429, {});
    {
        // 2002 hosts: the gauges keep the busiest 20 hosts' own series and sum the rest under "other".
        auto text = registry.render();
        std::size_t series = 0;
        for (std::size_t at = text.find("\nbsky_fetches_in_flight{"); at != std::string::npos; at = text.find("\nbsky_fetches_in_flight{", at + 1))
            ++series;
        EXPECT_EQ(series, metrics::max_host_series + 1) << text.substr(0, 3000);
        // Equal request counts rank by name: busy:443 keeps its series, the later host names are "other".
        EXPECT_NE(text.find("bsky_fetches_in_flight{host=\"busy:443\"} 1"), std::string::npos) << text.substr(0, 3000);
        EXPECT_NE(text.find("bsky_fetches_in_flight{host=\"other\"} 0"), std::string::npos);
        EXPECT_EQ(text.find("host1999:443"), std::string::npos) << "a host outside the top 20 has no series of its own";
        EXPECT_NE(text.find("bsky_rate_limited_total{host=\"paused:443\"} 1"), std::string::npos) << "429s stay per host";
    }
    std::this_thread::sleep_for(10ms);  // at least long enough for the buckets to refill
    EXPECT_GE(limiter.forget_idle_hosts(), 2000u);
    auto snap = limiter.snapshot();
    EXPECT_EQ(snap.size(), 2u) << "only the host in flight and the paused one carry information";
    EXPECT_TRUE(snap.contains("busy:443"));
    EXPECT_TRUE(snap.contains("paused:443"));
    auto text = registry.render();
    EXPECT_EQ(text.find("host1999"), std::string::npos) << "a forgotten host's series must go too";
    EXPECT_NE(text.find("bsky_rate_limited_total{host=\"paused:443\"} 1"), std::string::npos) << text;
    // A counter outlives its host's state: a forgotten host's 429s are still counted.
    std::this_thread::sleep_for(10ms);
    limiter.observe("briefly:443", 429, rate::rate_limit_info{.retry_after = 0s});  // paused for 1 s
    std::this_thread::sleep_for(1100ms);
    limiter.forget_idle_hosts();
    EXPECT_FALSE(limiter.snapshot().contains("briefly:443"));
    EXPECT_NE(registry.render().find("bsky_rate_limited_total{host=\"briefly:443\"} 1"), std::string::npos);
    busy.release();
}

TEST(HostLimiter, A429WhoseResetHasJustPassedPausesOneSecond) {
    // The reference PDS floors RateLimit-Reset to the second: a 429 can name
    // the second that is ending. That is a pause of about a second, not the
    // 60 s meant for 429s that say nothing.
    rate::host_limiter limiter(asio::system_executor(), {.default_pause = 60s});
    rate::rate_limit_info info;
    info.reset_unix = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() - 1;
    limiter.observe("a", 429, info);
    auto paused = limiter.snapshot()["a"].paused_for_seconds;
    EXPECT_GT(paused, 0.5);
    EXPECT_LE(paused, 1.0);
}

TEST(HostLimiter, CancelledWaiterLeaves) {
    asio::io_context io;
    rate::host_limiter limiter(io.get_executor(), {.default_pause = 10s});
    limiter.observe("a", 429, {});
    asio::cancellation_signal cancel;
    bool aborted = false;
    auto waiter = [&]() -> asio::awaitable<void> {
        try {
            co_await limiter.acquire("a");
        } catch (const boost::system::system_error& e) {
            aborted = e.code() == asio::error::operation_aborted;
        }
    };
    asio::co_spawn(io, waiter(), asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    asio::steady_timer t(io, 20ms);
    t.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
    io.run_for(2s);
    EXPECT_TRUE(aborted);
}

}  // namespace
