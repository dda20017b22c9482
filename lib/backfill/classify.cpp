#include "backfill/classify.hpp"

#include "syntax/datetime.hpp"
#include "syntax/syntax.hpp"

namespace bsky::backfill {

using namespace std::chrono;

namespace {
// Hostile text goes into log lines: keep it short and printable.
std::string quoted(std::string_view text) {
    std::string out = "'";
    for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out + (text.size() > 64 ? "...'" : "'");
}
}  // namespace

record_kind record_type(std::string_view collection, cbor::value_ref value) {
    record_kind out;
    auto last = collection.substr(collection.rfind('.') + 1);
    if (!syntax::is_nsid(collection) || !syntax::is_output_name(last)) {
        out.invalid_reason = "collection " + quoted(collection) + " is not an NSID";
        return out;
    }
    out.type = last == "post" && value["reply"].valid() ? "reply" : std::string(last);
    auto declared = value["$type"];
    if (!declared.valid()) return out;
    if (!declared.is(cbor::kind::string)) out.invalid_reason = "$type is not a string";
    else if (declared.as_string() != collection)
        out.invalid_reason = "$type " + quoted(declared.as_string()) + " does not match its collection " + std::string(collection);
    return out;
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
