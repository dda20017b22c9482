#pragma once
// A token bucket with the clock passed in: pure, so tests drive it with
// simulated time.
#include <algorithm>
#include <chrono>

namespace bsky::rate {

using clock = std::chrono::steady_clock;

class token_bucket {
public:
    /// `rate` tokens per second, at most `capacity` stored; starts full.
    token_bucket(double rate, double capacity, clock::time_point now) noexcept
        : rate_(rate), capacity_(capacity), tokens_(capacity), updated_(now) {}

    /// Takes one token if there is one.
    bool try_consume(clock::time_point now) noexcept {
        refill(now);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

    /// How long until a token is available (zero when one is).
    clock::duration time_until_available(clock::time_point now) noexcept {
        refill(now);
        if (tokens_ >= 1.0) return clock::duration::zero();
        return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>((1.0 - tokens_) / rate_)) +
               clock::duration(1);
    }

    /// Changes rate and capacity (config reload, or a server's RateLimit-Policy).
    void reconfigure(double rate, double capacity, clock::time_point now) noexcept {
        refill(now);
        rate_ = rate;
        capacity_ = capacity;
        tokens_ = std::min(tokens_, capacity_);
    }

    /// Caps the stored tokens (a server's RateLimit-Remaining).
    void limit_tokens(double remaining, clock::time_point now) noexcept {
        refill(now);
        tokens_ = std::min(tokens_, std::max(0.0, remaining));
    }

    double tokens(clock::time_point now) noexcept {
        refill(now);
        return tokens_;
    }
    double rate() const noexcept { return rate_; }
    double capacity() const noexcept { return capacity_; }

private:
    void refill(clock::time_point now) noexcept {
        if (now <= updated_) return;
        tokens_ = std::min(capacity_, tokens_ + std::chrono::duration<double>(now - updated_).count() * rate_);
        updated_ = now;
    }

    double rate_;
    double capacity_;
    double tokens_;
    clock::time_point updated_;
};

}  // namespace bsky::rate
