#pragma once
// Shared wiring for the two executables: spdlog binding and argument helpers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log/log.hpp"

namespace bsky::daemon {

/// A logger whose sink is spdlog writing to stderr (journald adds timestamps).
log::logger& stderr_logger();

/// Thrown for bad usage; main prints "<prog>: <what>" and a hint, and exits 2.
struct usage_error {
    std::string message;
};

/// The whole number `text` gives for `flag`, in [min, max]: digits only, so
/// "-1", "1e3", "", " 5" and overflow are usage errors naming the flag.
std::uint64_t whole_number_flag(std::string_view flag, std::string_view text, std::uint64_t min, std::uint64_t max);
/// A usage error naming `flag` and its range unless min <= value <= max
/// (for values parsed otherwise, such as sizes).
void check_flag_range(std::string_view flag, std::string_view text, std::uint64_t value, std::uint64_t min, std::uint64_t max);

/// Consumes argv as "--name value", "--name=value" or bare flags.
class arg_cursor {
public:
    arg_cursor(int argc, char** argv, int first) : args_(argv + first, argv + argc) {}
    bool done() const { return index_ >= args_.size(); }
    std::string_view peek() const { return args_[index_]; }
    /// True (and consumes) when the next argument is `name` or `name=...`.
    bool take(std::string_view name);
    /// The value of the option just taken.
    std::string value();
    std::string_view current_option() const { return option_; }

private:
    std::vector<std::string_view> args_;
    std::size_t index_ = 0;
    std::string_view option_;
    std::optional<std::string> inline_value_;
};

}  // namespace bsky::daemon
