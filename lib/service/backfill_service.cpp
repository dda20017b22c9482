#include "service/backfill_service.hpp"

#include "backfill/settings.hpp"
#include "metrics/registry.hpp"
#include "net/fetcher.hpp"
#include "net/http_client.hpp"
#include "ops/status_monitor.hpp"
#include "rate/host_limiter.hpp"
#include "resolve/resolver.hpp"
#include "schedule/work_loop.hpp"
#include "state/state_store.hpp"

namespace bsky::service {

namespace asio = boost::asio;

namespace {

schedule::loop_params loop_settings(const config::config& cfg) {
    schedule::loop_params p;
    p.scheduling.max_in_flight = cfg.rate_limits.max_concurrent_fetches;
    p.scheduling.max_in_flight_per_host = cfg.rate_limits.max_concurrent_per_host;
    p.scheduling.max_waiting = cfg.resolve.lookahead_dids;
    p.lookups_in_flight = cfg.resolve.concurrent_lookups;
    return p;
}

}  // namespace

// Declared in dependency order: each part refers only to parts above it, so
// destruction (in reverse) never leaves a dangling reference.
struct backfill_service::impl {
    impl(asio::any_io_executor ex, const config::config& cfg, log::logger& logger)
        : pds_client(ex, backfill::client_settings(cfg)),
          plc_client(ex, backfill::client_settings(cfg)),
          pds_limiter(ex, backfill::pds_limiter_settings(cfg)),
          plc_limiter(ex, backfill::plc_limiter_settings(cfg)),
          pds_fetcher(pds_client, pds_limiter, backfill::retry_settings(cfg)),
          plc_fetcher(plc_client, plc_limiter, backfill::retry_settings(cfg)),
          plc_export(backfill::make_plc_export(cfg, logger)),
          resolver(plc_fetcher, backfill::resolver_settings(cfg)),
          exporter(backfill::make_sink(cfg, logger), cfg.state_dir),
          pipeline(pds_fetcher, resolver, exporter, backfill::pipeline_settings(cfg), logger),
          loop(pipeline, resolver, pds_limiter, logger, loop_settings(cfg)) {
        resolver.use_plc_export(plc_export.get());
    }

