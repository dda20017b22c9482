#include "backfill/settings.hpp"

#include "export/jsonl_files.hpp"
#include "export/sqlite_queues.hpp"
#include "nats/nats_sink.hpp"

#include <stdexcept>

namespace bsky::backfill {

namespace {
std::chrono::milliseconds ms(double seconds) { return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000)); }
}  // namespace

pipeline_params pipeline_settings(const config::config& cfg) {
    pipeline_params p;
    p.record_types = {cfg.record_types.begin(), cfg.record_types.end()};
    p.range = {cfg.time_range.start_time, cfg.time_range.end_time};
    p.filter_by_time = cfg.time_range.mode == config::time_range_mode::filter;
    p.pipeline_format = cfg.output.format == config::output_format::pipeline;
    p.batch_size = cfg.output.batch_size;
    p.verify_signatures = cfg.verify_signatures;
    p.spill_threshold_bytes = cfg.limits.spill_threshold_bytes;
    p.spill_dir = cfg.state_dir;
    p.max_car_bytes = cfg.limits.max_car_bytes;
    p.max_block_bytes = cfg.limits.max_block_bytes;
    p.max_cbor_depth = cfg.limits.max_cbor_depth;
    return p;
}

net::client_params client_settings(const config::config& cfg) {
    net::client_params p;
    p.connect_timeout = ms(cfg.timeouts.connect_seconds);
    p.handshake_timeout = ms(cfg.timeouts.tls_handshake_seconds);
    p.headers_timeout = ms(cfg.timeouts.response_headers_seconds);
    p.idle_body_timeout = ms(cfg.timeouts.idle_body_seconds);
    p.max_body_bytes = cfg.limits.max_car_bytes;
    p.allow_private_addresses = cfg.allow_private_addresses;
    p.allow_insecure_http = cfg.allow_insecure_http || cfg.allow_private_addresses;
    p.max_idle_per_host = cfg.rate_limits.max_concurrent_per_host;
    p.max_open_connections = cfg.limits.max_open_connections;
    p.idle_connection_timeout = ms(cfg.timeouts.idle_connection_seconds);
    p.total_timeout = ms(cfg.timeouts.total_fetch_seconds);
    p.ca_file = cfg.tls_ca_file;
    p.resolve_overrides = cfg.resolve.hosts;
    p.user_agent = "bsky-backfill";
    return p;
}

rate::limiter_params pds_limiter_settings(const config::config& cfg) {
    return {.requests_per_window = cfg.rate_limits.pds.requests, .window_seconds = cfg.rate_limits.pds.window_seconds,
            .burst = cfg.rate_limits.pds.burst, .max_concurrent_per_host = cfg.rate_limits.max_concurrent_per_host,
            .max_concurrent_total = cfg.rate_limits.max_concurrent_fetches,
            .default_pause = ms(cfg.rate_limits.default_pause_seconds), .max_pause = ms(cfg.rate_limits.max_pause_seconds)};
}

rate::limiter_params plc_limiter_settings(const config::config& cfg) {
    return {.requests_per_window = cfg.rate_limits.plc.requests, .window_seconds = cfg.rate_limits.plc.window_seconds,
            .burst = cfg.rate_limits.plc.burst, .max_concurrent_per_host = cfg.rate_limits.max_concurrent_per_host,
            .max_concurrent_total = cfg.rate_limits.max_concurrent_fetches,
            .default_pause = ms(cfg.rate_limits.default_pause_seconds), .max_pause = ms(cfg.rate_limits.max_pause_seconds)};
}

net::retry_params retry_settings(const config::config& cfg) {
    return {.max_attempts = cfg.retries.max_attempts, .backoff_base = ms(cfg.retries.backoff_base_seconds),
            .backoff_cap = ms(cfg.retries.backoff_cap_seconds)};
}

resolve::resolver_params resolver_settings(const config::config& cfg) {
    return {.plc_url = cfg.plc_url, .cache_ttl = ms(cfg.resolve.cache_ttl_seconds),
            .cache_max_entries = cfg.resolve.cache_max_entries, .max_document_bytes = cfg.limits.max_did_document_bytes,
            // A lab network on private addresses is plain http more often than not.
            .allow_insecure_http = cfg.allow_insecure_http || cfg.allow_private_addresses};
}

std::unique_ptr<exporter::sink> make_sink(const config::config& cfg, log::logger& logger) {
    switch (cfg.output.kind) {
        case config::output_kind::sqlite: return std::make_unique<exporter::sqlite_queues>(cfg.output.dir);
        case config::output_kind::jsonl: return std::make_unique<exporter::jsonl_files>(cfg.output.dir, cfg.output.jsonl_rotate_bytes);
        case config::output_kind::nats: return std::make_unique<nats::nats_sink>(cfg.output.nats, logger);
    }
    throw std::logic_error("make_sink: unknown output.kind");
}

std::unique_ptr<resolve::plc_export_index> make_plc_export(const config::config& cfg, log::logger& logger) {
    if (cfg.resolve.plc_export.empty()) return nullptr;
    return std::make_unique<resolve::plc_export_index>(cfg.resolve.plc_export, cfg.state_dir / "plc-export.db", logger);
}

}  // namespace bsky::backfill
