#pragma once
// The spool protocol's decisions, without I/O: what a directory entry is,
// what name a file gets in accepted/ and finished/, and what recovery does
// with a spool row left behind by a crash, given what is on disk.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "state/state_store.hpp"

namespace bsky::spool {

enum class entry_kind {
    ignored,   ///< dotfiles, *.tmp, our own accepted/ finished/ rejected/, other extensions
    did_list,  ///< .txt, .csv or .jsonl: read it
};
entry_kind classify_entry(std::string_view name) noexcept;

/// The name under accepted/ and finished/: the dropped name the first time,
/// then `<stem>~<n><ext>` (e.g. `list~2.txt`) with the smallest n >= 2 that
/// `taken` does not refuse.
std::string stored_name(std::string_view name, const std::function<bool(std::string_view)>& taken);

/// What is on disk for a spool row (recovery looks before it acts).
struct on_disk {
    bool stored_copy = false;                          ///< accepted/<stored_name> exists
    std::optional<state::file_identity> in_spool;      ///< spool_dir/<name>, when it exists
};

enum class recovery_step {
    roll_back,       ///< recording: the batch is partial; delete it, the file is read again
    move,            ///< recorded, file still in spool_dir: move it, write the report
    write_report,    ///< recorded, already moved (or replaced by a newer drop): write the report
    check_finished,  ///< accepted: write the result once every DID ended
    none,            ///< finished
};
recovery_step next_recovery_step(const state::spool_file_row& row, const on_disk& disk) noexcept;

}  // namespace bsky::spool
