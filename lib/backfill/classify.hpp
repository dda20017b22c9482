#pragma once
// The original research service's record rules (SPEC §2.5): record type,
// createdAt -> synctimestamp, and the study time range.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cbor/value.hpp"
#include "syntax/datetime.hpp"

namespace bsky::backfill {

struct record_kind {
    /// The last segment of the collection NSID (`app.bsky.feed.like` -> `like`),
    /// "reply" for a post whose value has a `reply` field; always a
    /// syntax::is_output_name, or empty when the collection is not an NSID.
    std::string type;
    /// Why the record may not be exported (a `$type` that is not its
    /// collection, a collection that is not an NSID); empty when it may.
    std::string invalid_reason;
};

/// The record type comes from the MST path's collection, never from the
/// record's own `$type`, which only has to agree with it (or be absent): a
/// record chooses neither the file it lands in nor the type it counts as.
record_kind record_type(std::string_view collection, cbor::value_ref value);

struct time_range {
    std::chrono::sys_seconds start;
    std::chrono::sys_seconds end;  ///< inclusive
    bool contains(std::chrono::sys_seconds t) const noexcept { return t >= start && t <= end; }
};

/// The standardised stand-in for a timestamp outside the study range:
/// day <= 15 -> the 15th of that month, otherwise the 1st of the next month
/// (December -> January of the next year), at 00:00:00.
std::chrono::sys_seconds default_synctimestamp(std::chrono::sys_seconds created) noexcept;

struct synctime {
    std::optional<syntax::pipeline_timestamp_text> value;  ///< pipeline format; nullopt when createdAt is unusable
    bool in_range = false;
    std::string invalid_reason;        ///< set when value is nullopt
};

/// createdAt -> synctimestamp: the createdAt itself inside the range, the
/// default synctimestamp outside it.
synctime compute_synctimestamp(cbor::value_ref created_at, const time_range& range);

}  // namespace bsky::backfill
