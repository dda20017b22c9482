#include "backfill/runner.hpp"

#include "cbor/dag_json.hpp"

#include <boost/json/parse.hpp>

namespace bsky::backfill {

namespace asio = boost::asio;

asio::awaitable<did_outcome> stored_outcome(exporter::exporter& exporter, std::string did) {
    did_outcome o;
    o.did = did;
    if (auto row = co_await exporter.get(did)) {
        o.status = row->status;
        o.error = row->last_error;
        o.rev = row->result.rev;
        o.pds = row->result.pds;
        boost::system::error_code ec;
        auto counts = boost::json::parse(row->result.counts_json.empty() ? "{}" : row->result.counts_json, ec);
        if (!ec && counts.is_object())
            for (const auto& kv : counts.get_object())
                if (kv.value().is_int64()) o.counts[std::string(kv.key())] = static_cast<std::uint64_t>(kv.value().get_int64());
    }
    co_return o;
}

namespace {

// One summary, whatever holds the rows: `rows(fn)` calls fn(did, status,
// counts_json, error) for each DID in order, `rejected(fn)` fn(line) for each
// rejected input line. A line is keyed by where it was ("source:line"), which
// is unique where its text need not be.
template <class Rows, class Rejected, class Out>
bool write_summary(std::size_t total_batches, Rows&& rows, Rejected&& rejected, Out&& out) {
    std::string buf = "{\"total_batches\":" + std::to_string(total_batches) + ",\"did_to_backfill_counts_map\":{";
    bool first = true, any_failed = false;
    auto flush = [&] {
        if (buf.size() > 65536) {
            out(buf);
            buf.clear();
        }
    };
    rows([&](const std::string& did, state::did_status status, const std::string& counts, const std::string&) {
        if (status != state::did_status::done) return;
        if (!first) buf.push_back(',');
        first = false;
        cbor::write_json_string(did, buf);
        buf += ":" + (counts.empty() ? std::string("{}") : counts);
        flush();
    });
    buf += "},\"failed\":{";
    first = true;
    auto add = [&](const std::string& key, const std::string& value) {
        if (!first) buf.push_back(',');
        first = false;
        cbor::write_json_string(key, buf);
        buf.push_back(':');
        cbor::write_json_string(value, buf);
        flush();
    };
    rejected([&](const state::rejected_input& line) {
        any_failed = true;
        add(line.source + ":" + std::to_string(line.line), "'" + line.text + "': " + line.reason);
    });
    rows([&](const std::string& did, state::did_status status, const std::string&, const std::string& error) {
        if (state::is_success(status)) return;
        any_failed = true;
        add(did, error.empty() ? (state::is_final(status) ? "failed" : "not finished: " + std::string(state::to_string(status))) : error);
    });
    buf += "},\"account_states\":{";
    first = true;
    rows([&](const std::string& did, state::did_status status, const std::string&, const std::string&) {
        if (state::is_success(status) && status != state::did_status::done) add(did, std::string(state::to_string(status)));
    });
    buf += "}}";
    out(buf);
    return any_failed;
}

}  // namespace

std::string summary_json(const run_report& report, const std::vector<state::rejected_input>& rejected) {
    std::string out;
    write_summary(
        report.total_batches,
        [&](auto&& fn) {
            for (const auto& o : report.outcomes) fn(o.did, o.status, counts_json(o.counts), o.error);
        },
        [&](auto&& fn) {
            for (const auto& line : rejected) fn(line);
        },
        [&](const std::string& piece) { out += piece; });
    return out;
}

asio::awaitable<bool> write_stored_summary(exporter::exporter& exporter, std::int64_t batch, std::size_t total_batches, std::FILE* out) {
    bool any_failed = false;
    co_await exporter.visit([&](state::state_store& store) {
        any_failed = write_summary(
            total_batches,
            [&](auto&& fn) {
                store.for_each_in_batch(batch, [&](const state::did_row& row) {
                    fn(row.did, row.status, row.result.counts_json, row.last_error);
                });
            },
            [&](auto&& fn) {
                store.for_each_rejected(batch, fn);
            },
            [&](const std::string& piece) { std::fwrite(piece.data(), 1, piece.size(), out); });
        std::fputc('\n', out);
        std::fflush(out);
    });
    co_return any_failed;
}

}  // namespace bsky::backfill
