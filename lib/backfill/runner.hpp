#pragma once
// What a backfill over a DID list reports: the pinned final JSON of
// `bsky-backfill run` (and of a spool file's result), written from the state
// store row by row, or from outcomes held in memory for short lists.
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

/// A DID's outcome as the state store holds it (a DID finished by an earlier run).
boost::asio::awaitable<did_outcome> stored_outcome(exporter::exporter& exporter, std::string did);

/// The pinned summary: {"total_batches":N,"did_to_backfill_counts_map":{...},"failed":{...}}
/// plus "account_states" for DIDs that ended not_found / takendown / deactivated / suspended.
/// Rejected input lines are in "failed" keyed "source:line", with their text and reason as the value.
std::string summary_json(const run_report& report, const std::vector<state::rejected_input>& rejected);

/// Writes the summary of a stored batch to `out`, reading the state store in
/// passes rather than holding it; returns true when any DID failed or any
/// input line was rejected.
boost::asio::awaitable<bool> write_stored_summary(exporter::exporter& exporter, std::int64_t batch, std::size_t total_batches,
                                                  std::FILE* out);

}  // namespace bsky::backfill