    net::http_client pds_client, plc_client;
    rate::host_limiter pds_limiter, plc_limiter;
    net::fetcher pds_fetcher, plc_fetcher;
    std::unique_ptr<resolve::plc_export_index> plc_export;  ///< null without resolve.plc_export
    resolve::resolver resolver;
    exporter::exporter exporter;
    backfill::pipeline pipeline;
    schedule::work_loop loop;
};

backfill_service::backfill_service(asio::any_io_executor executor, const config::config& cfg, log::logger& logger,
                                   metrics::registry* registry)
    : impl_(std::make_unique<impl>(std::move(executor), cfg, logger)) {
    if (!registry) return;
    impl_->pds_fetcher.attach_metrics(*registry, "pds");
    impl_->plc_fetcher.attach_metrics(*registry, "plc");
    impl_->pds_limiter.attach_metrics(*registry);
    impl_->plc_limiter.attach_metrics(*registry);
    impl_->resolver.attach_metrics(*registry);
    impl_->pipeline.attach_metrics(*registry);
    auto& lookahead = registry->gauge("bsky_dids_waiting", "DIDs resolved ahead and queued for their PDS host");
    auto& hosts = registry->gauge("bsky_hosts_with_work", "PDS hosts with DIDs queued or in flight");
    auto& exporter_queue = registry->gauge("bsky_exporter_queue_depth",
                                           "Operations waiting for or running on the exporter thread (sink and state store backlog)");
    registry->on_scrape([this, &lookahead, &hosts, &exporter_queue] {
        auto s = impl_->loop.snapshot();
        lookahead.set(static_cast<double>(s.waiting));
        hosts.set(static_cast<double>(s.hosts));
        exporter_queue.set(static_cast<double>(impl_->exporter.queue_depth()));
    });
}

backfill_service::~backfill_service() = default;

std::vector<report::live_host> backfill_service::host_status() {
    auto hosts = impl_->pds_limiter.snapshot();
    std::vector<std::pair<std::string, double>> weights;
    for (const auto& [host, s] : hosts) weights.emplace_back(host, static_cast<double>(s.requests));
    auto labels = metrics::bounded_labels(weights, metrics::max_host_series);
    std::map<std::string, report::live_host> merged;
    std::size_t i = 0;
    for (const auto& [host, s] : hosts) {
        auto& h = merged[labels[i++]];
        h.host = labels[i - 1];
        h.tokens += s.tokens;
        h.in_flight += s.in_flight;
        h.rate_limited += static_cast<double>(s.rate_limited);
        h.paused_seconds = std::max(h.paused_seconds, s.paused_for_seconds);
    }
    std::vector<report::live_host> out;
    for (auto& [_, h] : merged) out.push_back(std::move(h));
    return out;
}

std::unique_ptr<ops::status_monitor> make_status_monitor(backfill_service& service, metrics::registry& registry,
                                                         const config::config& cfg) {
    ops::monitor_options options;
    if (cfg.output.kind != config::output_kind::nats) options.writable_dirs.push_back(cfg.output.dir);
    options.writable_dirs.push_back(cfg.state_dir);
    options.version = BSKY_VERSION;
    auto progress = [&service] {
        const auto& p = service.progress();
        return report::sample{0, p.records.load(), p.dids_finished.load()};
    };
    return std::make_unique<ops::status_monitor>(service.exporter(), registry, std::move(options), progress,
                                                 [&service] { return service.host_status(); });
}

exporter::exporter& backfill_service::exporter() noexcept { return impl_->exporter; }
const backfill::pipeline_progress& backfill_service::progress() const noexcept { return impl_->pipeline.progress(); }

asio::awaitable<std::size_t> backfill_service::run_batch(std::int64_t batch, std::size_t dids_per_batch) {
    co_return co_await schedule::run_stored_batch(impl_->loop, impl_->exporter, batch, dids_per_batch);
}

asio::awaitable<backfill::run_report> backfill_service::run_dids(std::vector<std::string> dids, std::size_t dids_per_batch,
                                                                 std::string source) {
    co_return co_await schedule::run_dids(impl_->loop, impl_->exporter, std::move(dids), dids_per_batch, std::move(source));
}

asio::awaitable<void> backfill_service::run_forever() {
    co_await impl_->exporter.recover();
    auto& exporter = impl_->exporter;
    schedule::did_source source = [&exporter](std::int64_t after_batch, std::int64_t after_seq,
                                              std::size_t limit) -> asio::awaitable<std::vector<schedule::queued_did>> {
        std::vector<schedule::queued_did> out;
        for (auto& d : co_await exporter.unfinished_after(after_batch, after_seq, limit)) out.push_back({d.batch, d.seq, std::move(d.did)});
        co_return out;
    };
    co_await impl_->loop.run(std::move(source), false);
}

asio::awaitable<void> backfill_service::run_forever(schedule::did_source source) {
    co_await impl_->exporter.recover();
    co_await impl_->loop.run(std::move(source), false);
}

void backfill_service::wake() { impl_->loop.wake(); }
void backfill_service::stop() { impl_->loop.stop(); }
void backfill_service::abandon() { impl_->loop.abandon(); }

void backfill_service::apply(const config::config& cfg) {
    impl_->pds_client.set_params(backfill::client_settings(cfg));
    impl_->plc_client.set_params(backfill::client_settings(cfg));
    impl_->pipeline.set_params(backfill::pipeline_settings(cfg));
    impl_->pds_limiter.set_params(backfill::pds_limiter_settings(cfg));
    impl_->plc_limiter.set_params(backfill::plc_limiter_settings(cfg));
    impl_->pds_fetcher.set_params(backfill::retry_settings(cfg));
    impl_->plc_fetcher.set_params(backfill::retry_settings(cfg));
    impl_->resolver.set_params(backfill::resolver_settings(cfg));
    impl_->loop.set_params(loop_settings(cfg));
}

void backfill_service::on_outcome(std::function<void(backfill::did_outcome&&)> callback) { impl_->loop.on_outcome = std::move(callback); }

backfill_service::snapshot_t backfill_service::snapshot() const {
    auto s = impl_->loop.snapshot();
    return {s.resolving, s.waiting, s.in_flight, s.hosts};
}

}  // namespace bsky::service
