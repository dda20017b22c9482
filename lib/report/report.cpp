#include "report/report.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

namespace bsky::report {

namespace json = boost::json;

namespace {

constexpr const char* statuses[] = {"pending", "running", "committing", "done", "failed",
                                    "not_found", "takendown", "deactivated", "suspended"};

bool is_ended(std::string_view status) {
    return status != "pending" && status != "running" && status != "committing";
}

counts zero_statuses() {
    counts c;
    for (const char* s : statuses) c[s] = 0;
    return c;
}

// The PDS column holds the service URL; hosts are named as the rate limiter names them.
std::string host_of(std::string url) {
    if (auto p = url.find("://"); p != std::string::npos) url.erase(0, p + 3);
    if (auto p = url.find('/'); p != std::string::npos) url.erase(p);
    return url;
}

void read_statuses(state::database& db, store_summary& s) {
    s.dids = zero_statuses();
    auto st = db.prepare("SELECT status, COUNT(*), COALESCE(SUM(bytes), 0), MIN(created_at), MAX(updated_at) FROM dids GROUP BY status");
    while (st.step()) {
        auto status = st.column_text(0);
        auto n = st.column_int(1);
        s.dids[status] += n;
        s.total += n;
        if (is_ended(status)) s.ended += n;
        s.bytes += st.column_int(2);
        auto first = st.column_int(3), last = st.column_int(4);
        if (first && (!s.first_added_ms || first < s.first_added_ms)) s.first_added_ms = first;
        s.last_update_ms = std::max(s.last_update_ms, last);
    }
}

void read_records(state::database& db, store_summary& s) {
    auto st = db.prepare("SELECT j.key, SUM(j.value) FROM dids d, json_each(d.counts) j WHERE d.status = 'done' GROUP BY j.key");
    while (st.step()) {
        s.records[st.column_text(0)] = st.column_int(1);
        s.records_total += st.column_int(1);
    }
}

void read_spool_files(state::database& db, store_summary& s, std::size_t limit) {
    auto by_state = db.prepare("SELECT state, COUNT(*) FROM spool_files GROUP BY state");
    for (const char* st : {"recording", "recorded", "accepted", "finished"}) s.spool_files_by_state[st] = 0;
    while (by_state.step()) s.spool_files_by_state[by_state.column_text(0)] = by_state.column_int(1);
    auto st = db.prepare(
        "SELECT s.id, s.name, s.state, s.created_at, s.updated_at, d.status, COUNT(d.did), COALESCE(SUM(d.records), 0) "
        "FROM spool_files s LEFT JOIN batch_dids b ON b.batch = s.batch LEFT JOIN dids d ON d.did = b.did "
        "WHERE s.id IN (SELECT id FROM spool_files ORDER BY id DESC LIMIT ?) GROUP BY s.id, d.status ORDER BY s.id");
    st.bind(1, static_cast<std::int64_t>(limit));
    std::int64_t current = -1;
    while (st.step()) {
        if (st.column_int(0) != current) {
            current = st.column_int(0);
            auto& f = s.spool_files.emplace_back();
            f.name = st.column_text(1);
            f.state = st.column_text(2);
            f.dids = zero_statuses();
            f.started_ms = st.column_int(3);
            if (f.state == "finished") f.finished_ms = st.column_int(4);
        }
        auto& f = s.spool_files.back();
        if (st.column_is_null(5)) continue;
        f.dids[st.column_text(5)] += st.column_int(6);
        f.total += st.column_int(6);
        if (st.column_text(5) == "done") f.records += st.column_int(7);
    }
}

void read_hosts(state::database& db, store_summary& s, std::size_t limit) {
    std::map<std::string, host_summary> hosts;
    auto st = db.prepare(
        "SELECT pds, status, COUNT(*), COALESCE(SUM(records), 0) FROM dids WHERE pds IS NOT NULL AND pds <> '' GROUP BY pds, status");
    while (st.step()) {
        auto name = host_of(st.column_text(0));
        auto& h = hosts[name];
        h.host = name;
        h.dids[st.column_text(1)] += st.column_int(2);
        h.total += st.column_int(2);
        h.records += st.column_int(3);
    }
    std::vector<host_summary> sorted;
    for (auto& [_, h] : hosts) sorted.push_back(std::move(h));
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.total > b.total; });
    if (sorted.size() > limit) {
        host_summary other{"other", {}, 0, 0};
        for (auto it = sorted.begin() + static_cast<std::ptrdiff_t>(limit); it != sorted.end(); ++it) {
            for (const auto& [k, v] : it->dids) other.dids[k] += v;
            other.total += it->total;
            other.records += it->records;
        }
        sorted.resize(limit);
        sorted.push_back(std::move(other));
    }
    s.hosts = std::move(sorted);
}

}  // namespace

