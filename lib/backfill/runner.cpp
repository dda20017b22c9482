#include "backfill/runner.hpp"

#include "cbor/dag_json.hpp"

#include <boost/json/parse.hpp>

namespace bsky::backfill {

namespace asio = boost::asio;

asio::awaitable<run_report> run_dids(pipeline& p, exporter::exporter& exporter, std::vector<std::string> dids,
                                     std::size_t dids_per_batch, std::size_t concurrency, std::string source) {
    run_report report;
    co_await exporter.add_batch(source, dids);
    co_await exporter.recover();
    report.outcomes.resize(dids.size());
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < dids.size(); ++i) {
        auto row = co_await exporter.get(dids[i]);
        if (row && state::is_final(row->status)) {
            // Finished by an earlier run: report it from the state store.
            auto& o = report.outcomes[i];
            o.did = dids[i];
            o.status = row->status;
            o.error = row->last_error;
            o.rev = row->result.rev;
            o.pds = row->result.pds;
            boost::system::error_code ec;
            auto counts = boost::json::parse(row->result.counts_json.empty() ? "{}" : row->result.counts_json, ec);
            if (!ec && counts.is_object())
                for (const auto& kv : counts.get_object())
                    if (kv.value().is_int64()) o.counts[std::string(kv.key())] = static_cast<std::uint64_t>(kv.value().get_int64());
        } else {
            todo.push_back(i);
        }
    }
    dids_per_batch = std::max<std::size_t>(1, dids_per_batch);
    report.total_batches = (dids.size() + dids_per_batch - 1) / dids_per_batch;
    for (std::size_t start = 0; start < todo.size(); start += dids_per_batch) {
        std::vector<std::string> batch;
        for (std::size_t j = start; j < std::min(todo.size(), start + dids_per_batch); ++j) batch.push_back(dids[todo[j]]);
        auto outcomes = co_await p.backfill_all(batch, concurrency);
        for (std::size_t j = 0; j < outcomes.size(); ++j) report.outcomes[todo[start + j]] = std::move(outcomes[j]);
    }
    co_return report;
}

std::string summary_json(const run_report& report, const std::vector<std::pair<std::string, std::string>>& rejected) {
    std::string out = "{\"total_batches\":" + std::to_string(report.total_batches) + ",\"did_to_backfill_counts_map\":{";
    bool first = true;
    for (const auto& o : report.outcomes) {
        if (o.status != state::did_status::done) continue;
        if (!first) out.push_back(',');
        first = false;
        cbor::write_json_string(o.did, out);
        out += ":" + counts_json(o.counts);
    }
    out += "},\"failed\":{";
    first = true;
    auto add_failure = [&](const std::string& key, const std::string& reason) {
        if (!first) out.push_back(',');
        first = false;
        cbor::write_json_string(key, out);
        out.push_back(':');
        cbor::write_json_string(reason, out);
    };
    for (const auto& [what, why] : rejected) add_failure(what, why);
    for (const auto& o : report.outcomes)
        if (o.status == state::did_status::failed) add_failure(o.did, o.error.empty() ? "failed" : o.error);
    out += "},\"account_states\":{";
    first = true;
    for (const auto& o : report.outcomes) {
        if (!state::is_final(o.status) || o.status == state::did_status::done || o.status == state::did_status::failed) continue;
        if (!first) out.push_back(',');
        first = false;
        cbor::write_json_string(o.did, out);
        out.push_back(':');
        cbor::write_json_string(state::to_string(o.status), out);
    }
    return out + "}}";
}

}  // namespace bsky::backfill
