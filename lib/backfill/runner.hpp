#pragma once
// A one-shot backfill over a DID list (what `bsky-backfill run` does):
// record the DIDs durably, recover from an interrupted earlier run, skip DIDs
// already finished, and work through the rest in batches.
#include <map>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "backfill/pipeline.hpp"

namespace bsky::backfill {

struct run_report {
    std::size_t total_batches = 0;
    std::vector<did_outcome> outcomes;  ///< one per DID, input order (finished earlier ones included)
};

boost::asio::awaitable<run_report> run_dids(pipeline& p, exporter::exporter& exporter, std::vector<std::string> dids,
                                            std::size_t dids_per_batch, std::size_t concurrency, std::string source);

/// The pinned summary: {"total_batches":N,"did_to_backfill_counts_map":{...},"failed":{...}}
/// plus "account_states" for DIDs that ended not_found / takendown / deactivated / suspended.
std::string summary_json(const run_report& report, const std::vector<std::pair<std::string, std::string>>& rejected);

}  // namespace bsky::backfill
