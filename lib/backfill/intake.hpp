#pragma once
// DID lists as users hand them over: comma-separated arguments and files
// (.txt one DID a line, .csv with a `did` column, .jsonl with a `did` field;
// blank lines and # comments ignored). Every rejected line is reported.
#include <string>
#include <string_view>
#include <vector>

namespace bsky::backfill {

struct rejected_line {
    std::string source;  ///< file name or "--dids"
    std::size_t line = 0;
    std::string text;
    std::string reason;
};

struct did_list {
    std::vector<std::string> dids;  ///< valid, de-duplicated, in first-seen order
    std::vector<rejected_line> rejected;
    std::size_t duplicates = 0;
};

/// Adds the DIDs of `text`; `source` names it in reports and picks the format by extension.
void add_did_text(did_list& list, std::string_view text, const std::string& source);
/// Adds "did1,did2,...".
void add_did_argument(did_list& list, std::string_view argument);

}  // namespace bsky::backfill