store_summary summarize(state::database& db, summary_limits limits) {
    store_summary s;
    // One snapshot: the figures agree with each other while the writer goes on.
    db.exec("BEGIN");
    try {
        read_statuses(db, s);
        read_records(db, s);
        read_spool_files(db, s, limits.spool_files);
        read_hosts(db, s, limits.hosts);
    } catch (...) {
        db.exec("ROLLBACK");
        throw;
    }
    db.exec("COMMIT");
    return s;
}

std::vector<failure> failures(state::database& db, std::size_t limit) {
    auto st = db.prepare(
        "SELECT did, attempts, COALESCE(last_error, ''), COALESCE(pds, ''), COALESCE(updated_at, 0) FROM dids "
        "WHERE status = 'failed' ORDER BY updated_at DESC, did LIMIT ?");
    st.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    std::vector<failure> out;
    while (st.step()) out.push_back({st.column_text(0), st.column_text(2), host_of(st.column_text(3)), st.column_int(1), st.column_int(4)});
    return out;
}

state::database open_read_only(const std::string& state_dir) {
    auto path = std::filesystem::path(state_dir) / "state.db";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw state::sqlite_error(path.string() +
                                  ": no state store there; pass --state-dir (the run's --output-dir/state, or the daemon's state_dir)");
    return state::database(path, state::database::read_only_t{});
}

