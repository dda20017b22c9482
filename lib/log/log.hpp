#pragma once
// A small logging interface for the libraries: a level and a sink function.
// Only daemon/ binds it to spdlog; tests bind it to a capture buffer.
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace bsky::log {

enum class level : int { trace = 0, debug, info, warn, error, critical, off };

std::string_view to_string(level lvl) noexcept;
/// Parses "trace|debug|info|warn|warning|error|critical|off"; false when unknown.
bool parse_level(std::string_view text, level& out) noexcept;

using sink_fn = std::function<void(level, std::string_view message)>;

/// @par Thread Safety
/// The level may be changed from any thread (SIGHUP); the sink must be
/// safe to call from every thread that logs.
class logger {
public:
    explicit logger(sink_fn sink, level lvl = level::info) : sink_(std::move(sink)), level_(lvl) {}

    void set_level(level lvl) noexcept { level_.store(lvl, std::memory_order_relaxed); }
    level get_level() const noexcept { return level_.load(std::memory_order_relaxed); }
    bool enabled(level lvl) const noexcept { return lvl >= get_level() && lvl != level::off; }

    template <class... Args>
    void log(level lvl, fmt::format_string<Args...> format, Args&&... args) {
        if (!enabled(lvl) || !sink_) return;
        sink_(lvl, fmt::format(format, std::forward<Args>(args)...));
    }
    template <class... Args> void debug(fmt::format_string<Args...> f, Args&&... a) { log(level::debug, f, std::forward<Args>(a)...); }
    template <class... Args> void info(fmt::format_string<Args...> f, Args&&... a) { log(level::info, f, std::forward<Args>(a)...); }
    template <class... Args> void warn(fmt::format_string<Args...> f, Args&&... a) { log(level::warn, f, std::forward<Args>(a)...); }
    template <class... Args> void error(fmt::format_string<Args...> f, Args&&... a) { log(level::error, f, std::forward<Args>(a)...); }

private:
    sink_fn sink_;
    std::atomic<level> level_;
};

/// A logger that discards everything, for callers that have none.
logger& null_logger();

}  // namespace bsky::log
