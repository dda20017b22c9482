#include "ops/status_monitor.hpp"

#include "export/exporter.hpp"
#include "ops/metrics_server.hpp"
#include "state/state_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

namespace bsky::ops {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

std::string probe_writable(const std::filesystem::path& dir) {
    // The sinks create their directory on their first write; one not made yet is
    // healthy when it can be made (an existing one is left as it is).
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
    auto probe = dir / (".bsky-healthz-" + std::to_string(::getpid()));
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return dir.string() + " does not take new files (" + std::strerror(errno) +
               "): the sinks cannot write there; make it a writable directory with free space";
    bool wrote = ::write(fd, "ok\n", 3) == 3;
    int write_errno = errno;
    ::close(fd);
    ::unlink(probe.c_str());
    if (!wrote) return dir.string() + ": writing a probe file failed (" + std::string(std::strerror(write_errno)) + "); free disk space";
    return "";
}

namespace {
std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
constexpr std::size_t samples_kept = 360;  // an hour of 10 s samples
}  // namespace

struct status_monitor::impl {
    impl(exporter::exporter& e, metrics::registry& r, monitor_options o, std::function<report::sample()> p,
         std::function<std::vector<report::live_host>()> h)
        : exporter(e),
          options(std::move(o)),
          progress(std::move(p)),
          hosts(std::move(h)),
          dids(r.gauge("bsky_state_dids", "DIDs in the state store by status (read from the store, not counted by this process)", "state")),
          records(r.gauge("bsky_state_records", "Records exported for the DIDs that are done, by record type (from the state store)", "type")),
          bytes(r.gauge("bsky_state_repo_bytes", "Repo (CAR) bytes fetched for the DIDs that ended (from the state store)")),
          spool_files(r.gauge("bsky_spool_files", "Spool files by state (recording, recorded, accepted, finished)", "state")),
          read_seconds(r.gauge("bsky_state_read_seconds", "How long the last read of the state store took")),
          exporter_wait(r.gauge("bsky_exporter_wait_seconds",
                                "How long the last read of the state store waited for the exporter thread (its backlog of commits and writes)")),
          healthy(r.gauge("bsky_healthy", "1 when /healthz answers 200")) {
        r.gauge("bsky_build_info", "The running version", "version").set(options.version, 1);
        r.on_scrape([this] { healthy.set(unhealthy_reason().empty() ? 1 : 0); });
    }

    exporter::exporter& exporter;
    monitor_options options;
    std::function<report::sample()> progress;
    std::function<std::vector<report::live_host>()> hosts;
    metrics::family &dids, &records, &bytes, &spool_files, &read_seconds, &exporter_wait, &healthy;

    report::store_summary summary;
    std::vector<report::failure> recent;
    std::string probe_error, read_error;
    clock::time_point started = clock::now(), heartbeat = clock::now(), last_read{};
    std::deque<report::sample> samples;
    bool stopped = false;
    asio::steady_timer *read_timer = nullptr, *beat_timer = nullptr;

    std::string unhealthy_reason() const {
        auto now = clock::now();
        auto secs = [](clock::duration d) { return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()); };
        if (now - heartbeat > options.stall_after)
            return "event loop stalled: its heartbeat timer last ran " + secs(now - heartbeat) + " s ago";
        if (!read_error.empty()) return read_error;
        if (!probe_error.empty()) return probe_error;
        auto since = last_read == clock::time_point{} ? started : last_read;
        auto allowed = std::max<clock::duration>(30s, options.interval * 10);
        if (now - since > allowed)
            return "the state store has not answered for " + secs(now - since) + " s (the exporter thread is busy or stuck)";
        return "";
    }

    void publish() {
        for (const auto& [status, n] : summary.dids) dids.set(status, static_cast<double>(n));
        records.clear();
        for (const auto& [type, n] : summary.records) records.set(type, static_cast<double>(n));
        bytes.set(static_cast<double>(summary.bytes));
        for (const auto& [state, n] : summary.spool_files_by_state) spool_files.set(state, static_cast<double>(n));
    }

