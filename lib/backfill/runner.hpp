#pragma once
// A one-shot backfill over a DID list (what `bsky-backfill run` does):
// record the DIDs durably, recover from an interrupted earlier run, skip DIDs
// already finished, and work through the rest in batches.
//
// run_dids is the in-memory form for short lists (tests, embedding): it goes
// through the same stored batch as the streaming form below.
#include <cstdio>
#include <functional>
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

/// Works through a batch already in the state store, `dids_per_batch` DIDs at
/// a time in input order, skipping DIDs that are final: memory stays bounded
/// however long the list is. Returns the number of DID batches.
boost::asio::awaitable<std::size_t> run_stored_batch(pipeline& p, exporter::exporter& exporter, std::int64_t batch,
                                                     std::size_t dids_per_batch, std::size_t concurrency,
                                                     std::function<void(did_outcome&&)> on_outcome = {});

/// Writes the summary of a stored batch to `out`, reading the state store in
/// passes rather than holding it; returns true when any DID failed or any
/// input line was rejected.
boost::asio::awaitable<bool> write_stored_summary(exporter::exporter& exporter, std::int64_t batch, std::size_t total_batches,
                                                  std::FILE* out);

}  // namespace bsky::backfill
