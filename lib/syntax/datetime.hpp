#pragma once
// Timestamps: the strict atproto datetime check, the lenient parser for
// real-world `createdAt` values, and the research pipeline's format
// "%Y-%m-%d-%H:%M:%S" (UTC).
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bsky::syntax {

using seconds_utc = std::chrono::sys_seconds;

/// Parses every real-world createdAt form: 'T' or ' ' separator, 'Z'/'z',
/// "+HH:MM", "+HHMM", "+HH" or no zone (taken as UTC), any number of
/// fractional digits (truncated), leap second 60 (clamped to 59), and hour 24
/// with zero minutes and seconds (the next day's midnight). nullopt when the
/// text is not a datetime or names an impossible calendar date.
std::optional<seconds_utc> parse_created_at(std::string_view text) noexcept;

/// Parses "%Y-%m-%d-%H:%M:%S" exactly (the config's and pipeline's form).
std::optional<seconds_utc> parse_pipeline_timestamp(std::string_view text) noexcept;
std::string format_pipeline_timestamp(seconds_utc t);

/// The same text held inline: one is made per exported record, and 19
/// characters are past std::string's small-string buffer.
struct pipeline_timestamp_text {
    std::array<char, 20> chars{};
    std::uint8_t size = 0;
    std::string_view view() const noexcept { return {chars.data(), size}; }
};
pipeline_timestamp_text pipeline_timestamp_of(seconds_utc t) noexcept;

}  // namespace bsky::syntax
