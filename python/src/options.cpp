// run's flags -> a configuration, as daemon/bsky_backfill.cpp's run_config does.
#include "core.hpp"

namespace bsky::python {

config::config make_config(const run_options& o) {
    try {
        auto cfg = o.config_path ? config::load_file(*o.config_path) : config::defaults();
        auto defaults = config::defaults();
        if (o.plc_url) cfg.plc_url = *o.plc_url;
        if (o.start_timestamp) cfg.time_range.start = *o.start_timestamp;
        if (o.end_timestamp) cfg.time_range.end = *o.end_timestamp;
        if (o.types) cfg.record_types = *o.types;
        // Without a config file or output_dir, a notebook writes beside itself,
        // not into the daemon's /var/lib (which it usually may not write).
        std::string output_dir = o.output_dir ? *o.output_dir : (o.config_path ? std::string() : std::string("backfill-output"));
        if (!output_dir.empty()) {
            cfg.output.dir = output_dir;
            // Without a configured state directory, the state lives with the output (as run's --output-dir).
            if (cfg.state_dir == defaults.state_dir) cfg.state_dir = std::filesystem::path(output_dir) / "state";
        }
        if (o.output) {
            if (*o.output == "sqlite") cfg.output.kind = config::output_kind::sqlite;
            else if (*o.output == "jsonl") cfg.output.kind = config::output_kind::jsonl;
            else if (*o.output == "nats") cfg.output.kind = config::output_kind::nats;
            else throw configuration_error("output must be sqlite, jsonl or nats, not '" + *o.output + "'");
        }
        if (o.format) {
            if (*o.format == "pipeline") cfg.output.format = config::output_format::pipeline;
            else if (*o.format == "raw") cfg.output.format = config::output_format::raw;
            else throw configuration_error("format must be pipeline or raw, not '" + *o.format + "'");
        }
        if (o.mode) {
            if (*o.mode == "tag") cfg.time_range.mode = config::time_range_mode::tag;
            else if (*o.mode == "filter") cfg.time_range.mode = config::time_range_mode::filter;
            else throw configuration_error("time_range_mode must be tag or filter, not '" + *o.mode + "'");
        }
        if (o.concurrency) cfg.rate_limits.max_concurrent_fetches = *o.concurrency;
        if (o.per_host_concurrency) cfg.rate_limits.max_concurrent_per_host = *o.per_host_concurrency;
        if (o.verify_signatures) cfg.verify_signatures = *o.verify_signatures;
        config::validate(cfg, o.config_path ? *o.config_path : std::string("keyword arguments"));
        if (cfg.output.kind == config::output_kind::nats)
            throw configuration_error("output nats is not part of this build yet; use output='sqlite' or 'jsonl'");
        return cfg;
    } catch (const config::config_error& e) {
        throw configuration_error(e.what());
    }
}

}  // namespace bsky::python
