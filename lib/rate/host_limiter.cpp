#include "rate/host_limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>

namespace bsky::rate {

namespace net = boost::asio;

struct host_limiter::host_state {
    host_state(const limiter_params& p, clock::time_point now)
        : bucket(p.requests_per_window / p.window_seconds, p.burst, now) {}
    token_bucket bucket;
    clock::time_point paused_until{};
    std::uint32_t in_flight = 0;
    std::uint64_t requests = 0;
    std::uint64_t rate_limited = 0;
    bool server_policy = false;  ///< the bucket follows the server's RateLimit-Policy
};

struct host_limiter::impl {
    net::any_io_executor executor;
    limiter_params params;
    std::map<std::string, std::unique_ptr<host_state>> hosts;
    std::set<net::steady_timer*> waiters;
    clock::time_point last_forget{};
    /// 429s per host, kept when the host is forgotten: a counter must not go back.
    /// Only hosts that ever answered 429 are here.
    std::map<std::string, std::uint64_t> rate_limited_totals;
};

host_limiter::host_limiter(net::any_io_executor executor, limiter_params params)
    : impl_(std::make_unique<impl>(impl{std::move(executor), params, {}, {}})) {}

host_limiter::~host_limiter() = default;

host_limiter::permit& host_limiter::permit::operator=(permit&& o) noexcept {
    if (this != &o) {
        release();
        limiter_ = std::exchange(o.limiter_, nullptr);
        host_ = o.host_;
    }
    return *this;
}

void host_limiter::permit::release() noexcept {
    if (!limiter_) return;
    --host_->in_flight;
    --limiter_->in_flight_total_;
    limiter_->notify_all();
    limiter_ = nullptr;
}

host_limiter::host_state& host_limiter::state_for(const std::string& host) {
    auto& slot = impl_->hosts[host];
    if (!slot) slot = std::make_unique<host_state>(impl_->params, clock::now());
    return *slot;
}

void host_limiter::notify_all() {
    // Waiters re-check their conditions when their timer is cancelled.
    for (auto* t : impl_->waiters) t->cancel();
}

std::size_t host_limiter::forget_idle_hosts() {
    auto now = clock::now();
    impl_->last_forget = now;
    return std::erase_if(impl_->hosts, [&](const auto& entry) {
        auto& h = *entry.second;
        // No permit points at it (in_flight 0), and waiters look their host up afresh after every wait.
        return h.in_flight == 0 && h.paused_until <= now && h.bucket.tokens(now) >= h.bucket.capacity();
    });
}

net::awaitable<host_limiter::permit> host_limiter::acquire(std::string host) {
    if (clock::now() - impl_->last_forget >= std::chrono::seconds(1)) forget_idle_hosts();
    net::steady_timer timer(impl_->executor);
    for (;;) {
        auto& h = state_for(host);
        auto now = clock::now();
        clock::duration wait = clock::duration::max();
        bool may_go = false;
        if (h.paused_until > now) {
            wait = h.paused_until - now;
        } else if (h.in_flight >= impl_->params.max_concurrent_per_host ||
                   in_flight_total_ >= impl_->params.max_concurrent_total) {
            // wait for a release
        } else if (auto until = h.bucket.time_until_available(now); until > clock::duration::zero()) {
            wait = until;
        } else {
            may_go = true;
        }
        if (may_go) {
            h.bucket.try_consume(now);
            ++h.in_flight;
            ++h.requests;
            ++in_flight_total_;
            co_return permit(this, &h);
        }
        if (wait == clock::duration::max()) timer.expires_at(net::steady_timer::time_point::max());
        else timer.expires_after(wait);
        impl_->waiters.insert(&timer);
        co_await timer.async_wait(net::as_tuple(net::use_awaitable));
        impl_->waiters.erase(&timer);
        auto state = co_await net::this_coro::cancellation_state;
        if (state.cancelled() != net::cancellation_type::none)
            throw boost::system::system_error(net::error::operation_aborted, "waiting for a rate-limit slot");
    }
}

namespace {
// Seconds from a server, clamped to [0, cap] before they become a duration.
clock::duration bounded(double seconds, std::chrono::milliseconds cap) {
    double capped = std::clamp(seconds, 0.0, std::chrono::duration<double>(cap).count());
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(capped));
}
}  // namespace

