#include "backfill/runner.hpp"

#include "cbor/dag_json.hpp"

#include <boost/json/parse.hpp>

namespace bsky::backfill {

namespace asio = boost::asio;

asio::awaitable<run_report> run_dids(pipeline& p, exporter::exporter& exporter, std::vector<std::string> dids,
                                     std::size_t dids_per_batch, std::size_t concurrency, std::string source) {
    run_report report;
    auto batch = co_await exporter.begin_batch(source);
    co_await exporter.add_to_batch(batch, dids);
    std::map<std::string, did_outcome> fresh;
    report.total_batches = co_await run_stored_batch(p, exporter, batch, dids_per_batch, concurrency,
                                                     [&](did_outcome&& o) { fresh[o.did] = std::move(o); });
    for (const auto& did : dids) {
        if (auto it = fresh.find(did); it != fresh.end()) {
            report.outcomes.push_back(it->second);
            continue;
        }
        // Finished by an earlier run: report it from the state store.
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
        report.outcomes.push_back(std::move(o));
    }
    co_return report;
}

namespace {

// One summary, whatever holds the rows: `rows(fn)` calls fn(did, status,
// counts_json, error) for each DID in order, `rejected(fn)` fn(text, reason).
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
    rejected([&](const std::string& text, const std::string& reason) {
        any_failed = true;
        add(text, reason);
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

std::string summary_json(const run_report& report, const std::vector<std::pair<std::string, std::string>>& rejected) {
    std::string out;
    write_summary(
        report.total_batches,
        [&](auto&& fn) {
            for (const auto& o : report.outcomes) fn(o.did, o.status, counts_json(o.counts), o.error);
        },
        [&](auto&& fn) {
            for (const auto& [text, reason] : rejected) fn(text, reason);
        },
        [&](const std::string& piece) { out += piece; });
    return out;
}

asio::awaitable<std::size_t> run_stored_batch(pipeline& p, exporter::exporter& exporter, std::int64_t batch,
                                              std::size_t dids_per_batch, std::size_t concurrency,
                                              std::function<void(did_outcome&&)> on_outcome) {
    co_await exporter.recover();
    dids_per_batch = std::max<std::size_t>(1, dids_per_batch);
    auto total = static_cast<std::size_t>(co_await exporter.batch_count(batch));
    std::int64_t after = 0;
    for (;;) {
        auto next = co_await exporter.unfinished(batch, after, dids_per_batch);
        if (next.empty()) break;
        after = next.back().first;
        std::vector<std::string> dids;
        for (auto& [seq, did] : next) dids.push_back(std::move(did));
        auto outcomes = co_await p.backfill_all(std::move(dids), concurrency);
        if (on_outcome)
            for (auto& o : outcomes) on_outcome(std::move(o));
    }
    co_return (total + dids_per_batch - 1) / dids_per_batch;
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
                store.for_each_rejected(batch, [&](const state::rejected_input& r) {
                    fn(r.text, r.source + ":" + std::to_string(r.line) + ": " + r.reason);
                });
            },
            [&](const std::string& piece) { std::fwrite(piece.data(), 1, piece.size(), out); });
        std::fputc('\n', out);
        std::fflush(out);
    });
    co_return any_failed;
}

}  // namespace bsky::backfill
