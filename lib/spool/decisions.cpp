#include "spool/decisions.hpp"

#include <fmt/format.h>

namespace bsky::spool {

entry_kind classify_entry(std::string_view name) noexcept {
    // (A producer's `list.txt.tmp` is ignored by its extension.)
    if (name.empty() || name.front() == '.') return entry_kind::ignored;
    for (std::string_view ext : {".txt", ".csv", ".jsonl"})
        if (name.size() > ext.size() && name.ends_with(ext)) return entry_kind::did_list;
    return entry_kind::ignored;
}

std::string stored_name(std::string_view name, const std::function<bool(std::string_view)>& taken) {
    std::string candidate(name);
    auto dot = name.rfind('.');
    auto stem = name.substr(0, dot);
    auto ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot);
    for (int n = 2; taken(candidate); ++n) candidate = fmt::format("{}~{}{}", stem, n, ext);
    return candidate;
}

recovery_step next_recovery_step(const state::spool_file_row& row, const on_disk& disk) noexcept {
    switch (row.state) {
        case state::spool_state::recording: return recovery_step::roll_back;
        case state::spool_state::recorded:
            // The identity tells the file we recorded from a newer drop of the same
            // name (which will be read as a batch of its own).
            if (!disk.stored_copy && disk.in_spool && *disk.in_spool == row.identity) return recovery_step::move;
            return recovery_step::write_report;
        case state::spool_state::accepted: return recovery_step::check_finished;
        case state::spool_state::finished: return recovery_step::none;
    }
    return recovery_step::none;
}

}  // namespace bsky::spool
