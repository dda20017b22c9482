#include "service/list_intake.hpp"

#include "backfill/intake.hpp"

namespace bsky::service {

namespace asio = boost::asio;

asio::awaitable<void> record_lines(exporter::exporter& exporter, std::int64_t batch, std::string source,
                                   std::function<bool(std::string& line)> next_line, log::logger& logger, intake_totals& totals) {
    // One transaction (and fsync) per chunk, inserted in DID order (state_store::add_to_batch):
    // the larger the chunk, the fewer passes over the DID-keyed B-trees. ~8 MB of DIDs.
    constexpr std::size_t chunk_size = 100'000;
    constexpr std::size_t lines_logged = 100;  // every rejected line is in the summary; the log shows the first ones
    backfill::did_line_reader reader(source);
    std::vector<std::string> chunk;
    auto flush = [&](bool at_end) -> asio::awaitable<void> {
        auto rejected = reader.take_rejected();
        if (!rejected.empty()) {
            std::vector<state::rejected_input> rows;
            for (auto& r : rejected) {
                if (++totals.rejected <= lines_logged) logger.warn("{}:{}: '{}' skipped: {}", r.source, r.line, r.text, r.reason);
                rows.push_back({r.source, static_cast<std::int64_t>(r.line), std::move(r.text), std::move(r.reason)});
            }
            co_await exporter.add_rejected(batch, std::move(rows));
        }
        if (chunk.size() >= chunk_size || (at_end && !chunk.empty())) {
            auto size = chunk.size();
            auto duplicates = co_await exporter.add_to_batch(batch, std::exchange(chunk, {}));
            totals.duplicates += duplicates;
            totals.accepted += size - duplicates;
        }
    };
    std::size_t lines = 0;
    for (std::string line; next_line(line);) {
        if (auto did = reader.feed(line)) chunk.push_back(std::move(*did));
        if (++lines % chunk_size == 0) co_await flush(false);
    }
    co_await flush(true);
    if (totals.rejected > lines_logged)
        logger.warn("{} more input lines skipped (all are in the summary)", totals.rejected - lines_logged);
}

}  // namespace bsky::service
