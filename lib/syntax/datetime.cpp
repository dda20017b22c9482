#include "syntax/datetime.hpp"

#include "syntax/syntax.hpp"


namespace bsky::syntax {

namespace {

using namespace std::chrono;

struct fields {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    int offset_minutes = 0;
};

constexpr bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Reads exactly n digits at s[pos], advancing pos.
bool read_digits(std::string_view s, std::size_t& pos, int n, int& out) noexcept {
    if (pos + static_cast<std::size_t>(n) > s.size()) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
        char c = s[pos + static_cast<std::size_t>(i)];
        if (!digit(c)) return false;
        v = v * 10 + (c - '0');
    }
    pos += static_cast<std::size_t>(n);
    out = v;
    return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) noexcept {
    if (pos >= s.size() || s[pos] != c) return false;
    ++pos;
    return true;
}

bool valid_calendar(const fields& f) noexcept {
    if (f.month < 1 || f.month > 12 || f.day < 1) return false;
    auto ymd = year_month_day{year{f.year}, month{static_cast<unsigned>(f.month)}, day{static_cast<unsigned>(f.day)}};
    return ymd.ok() && f.minute <= 59;
}

seconds_utc to_utc(const fields& f) noexcept {
    auto days = sys_days{year_month_day{year{f.year}, month{static_cast<unsigned>(f.month)}, day{static_cast<unsigned>(f.day)}}};
    return days + hours{f.hour} + minutes{f.minute} + seconds{f.second} - minutes{f.offset_minutes};
}

// Years before 0 are not representable in the pipeline format; the atproto
// spec also rejects datetimes that normalise to a negative year.
bool non_negative(seconds_utc t) noexcept {
    return t >= sys_days{year{0} / January / 1};
}

}  // namespace

bool is_datetime(std::string_view s) noexcept {
    if (s.size() > 64) return false;
    fields f;
    std::size_t pos = 0;
    if (!read_digits(s, pos, 4, f.year) || !expect(s, pos, '-') || !read_digits(s, pos, 2, f.month) ||
        !expect(s, pos, '-') || !read_digits(s, pos, 2, f.day) || !expect(s, pos, 'T') ||
        !read_digits(s, pos, 2, f.hour) || !expect(s, pos, ':') || !read_digits(s, pos, 2, f.minute) ||
        !expect(s, pos, ':') || !read_digits(s, pos, 2, f.second))
        return false;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::size_t start = pos;
        while (pos < s.size() && digit(s[pos])) ++pos;
        if (pos == start || pos - start > 20) return false;
    }
    if (pos >= s.size()) return false;
    if (s[pos] == 'Z') {
        ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
        bool negative = s[pos] == '-';
        ++pos;
        int oh = 0, om = 0;
        if (!read_digits(s, pos, 2, oh) || !expect(s, pos, ':') || !read_digits(s, pos, 2, om)) return false;
        if (oh > 23 || om > 59) return false;
        if (negative && oh == 0 && om == 0) return false;  // "-00:00" means "unknown offset"
        f.offset_minutes = (negative ? -1 : 1) * (oh * 60 + om);
    } else {
        return false;
    }
    if (pos != s.size()) return false;
    if (!valid_calendar(f) || f.hour > 23 || f.second > 59) return false;
    return non_negative(to_utc(f));
}