std::string iso_time(std::int64_t ms) {
    if (ms <= 0) return "";
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double dids_per_second(const std::vector<sample>& samples, std::int64_t window_ms) {
    if (samples.size() < 2) return 0;
    const auto& last = samples.back();
    auto first = samples.begin();
    while (std::next(first) != samples.end() && last.at_ms - first->at_ms > window_ms) ++first;
    if (last.at_ms <= first->at_ms) return 0;
    return static_cast<double>(last.dids - first->dids) * 1000.0 / static_cast<double>(last.at_ms - first->at_ms);
}

namespace {

json::object to_object(const counts& c) {
    json::object o;
    for (const auto& [k, v] : c) o[k] = v;
    return o;
}

json::value time_or_null(std::int64_t ms) { return ms ? json::value(iso_time(ms)) : json::value(nullptr); }

json::array failures_array(const std::vector<failure>& f) {
    json::array a;
    for (const auto& x : f)
        a.push_back(json::object{{"did", x.did}, {"attempts", x.attempts}, {"reason", x.reason}, {"pds", x.pds}, {"at", time_or_null(x.at_ms)}});
    return a;
}

json::array spool_array(const store_summary& s) {
    json::array a;
    for (const auto& f : s.spool_files)
        a.push_back(json::object{{"name", f.name}, {"state", f.state}, {"dids", to_object(f.dids)}, {"total", f.total},
                                 {"records", f.records}, {"started_at", time_or_null(f.started_ms)},
                                 {"finished_at", time_or_null(f.finished_ms)}});
    return a;
}

// Store figures per host, joined with what the rate limiter holds now.
json::array hosts_array(const store_summary& s, const live_status* live) {
    std::map<std::string, json::object> by_host;
    std::vector<std::string> order;
    for (const auto& h : s.hosts) {
        order.push_back(h.host);
        by_host[h.host] = json::object{{"host", h.host}, {"dids", to_object(h.dids)}, {"total", h.total}, {"records", h.records}};
    }
    if (live)
        for (const auto& h : live->hosts) {
            auto [it, added] = by_host.try_emplace(h.host, json::object{{"host", h.host}, {"dids", to_object(zero_statuses())}, {"total", 0},
                                                                         {"records", 0}});
            if (added) order.push_back(h.host);
            auto& o = it->second;
            o["in_flight"] = h.in_flight;
            o["tokens"] = h.tokens;
            o["rate_limited"] = h.rate_limited;
            o["paused_seconds"] = h.paused_seconds;
            o["paused_until"] = h.paused_seconds > 0 ? json::value(iso_time(live->now_ms + static_cast<std::int64_t>(h.paused_seconds * 1000)))
                                                     : json::value(nullptr);
        }
    json::array a;
    for (const auto& name : order) a.push_back(std::move(by_host[name]));
    return a;
}

json::object live_object(const store_summary& s, const live_status& live) {
    json::array samples;
    for (const auto& x : live.throughput) samples.push_back(json::array{x.at_ms, x.records, x.dids});
    double rate = dids_per_second(live.throughput);
    auto remaining = s.total - s.ended;
    json::value eta = rate > 0 ? json::value(static_cast<double>(remaining) / rate) : json::value(nullptr);
    if (remaining == 0) eta = 0;
    return json::object{{"now", iso_time(live.now_ms)}, {"version", live.version}, {"dids_per_second", rate},
                        {"eta_seconds", eta}, {"throughput", std::move(samples)}};
}

}  // namespace

std::string to_json(const store_summary& s, const std::vector<failure>& recent, const live_status* live) {
    json::object o{{"dids", to_object(s.dids)},
                   {"total", s.total},
                   {"ended", s.ended},
                   {"records", to_object(s.records)},
                   {"records_total", s.records_total},
                   {"bytes", s.bytes},
                   {"first_added_at", time_or_null(s.first_added_ms)},
                   {"last_update_at", time_or_null(s.last_update_ms)},
                   {"spool_files_by_state", to_object(s.spool_files_by_state)},
                   {"spool_files", spool_array(s)},
                   {"hosts", hosts_array(s, live)},
                   {"failures", failures_array(recent)}};
    if (live) o["live"] = live_object(s, *live);
    return json::serialize(o);
}

std::string failures_json(const std::vector<failure>& f) { return json::serialize(json::object{{"failed", failures_array(f)}}); }

namespace {

template <class... A>
void appendf(std::string& out, const char* fmt, A... a) {
    char buf[512];
    int n = std::snprintf(buf, sizeof buf, fmt, a...);
    if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

std::string or_dash(std::string s) { return s.empty() ? "-" : s; }

}  // namespace

std::string format_status(const store_summary& s) {
    std::string out;
    double pct = s.total ? 100.0 * static_cast<double>(s.ended) / static_cast<double>(s.total) : 100.0;
    appendf(out, "DIDs: %lld total, %lld ended (%.1f%%)\n", static_cast<long long>(s.total), static_cast<long long>(s.ended), pct);
    for (const auto& [k, v] : s.dids)
        if (v) appendf(out, "  %-12s %lld\n", k.c_str(), static_cast<long long>(v));
    appendf(out, "records: %lld exported, %.1f MB of repos fetched\n", static_cast<long long>(s.records_total),
            static_cast<double>(s.bytes) / 1e6);
    for (const auto& [k, v] : s.records) appendf(out, "  %-12s %lld\n", k.c_str(), static_cast<long long>(v));
    if (!s.spool_files.empty()) {
        appendf(out, "spool files:\n  %-32s %-9s %7s %7s %7s %7s %9s  %-20s %-20s\n", "FILE", "STATE", "DIDS", "DONE", "FAILED", "PENDING",
                "RECORDS", "STARTED", "FINISHED");
        for (const auto& f : s.spool_files) {
            auto get = [&](const char* k) { return static_cast<long long>(f.dids.at(k)); };
            appendf(out, "  %-32s %-9s %7lld %7lld %7lld %7lld %9lld  %-20s %-20s\n", f.name.c_str(), f.state.c_str(),
                    static_cast<long long>(f.total), get("done"), get("failed"), get("pending") + get("running") + get("committing"),
                    static_cast<long long>(f.records), or_dash(iso_time(f.started_ms)).c_str(), or_dash(iso_time(f.finished_ms)).c_str());
        }
    }
    if (!s.hosts.empty()) {
        appendf(out, "hosts (DIDs that ended):\n  %-40s %7s %7s %9s\n", "HOST", "DONE", "FAILED", "RECORDS");
        for (const auto& h : s.hosts) {
            auto get = [&](const char* k) {
                auto it = h.dids.find(k);
                return static_cast<long long>(it == h.dids.end() ? 0 : it->second);
            };
            appendf(out, "  %-40s %7lld %7lld %9lld\n", h.host.c_str(), get("done"), get("failed"), static_cast<long long>(h.records));
        }
    }
    if (s.dids.at("failed")) out += "see `bsky-backfill failures` for the reasons; `bsky-backfill run --retry-failed` queues them again\n";
    return out;
}

std::string format_failures(const std::vector<failure>& f) {
    if (f.empty()) return "no failed DIDs\n";
    std::string out;
    appendf(out, "%-32s %8s  %-20s  %s\n", "DID", "ATTEMPTS", "WHEN", "REASON");
    for (const auto& x : f) {
        out += x.did;
        out.append(x.did.size() < 32 ? 32 - x.did.size() : 0, ' ');
        appendf(out, " %8lld  %-20s  ", static_cast<long long>(x.attempts), or_dash(iso_time(x.at_ms)).c_str());
        out += x.reason.empty() ? "-" : x.reason;
        out += '\n';
    }
    appendf(out, "%zu failed; `bsky-backfill run --retry-failed` (same --output-dir or --config) queues them again\n", f.size());
    return out;
}

}  // namespace bsky::report
