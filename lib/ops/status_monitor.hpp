#pragma once
// Keeps the figures that must agree with the truth: every couple of seconds
// it reads the state store on the exporter thread (never blocking the event
// loop, never per scrape), publishes them as gauges, probes that the sinks'
// directories take a new file, and samples throughput every 10 s for the
// status page's hour-long chart. It also answers /healthz and /status.json.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "metrics/registry.hpp"
#include "report/report.hpp"

namespace bsky::exporter {
class exporter;
}

namespace bsky::ops {

class metrics_server;

struct monitor_options {
    /// Must take a new file (the output directory, the state directory).
    std::vector<std::filesystem::path> writable_dirs;
    /// Between two reads of the store; stretched to 10x the last read's time on huge stores.
    std::chrono::milliseconds interval{2000};
    /// The loop counts as stuck when its heartbeat is older than this.
    std::chrono::milliseconds stall_after{10000};
    std::string version;
};

/// Whether `dir` takes a new file: creates, writes and removes a probe file
/// (a real write, so it also fails for root on a read-only or full file
/// system, or when `dir` is not a directory). Returns the reason it does not, or "".
std::string probe_writable(const std::filesystem::path& dir);

/// @par Thread Safety
/// Not thread-safe: construct, run and query it on the event loop thread.
class status_monitor {
public:
    /// `progress`: this process's cumulative records and ended DIDs; `hosts`:
    /// the rate limiter's view of each host now.
    status_monitor(exporter::exporter& exporter, metrics::registry& registry, monitor_options options,
                   std::function<report::sample()> progress, std::function<std::vector<report::live_host>()> hosts);
    ~status_monitor();

    /// Reads, publishes and samples until stop().
    boost::asio::awaitable<void> run();
    void stop();
    /// One read now (the final figures at the end of a run).
    boost::asio::awaitable<void> refresh();

    /// Answers /healthz (503 with the reason) and /status.json on `server`.
    void serve_on(metrics_server& server);

    /// Why /healthz says 503, or "" when healthy.
    std::string unhealthy_reason() const;
    std::string status_json() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::ops
