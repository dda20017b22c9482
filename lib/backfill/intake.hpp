#pragma once
// DID lists as users hand them over: .txt one DID a line, .csv with a `did`
// column, .jsonl with a `did` field (and --dids arguments, read as .txt);
// blank lines and # comments ignored, a UTF-8 byte order mark and CRLF line
// ends accepted. Every rejected line is reported.
//
// CSV follows RFC 4180 (quoted fields, "" for a quote, a `did` header in any
// column and any case, spaces around fields dropped), one record a line: a
// quoted field that runs onto the next line is rejected with that reason.
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

namespace bsky::backfill {

struct rejected_line {
    std::string source;  ///< file name or "--dids"
    std::size_t line = 0;
    std::string text;
    std::string reason;
};

/// Reads a DID list line by line, so a list of tens of millions of DIDs
/// never has to be held in memory: feed() returns the line's DID, or nothing
/// (blank, comment, header, or rejected: see take_rejected()).
class did_line_reader {
public:
    /// `source` names the input in reports; its extension picks the format.
    explicit did_line_reader(std::string source);
    std::optional<std::string> feed(std::string_view line);
    /// Lines rejected since the last call (moved out).
    std::vector<rejected_line> take_rejected() { return std::exchange(rejected_, {}); }

private:
    std::string source_;
    bool csv_, jsonl_, header_done_;
    std::size_t did_column_ = 0, number_ = 0;
    bool no_did_column_ = false;
    std::vector<rejected_line> rejected_;
    std::vector<std::string> fields_;  ///< the current CSV row, reused
    bool continues_record_ = false;    ///< inside a quoted CSV field left open by line record_start_
    std::size_t record_start_ = 0;
};

}  // namespace bsky::backfill