    asio::awaitable<void> read_store() {
        report::store_summary fresh;
        std::vector<report::failure> latest;
        std::string probe, failure;
        auto began = clock::now();
        // The read queues behind every commit and write handed to the exporter
        // before it: the time until it starts is that backlog, which the state
        // store's own read time does not show.
        clock::duration waited{};
        auto work = [&](state::state_store& store) {
            waited = clock::now() - began;
            try {
                fresh = report::summarize(store.db());
                latest = report::failures(store.db(), 20);
            } catch (const std::exception& e) {
                failure = std::string("reading the state store failed: ") + e.what();
            }
            // On the exporter thread: the probes' file system calls never hold the loop.
            for (const auto& dir : options.writable_dirs)
                if (probe.empty()) probe = probe_writable(dir);
        };
        try {
            co_await exporter.visit(work);
        } catch (const std::exception& e) {
            failure = std::string("the exporter cannot read the state store: ") + e.what();
        }
        read_seconds.set(std::chrono::duration<double>(clock::now() - began).count());
        exporter_wait.set(std::chrono::duration<double>(waited).count());
        read_error = failure;
        probe_error = probe;
        if (failure.empty()) {
            summary = std::move(fresh);
            recent = std::move(latest);
            last_read = clock::now();
            publish();
        }
    }

    void take_sample() {
        auto s = progress();
        s.at_ms = wall_ms();
        samples.push_back(s);
        while (samples.size() > samples_kept) samples.pop_front();
    }

    asio::awaitable<void> reader() {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        read_timer = &timer;
        auto next_sample = clock::now();
        while (!stopped) {
            auto began = clock::now();
            co_await read_store();
            auto took = clock::now() - began;
            if (clock::now() >= next_sample) {
                take_sample();
                next_sample += 10s;
            }
            // A store of millions of DIDs takes a while to count: read it at most a tenth of the time.
            timer.expires_after(std::max<clock::duration>(options.interval, took * 10));
            auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
        }
        read_timer = nullptr;
    }

    // Runs on the event loop itself: a loop that stops turning stops it.
    asio::awaitable<void> beat() {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        beat_timer = &timer;
        while (!stopped) {
            heartbeat = clock::now();
            timer.expires_after(1s);
            auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
        }
        beat_timer = nullptr;
    }
};

status_monitor::status_monitor(exporter::exporter& exporter, metrics::registry& registry, monitor_options options,
                               std::function<report::sample()> progress, std::function<std::vector<report::live_host>()> hosts)
    : impl_(std::make_unique<impl>(exporter, registry, std::move(options), std::move(progress), std::move(hosts))) {}

status_monitor::~status_monitor() = default;

asio::awaitable<void> status_monitor::run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (impl_->reader() && impl_->beat());
}

asio::awaitable<void> status_monitor::refresh() { co_await impl_->read_store(); }

void status_monitor::stop() {
    impl_->stopped = true;
    if (impl_->read_timer) impl_->read_timer->cancel();
    if (impl_->beat_timer) impl_->beat_timer->cancel();
}

void status_monitor::serve_on(metrics_server& server) {
    server.set_health_check([this] { return unhealthy_reason(); });
    server.set_status_source([this] { return status_json(); });
}

std::string status_monitor::unhealthy_reason() const { return impl_->unhealthy_reason(); }

std::string status_monitor::status_json() const {
    report::live_status live;
    live.now_ms = wall_ms();
    live.version = impl_->options.version;
    live.hosts = impl_->hosts();
    live.throughput.assign(impl_->samples.begin(), impl_->samples.end());
    // The newest point is now, so the chart and the rate reach the present between samples.
    auto current = impl_->progress();
    current.at_ms = live.now_ms;
    live.throughput.push_back(current);
    return report::to_json(impl_->summary, impl_->recent, &live);
}

}  // namespace bsky::ops
