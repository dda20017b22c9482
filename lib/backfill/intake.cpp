#include "backfill/intake.hpp"

#include "syntax/syntax.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>


namespace bsky::backfill {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\xef' ||
                          s.front() == '\xbb' || s.front() == '\xbf'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

// Why a string is not an acceptable DID; empty when it is.
std::string did_problem(std::string_view did) {
    if (syntax::is_supported_did(did)) return {};
    return syntax::is_did(did) ? "only did:plc and did:web DIDs can be backfilled"
                               : "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)";
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (std::size_t start = 0;;) {
        auto end = s.find(sep, start);
        out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return out;
        start = end + 1;
    }
}

}  // namespace

did_line_reader::did_line_reader(std::string source)
    : source_(std::move(source)), csv_(source_.ends_with(".csv")), jsonl_(source_.ends_with(".jsonl")), header_done_(!csv_) {}

std::optional<std::string> did_line_reader::feed(std::string_view raw) {
    ++number_;
    auto line = trim(raw);
    if (line.empty() || line.front() == '#' || no_did_column_) return std::nullopt;
    auto reject = [&](std::string reason) -> std::optional<std::string> {
        rejected_.push_back({source_, number_, std::string(line.substr(0, 200)), std::move(reason)});
        return std::nullopt;
    };
    std::string_view did;
    if (csv_) {
        auto fields = split(line, ',');
        if (!header_done_) {
            header_done_ = true;
            for (std::size_t i = 0; i < fields.size(); ++i)
                if (trim(fields[i]) == "did") {
                    did_column_ = i;
                    return std::nullopt;
                }
            no_did_column_ = true;
            return reject("the CSV header has no 'did' column");
        }
        if (did_column_ >= fields.size()) return reject("the row has no 'did' column");
        did = trim(fields[did_column_]);
    } else if (jsonl_) {
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        const boost::json::value* field = (!ec && v.is_object()) ? v.get_object().if_contains("did") : nullptr;
        if (!field || !field->is_string()) return reject("not a JSON object with a string 'did' field");
        auto problem = did_problem(std::string_view(field->get_string()));
        if (!problem.empty()) return reject(problem);
        return std::string(field->get_string());
    } else {
        did = line;
    }
    auto problem = did_problem(did);
    if (!problem.empty()) return reject(problem);
    return std::string(did);
}

}  // namespace bsky::backfill
