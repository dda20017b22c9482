#include "backfill/classify.hpp"

#include "syntax/datetime.hpp"

namespace bsky::backfill {

using namespace std::chrono;

std::string record_type(std::string_view collection, cbor::value_ref value) {
    auto type = value["$type"];
    std::string_view nsid = type.is(cbor::kind::string) ? type.as_string() : collection;
    auto dot = nsid.rfind('.');
    std::string_view last = dot == std::string_view::npos ? nsid : nsid.substr(dot + 1);
    if (last == "post" && value["reply"].valid()) return "reply";
    return std::string(last);
}

sys_seconds default_synctimestamp(sys_seconds created) noexcept {
    year_month_day ymd{floor<days>(created)};
    if (static_cast<unsigned>(ymd.day()) <= 15) return sys_days{ymd.year() / ymd.month() / 15};
    auto next = year_month{ymd.year(), ymd.month()} + months{1};
    return sys_days{next / 1};
}

synctime compute_synctimestamp(cbor::value_ref created_at, const time_range& range) {
    synctime out;
    if (!created_at.valid()) {
        out.invalid_reason = "no createdAt";
        return out;
    }
    if (!created_at.is(cbor::kind::string)) {
        out.invalid_reason = "createdAt is not a string";
        return out;
    }
    auto parsed = syntax::parse_created_at(created_at.as_string());
    if (!parsed) {
        out.invalid_reason = "unparseable createdAt '" + std::string(created_at.as_string().substr(0, 64)) + "'";
        return out;
    }
    out.in_range = range.contains(*parsed);
    out.value = syntax::pipeline_timestamp_of(out.in_range ? *parsed : default_synctimestamp(*parsed));
    return out;
}

}  // namespace bsky::backfill
