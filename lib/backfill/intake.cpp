#include "backfill/intake.hpp"

#include "syntax/syntax.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

namespace bsky::backfill {

namespace {

constexpr std::string_view utf8_bom = "\xef\xbb\xbf";

std::string_view trim_space(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Why a string is not an acceptable DID; empty when it is.
std::string did_problem(std::string_view did) {
    if (syntax::is_supported_did(did)) return {};
    return syntax::is_did(did) ? "only did:plc and did:web DIDs can be backfilled"
                               : "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)";
}

enum class csv_fault { none, unclosed_quote, text_after_quote };

constexpr std::string_view spanning_records = "(records spanning lines are not supported)";

// One CSV record (RFC 4180) of a single line: fields separated by commas,
// optionally quoted ("" stands for a quote inside), spaces around a field
// dropped. On a fault, fields.size() is the number of the field at fault.
csv_fault split_csv(std::string_view line, std::vector<std::string>& fields) {
    fields.clear();
    std::size_t i = 0;
    for (;;) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::string& field = fields.emplace_back();
        if (i < line.size() && line[i] == '"') {
            for (++i;; ++i) {
                if (i >= line.size()) return csv_fault::unclosed_quote;
                if (line[i] != '"') field += line[i];
                else if (i + 1 < line.size() && line[i + 1] == '"') field += line[++i];
                else break;
            }
            ++i;  // the closing quote
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
            if (i < line.size() && line[i] != ',') return csv_fault::text_after_quote;
        } else {
            auto comma = std::min(line.find(',', i), line.size());
            field.assign(trim_space(line.substr(i, comma - i)));
            i = comma;
        }
        if (i >= line.size()) return csv_fault::none;
        ++i;  // the comma
    }
}

bool is_did_header(std::string_view name) {
    return name.size() == 3 && (name[0] | 0x20) == 'd' && (name[1] | 0x20) == 'i' && (name[2] | 0x20) == 'd';
}

}  // namespace

did_line_reader::did_line_reader(std::string source)
    : source_(std::move(source)), csv_(source_.ends_with(".csv")), jsonl_(source_.ends_with(".jsonl")), header_done_(!csv_) {}

std::optional<std::string> did_line_reader::feed(std::string_view raw) {
    if (++number_ == 1 && raw.starts_with(utf8_bom)) raw.remove_prefix(utf8_bom.size());
    auto line = trim_space(raw);
    if (line.empty() || no_did_column_) return std::nullopt;
    auto reject = [&](std::string reason) -> std::optional<std::string> {
        rejected_.push_back({source_, number_, std::string(line.substr(0, 200)), std::move(reason)});
        return std::nullopt;
    };
    if (csv_ && continues_record_) {
        // Even a line starting with '#' is inside the quoted field; an odd number of quotes closes it.
        if (std::count(line.begin(), line.end(), '"') % 2 == 1) continues_record_ = false;
        return reject("not a CSV row: the rest of the record that line " + std::to_string(record_start_) + " began " +
                      std::string(spanning_records));
    }
    if (line.front() == '#') return std::nullopt;
    std::string_view did;
    if (csv_) {
        switch (split_csv(line, fields_)) {
            case csv_fault::none: break;
            case csv_fault::unclosed_quote:
                continues_record_ = true;
                record_start_ = number_;
                return reject("not a CSV row: field " + std::to_string(fields_.size()) +
                              ": the quoted field is not closed on this line " + std::string(spanning_records));
            case csv_fault::text_after_quote:
                return reject("not a CSV row: field " + std::to_string(fields_.size()) + ": text after the closing quote");
        }
        if (!header_done_) {
            header_done_ = true;
            auto column = std::find_if(fields_.begin(), fields_.end(), [](const std::string& f) { return is_did_header(f); });
            if (column != fields_.end()) {
                did_column_ = static_cast<std::size_t>(column - fields_.begin());
                return std::nullopt;
            }
            no_did_column_ = true;
            return reject("the CSV header has no 'did' column");
        }
        if (did_column_ >= fields_.size())
            return reject("the row has " + std::to_string(fields_.size()) + " field(s); the 'did' column is field " +
                          std::to_string(did_column_ + 1));
        did = fields_[did_column_];
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
        if (did.size() >= 2 && did.front() == '"' && did.back() == '"') did = did.substr(1, did.size() - 2);
    }
    auto problem = did_problem(did);
    if (!problem.empty()) return reject(problem);
    return std::string(did);
}

}  // namespace bsky::backfill
