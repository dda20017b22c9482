#include "backfill/intake.hpp"

#include "syntax/syntax.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <unordered_set>

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

void add_one(did_list& list, std::unordered_set<std::string>& seen, std::string_view did, const std::string& source,
             std::size_t line, std::string_view text) {
    if (!syntax::is_supported_did(did)) {
        std::string reason = syntax::is_did(did) ? "only did:plc and did:web DIDs can be backfilled"
                                                 : "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)";
        list.rejected.push_back({source, line, std::string(text.substr(0, 200)), reason});
        return;
    }
    if (!seen.insert(std::string(did)).second) {
        ++list.duplicates;
        return;
    }
    list.dids.emplace_back(did);
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

void add_did_text(did_list& list, std::string_view text, const std::string& source) {
    std::unordered_set<std::string> seen(list.dids.begin(), list.dids.end());
    bool csv = source.ends_with(".csv"), jsonl = source.ends_with(".jsonl");
    std::size_t did_column = 0;
    bool header_done = !csv;
    std::size_t number = 0;
    for (auto raw : split(text, '\n')) {
        ++number;
        auto line = trim(raw);
        if (line.empty() || line.front() == '#') continue;
        if (csv) {
            auto fields = split(line, ',');
            if (!header_done) {
                header_done = true;
                bool found = false;
                for (std::size_t i = 0; i < fields.size(); ++i)
                    if (trim(fields[i]) == "did") {
                        did_column = i;
                        found = true;
                    }
                if (!found) {
                    list.rejected.push_back({source, number, std::string(line.substr(0, 200)), "the CSV header has no 'did' column"});
                    return;
                }
                continue;
            }
            if (did_column >= fields.size()) {
                list.rejected.push_back({source, number, std::string(line.substr(0, 200)), "the row has no 'did' column"});
                continue;
            }
            add_one(list, seen, trim(fields[did_column]), source, number, line);
        } else if (jsonl) {
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            const boost::json::value* did = (!ec && v.is_object()) ? v.get_object().if_contains("did") : nullptr;
            if (!did || !did->is_string()) {
                list.rejected.push_back({source, number, std::string(line.substr(0, 200)), "not a JSON object with a string 'did' field"});
                continue;
            }
            add_one(list, seen, did->get_string(), source, number, line);
        } else {
            add_one(list, seen, line, source, number, line);
        }
    }
}

void add_did_argument(did_list& list, std::string_view argument) {
    std::unordered_set<std::string> seen(list.dids.begin(), list.dids.end());
    std::size_t n = 0;
    for (auto part : split(argument, ',')) {
        ++n;
        auto did = trim(part);
        if (did.empty()) continue;
        add_one(list, seen, did, "--dids", n, did);
    }
}

}  // namespace bsky::backfill