void host_limiter::observe(const std::string& host, unsigned status, const rate_limit_info& info) {
    auto& h = state_for(host);
    auto now = clock::now();
    const auto cap = impl_->params.max_pause;
    auto until_reset = [&]() -> std::optional<clock::duration> {
        if (!info.reset_unix) return std::nullopt;
        // In seconds, not system_clock ticks: a reset far away must not overflow.
        auto wall_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        return bounded(static_cast<double>(*info.reset_unix) - wall_now, cap);
    };
    if (info.policy_requests && info.policy_window) {
        double rate = *info.policy_requests / *info.policy_window;
        // Never faster than configured; follow the server when it is stricter,
        // but at least one request per max_pause and a bucket that holds one.
        double configured = impl_->params.requests_per_window / impl_->params.window_seconds;
        if (rate < configured) {
            rate = std::max(rate, 1.0 / std::chrono::duration<double>(cap).count());
            h.bucket.reconfigure(rate, std::max(1.0, std::min(impl_->params.burst, *info.policy_requests)), now);
            h.server_policy = true;
        }
    }
    if (info.remaining) h.bucket.limit_tokens(*info.remaining, now);
    std::optional<clock::duration> pause;
    if (status == 429) {
        ++h.rate_limited;
        ++impl_->rate_limited_totals[host];
        if (auto r = until_reset(); r && *r > clock::duration::zero()) pause = *r;
        // A reset or Retry-After that has just passed: servers round down to
        // the second, so the window turns within a second, not after the default pause.
        else if (info.retry_after) pause = bounded(std::max(1.0, static_cast<double>(info.retry_after->count())), cap);
        else if (info.reset_unix) pause = std::chrono::seconds(1);
        else pause = std::min<clock::duration>(impl_->params.default_pause, cap);
    } else if (info.remaining && *info.remaining < 1.0) {
        if (auto r = until_reset()) pause = *r;
    }
    if (pause) h.paused_until = std::max(h.paused_until, now + *pause);
    notify_all();
}

clock::time_point host_limiter::ready_at(const std::string& host, clock::time_point now) {
    auto it = impl_->hosts.find(host);
    if (it == impl_->hosts.end()) return now;
    auto& h = *it->second;
    return std::max({now, h.paused_until, now + h.bucket.time_until_available(now)});
}

void host_limiter::set_params(const limiter_params& params) {
    impl_->params = params;
    auto now = clock::now();
    for (auto& [name, h] : impl_->hosts)
        if (!h->server_policy) h->bucket.reconfigure(params.requests_per_window / params.window_seconds, params.burst, now);
    notify_all();
}

std::map<std::string, host_limiter::host_snapshot> host_limiter::snapshot() {
    std::map<std::string, host_snapshot> out;
    auto now = clock::now();
    for (auto& [name, h] : impl_->hosts) {
        double paused = h->paused_until > now ? std::chrono::duration<double>(h->paused_until - now).count() : 0.0;
        double until_token = std::chrono::duration<double>(h->bucket.time_until_available(now)).count();
        out[name] = {h->bucket.tokens(now), h->in_flight, h->requests, h->rate_limited, paused, until_token};
    }
    return out;
}

void host_limiter::attach_metrics(metrics::registry& registry) {
    auto& tokens = registry.gauge("bsky_rate_tokens", "Requests a host's token bucket would allow right now", "host");
    auto& paused = registry.gauge("bsky_rate_paused_seconds", "Seconds until a rate-limited host may be asked again", "host");
    auto& in_flight = registry.gauge("bsky_fetches_in_flight", "Requests being sent or read, by host", "host");
    auto& rate_limited = registry.counter("bsky_rate_limited_total", "HTTP 429 responses by host; the host pauses until its reset", "host");
    registry.on_scrape([this, &tokens, &paused, &in_flight, &rate_limited] {
        // Republish only the hosts held now: forgotten hosts' series go with them.
        // The gauges keep the busiest hosts' own series and sum the rest under
        // "other", so thousands of hosts stay a few dozen series. (The 429
        // counter stays per host: a counter summed into "other" would go back
        // when its host rose into the top, and only hosts that answered 429 have one.)
        for (auto* family : {&tokens, &paused, &in_flight}) family->clear();
        auto hosts = snapshot();
        std::vector<std::pair<std::string, double>> weights;
        for (const auto& [host, s] : hosts) weights.emplace_back(host, static_cast<double>(s.requests));
        auto labels = metrics::bounded_labels(weights, metrics::max_host_series);
        std::map<std::string, std::array<double, 3>> series;  // tokens, paused (the longest), in flight
        std::size_t i = 0;
        for (const auto& [host, s] : hosts) {
            auto& v = series[labels[i++]];
            v[0] += s.tokens;
            v[1] = std::max(v[1], s.paused_for_seconds);
            v[2] += static_cast<double>(s.in_flight);
        }
        for (const auto& [label, v] : series) {
            tokens.set(label, v[0]);
            paused.set(label, v[1]);
            in_flight.set(label, v[2]);
        }
        for (const auto& [host, n] : impl_->rate_limited_totals) rate_limited.set(host, static_cast<double>(n));
    });
}

}  // namespace bsky::rate
