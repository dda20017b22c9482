#pragma once
// From the configuration to each component's parameters, in one place, so
// the CLI and the daemon (and a SIGHUP reload) agree.
#include "backfill/pipeline.hpp"
#include "config/config.hpp"
#include "export/sink.hpp"

#include <memory>
#include "net/fetcher.hpp"
#include "net/http_client.hpp"
#include "rate/host_limiter.hpp"
#include "resolve/plc_export.hpp"
#include "resolve/resolver.hpp"

namespace bsky::backfill {

pipeline_params pipeline_settings(const config::config& cfg);
net::client_params client_settings(const config::config& cfg);
rate::limiter_params pds_limiter_settings(const config::config& cfg);
rate::limiter_params plc_limiter_settings(const config::config& cfg);
net::retry_params retry_settings(const config::config& cfg);
resolve::resolver_params resolver_settings(const config::config& cfg);
/// The sink output.kind names (sqlite or jsonl); throws std::runtime_error for kinds not built in.
std::unique_ptr<exporter::sink> make_sink(const config::config& cfg, log::logger& logger);
/// The index of resolve.plc_export in {state_dir}/plc-export.db, or null when
/// none is configured; throws std::runtime_error when the export cannot be read.
std::unique_ptr<resolve::plc_export_index> make_plc_export(const config::config& cfg, log::logger& logger);

}  // namespace bsky::backfill