std::optional<seconds_utc> parse_created_at(std::string_view s) noexcept {
    // Surrounding whitespace is a producer bug we forgive; anything else is not.
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    if (s.size() > 64) return std::nullopt;
    fields f;
    std::size_t pos = 0;
    if (!read_digits(s, pos, 4, f.year) || !expect(s, pos, '-') || !read_digits(s, pos, 2, f.month) ||
        !expect(s, pos, '-') || !read_digits(s, pos, 2, f.day))
        return std::nullopt;
    if (pos == s.size()) {
        // A bare date is midnight UTC.
        if (!valid_calendar(f)) return std::nullopt;
        return to_utc(f);
    }
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    ++pos;
    if (!read_digits(s, pos, 2, f.hour) || !expect(s, pos, ':') || !read_digits(s, pos, 2, f.minute))
        return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
        ++pos;
        if (!read_digits(s, pos, 2, f.second)) return std::nullopt;
        if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
            ++pos;
            std::size_t start = pos;
            while (pos < s.size() && digit(s[pos])) ++pos;
            if (pos == start) return std::nullopt;
        }
    }
    if (pos < s.size()) {
        char c = s[pos];
        if ((c == 'Z' || c == 'z') && pos + 1 == s.size()) {
            ++pos;
        } else if (c == '+' || c == '-') {
            bool negative = c == '-';
            ++pos;
            int oh = 0, om = 0;
            if (!read_digits(s, pos, 2, oh)) return std::nullopt;
            if (pos < s.size()) {
                if (s[pos] == ':') ++pos;
                if (!read_digits(s, pos, 2, om)) return std::nullopt;
            }
            if (oh > 23 || om > 59) return std::nullopt;
            f.offset_minutes = (negative ? -1 : 1) * (oh * 60 + om);
        } else {
            return std::nullopt;
        }
    }
    if (pos != s.size()) return std::nullopt;
    if (f.second == 60) f.second = 59;  // a leap second is the last second of its minute
    if (!valid_calendar(f) || f.second > 59) return std::nullopt;
    if (f.hour > 24 || (f.hour == 24 && (f.minute != 0 || f.second != 0))) return std::nullopt;
    auto t = to_utc(f);
    if (!non_negative(t) || t >= sys_days{year{10000} / January / 1}) return std::nullopt;
    return t;
}

std::optional<seconds_utc> parse_pipeline_timestamp(std::string_view s) noexcept {
    fields f;
    std::size_t pos = 0;
    if (!read_digits(s, pos, 4, f.year) || !expect(s, pos, '-') || !read_digits(s, pos, 2, f.month) ||
        !expect(s, pos, '-') || !read_digits(s, pos, 2, f.day) || !expect(s, pos, '-') ||
        !read_digits(s, pos, 2, f.hour) || !expect(s, pos, ':') || !read_digits(s, pos, 2, f.minute) ||
        !expect(s, pos, ':') || !read_digits(s, pos, 2, f.second) || pos != s.size())
        return std::nullopt;
    if (!valid_calendar(f) || f.hour > 23 || f.second > 59) return std::nullopt;
    return to_utc(f);
}

pipeline_timestamp_text pipeline_timestamp_of(seconds_utc t) noexcept {
    auto days = floor<std::chrono::days>(t);
    year_month_day ymd{days};
    hh_mm_ss hms{t - days};
    // Fixed-width digits, not snprintf. Years stay below 10000 except one:
    // the month after December 9999 (a default synctimestamp), printed with
    // its fifth digit as %04d would.
    auto y = static_cast<unsigned>(static_cast<int>(ymd.year()));
    std::size_t o = y >= 10000 ? 1 : 0;
    pipeline_timestamp_text out;
    out.size = static_cast<std::uint8_t>(19 + o);
    char* text = out.chars.data();
    auto put = [text](std::size_t at, unsigned value, std::size_t width) {
        for (std::size_t i = width; i-- > 0; value /= 10) text[at + i] = static_cast<char>('0' + value % 10);
    };
    put(0, y, 4 + o);
    text[o + 4] = text[o + 7] = text[o + 10] = '-';
    text[o + 13] = text[o + 16] = ':';
    put(o + 5, static_cast<unsigned>(ymd.month()), 2);
    put(o + 8, static_cast<unsigned>(ymd.day()), 2);
    put(o + 11, static_cast<unsigned>(hms.hours().count()), 2);
    put(o + 14, static_cast<unsigned>(hms.minutes().count()), 2);
    put(o + 17, static_cast<unsigned>(hms.seconds().count()), 2);
    return out;
}

std::string format_pipeline_timestamp(seconds_utc t) { return std::string(pipeline_timestamp_of(t).view()); }

}  // namespace bsky::syntax
