#include "common.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace bsky::daemon {

namespace {
spdlog::level::level_enum to_spdlog(log::level lvl) {
    return static_cast<spdlog::level::level_enum>(static_cast<int>(lvl));
}
}  // namespace

log::logger& stderr_logger() {
    static auto sink = [] {
        auto l = spdlog::stderr_color_st("bsky");
        // journald timestamps each line; a terminal user sees the level.
        l->set_pattern("%^%l%$: %v");
        l->set_level(spdlog::level::trace);
        return l;
    }();
    static log::logger logger{[](log::level lvl, std::string_view msg) { sink->log(to_spdlog(lvl), msg); }};
    return logger;
}

void check_flag_range(std::string_view flag, std::string_view text, std::uint64_t value, std::uint64_t min, std::uint64_t max) {
    if (value >= min && value <= max) return;
    throw usage_error{std::string(flag) + " must be from " + std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                      std::string(text) + "'"};
}

std::uint64_t whole_number_flag(std::string_view flag, std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    bool digits_only = !text.empty() && text.front() >= '0' && text.front() <= '9';
    if (!digits_only || ec != std::errc{} || end != text.data() + text.size())
        throw usage_error{std::string(flag) + " takes a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                          ", not '" + std::string(text) + "'"};
    check_flag_range(flag, text, value, min, max);
    return value;
}

bool arg_cursor::take(std::string_view name) {
    if (done()) return false;
    auto arg = args_[index_];
    if (arg == name) {
        option_ = name;
        inline_value_.reset();
        ++index_;
        return true;
    }
    if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
        option_ = name;
        inline_value_ = std::string(arg.substr(name.size() + 1));
        ++index_;
        return true;
    }
    return false;
}

std::string arg_cursor::value() {
    if (inline_value_) return *std::exchange(inline_value_, std::nullopt);
    if (done()) throw usage_error{std::string(option_) + " needs a value"};
    return std::string(args_[index_++]);
}

}  // namespace bsky::daemon
