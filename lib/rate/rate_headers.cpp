#include "rate/rate_headers.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

namespace bsky::rate {

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
}  // namespace

std::optional<double> parse_number(std::string_view text) noexcept {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(v) || v < 0) return std::nullopt;
    return v;
}

std::optional<std::int64_t> parse_reset(std::string_view text) noexcept {
    auto v = parse_number(text);
    if (!v) return std::nullopt;
    return static_cast<std::int64_t>(std::min(*v, max_reset_unix));
}

bool parse_policy(std::string_view text, double& requests, double& window) noexcept {
    text = trim(text.substr(0, text.find(',')));
    auto semi = text.find(';');
    if (semi == std::string_view::npos) return false;
    auto n = parse_number(text.substr(0, semi));
    auto params = text.substr(semi + 1);
    while (!params.empty()) {
        auto next = params.find(';');
        auto param = trim(params.substr(0, next));
        if (param.starts_with("w=")) {
            auto w = parse_number(param.substr(2));
            if (n && w && *w > 0 && *n > 0) {
                requests = *n;
                window = *w;
                return true;
            }
            return false;
        }
        if (next == std::string_view::npos) break;
        params.remove_prefix(next + 1);
    }
    return false;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view text, std::int64_t now_unix) noexcept {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    if (auto n = parse_number(text)) return std::chrono::seconds(static_cast<std::int64_t>(std::ceil(std::min(*n, max_header_seconds))));
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
    auto num = [&](std::size_t pos, std::size_t len, int& out) {
        auto [p, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, out);
        return ec == std::errc{} && p == text.data() + pos + len;
    };
    int day = 0, year = 0, hour = 0, minute = 0, second = 0, month = -1;
    for (int m = 0; m < 12; ++m)
        if (text.substr(8, 3) == months[m]) month = m;
    if (month < 0 || !num(5, 2, day) || !num(12, 4, year) || !num(17, 2, hour) || !num(20, 2, minute) || !num(23, 2, second))
        return std::nullopt;
    using namespace std::chrono;
    year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month + 1)}, std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) return std::nullopt;
    auto when = sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second};
    // A 4-digit year keeps `when` small; the clamp keeps the delay like a delta's.
    auto delay = std::clamp<std::int64_t>(when.time_since_epoch().count() - now_unix, 0, static_cast<std::int64_t>(max_header_seconds));
    return std::chrono::seconds(delay);
}

}  // namespace bsky::rate
