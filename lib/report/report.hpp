#pragma once
// What the state store knows about a backfill, as plain structs: DIDs by
// state, records by type, spool files and PDS hosts, the failures. Read by
// `bsky-backfill status`/`failures` (a read-only connection beside a running
// writer) and by the metrics exporter thread (the store's own connection);
// printed as a terminal table or as JSON (the same JSON feeds /status.json).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "state/sqlite.hpp"

namespace bsky::report {

using counts = std::map<std::string, std::int64_t, std::less<>>;

struct spool_file_summary {
    std::string name, state;
    counts dids;  ///< by DID status
    std::int64_t total = 0, records = 0;
    std::int64_t started_ms = 0, finished_ms = 0;  ///< 0: not yet
};

struct host_summary {
    std::string host;
    counts dids;  ///< by DID status (a DID's PDS is known once it has ended)
    std::int64_t total = 0, records = 0;
};

struct failure {
    std::string did, reason, pds;
    std::int64_t attempts = 0, at_ms = 0;
};

struct store_summary {
    counts dids;  ///< every status, zeros included
    std::int64_t total = 0, ended = 0;
    counts records;  ///< exported records of done DIDs, by type
    std::int64_t records_total = 0, bytes = 0;
    std::int64_t first_added_ms = 0, last_update_ms = 0;
    counts spool_files_by_state;
    std::vector<spool_file_summary> spool_files;  ///< the most recent ones, oldest first
    std::vector<host_summary> hosts;              ///< the busiest, then "other"
};

struct summary_limits {
    std::size_t spool_files = 100, hosts = 20;
};

/// Every figure in one read transaction. Throws state::sqlite_error.
store_summary summarize(state::database& db, summary_limits limits = {});
/// Failed DIDs, the latest first.
std::vector<failure> failures(state::database& db, std::size_t limit = static_cast<std::size_t>(1) << 30);
/// The store under `state_dir`, read-only; names the path and the fix when it is missing.
state::database open_read_only(const std::string& state_dir);

/// Figures only a running process has (the status page).
struct live_host {
    std::string host;
    double tokens = 0, paused_seconds = 0, in_flight = 0, rate_limited = 0;
};
struct sample {
    std::int64_t at_ms = 0;
    std::uint64_t records = 0, dids = 0;  ///< cumulative in this process
};
struct live_status {
    std::int64_t now_ms = 0;
    std::string version;
    std::vector<live_host> hosts;
    std::vector<sample> throughput;  ///< oldest first
};

/// DIDs per second over the last `window_ms` of samples (0 with fewer than two).
double dids_per_second(const std::vector<sample>& samples, std::int64_t window_ms = 300'000);

/// The JSON of `status --json` (live == nullptr) and of /status.json.
std::string to_json(const store_summary& s, const std::vector<failure>& recent, const live_status* live = nullptr);
std::string failures_json(const std::vector<failure>& f);
/// The terminal tables.
std::string format_status(const store_summary& s);
std::string format_failures(const std::vector<failure>& f);
/// "2026-12-02T11:26:51Z"; "" for 0.
std::string iso_time(std::int64_t ms);

}  // namespace bsky::report
