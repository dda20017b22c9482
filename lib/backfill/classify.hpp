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

/// Last segment of `$type` (falling back to the collection NSID when `$type`
/// is absent); a post whose value has a `reply` field is a "reply".
std::string record_type(std::string_view collection, cbor::value_ref value);

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
