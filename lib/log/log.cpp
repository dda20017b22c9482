#include "log/log.hpp"

#include <array>

namespace bsky::log {

namespace {
constexpr std::array<std::string_view, 7> names{"trace", "debug", "info", "warn", "error", "critical", "off"};
}

std::string_view to_string(level lvl) noexcept { return names[static_cast<std::size_t>(lvl)]; }

bool parse_level(std::string_view text, level& out) noexcept {
    if (text == "warning") text = "warn";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == text) {
            out = static_cast<level>(i);
            return true;
        }
    }
    return false;
}

logger& null_logger() {
    static logger instance{nullptr, level::off};
    return instance;
}

}  // namespace bsky::log
