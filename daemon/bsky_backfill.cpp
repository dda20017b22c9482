// bsky-backfill: the one-shot CLI. Wiring only: arguments and output.
#include "backfill/car_file.hpp"
#include "backfill/classify.hpp"
#include "backfill/runner.hpp"
#include "backfill/transform.hpp"
#include "common.hpp"
#include "enqueue_command.hpp"
#include "status_commands.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"
#include "ops/metrics_server.hpp"
#include "ops/status_monitor.hpp"
#include "repo/repo_reader.hpp"
#include "resolve/did_document.hpp"
#include "service/backfill_service.hpp"
#include "service/list_intake.hpp"
#include "syntax/syntax.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

using namespace bsky;
namespace asio = boost::asio;

namespace {

constexpr const char* usage_text =
    "usage: bsky-backfill <command> [options]   (`bsky-backfill <command> --help` for its options)\n"
    "\n"
    "commands:\n"
    // --- commands table: one line per command, keep them in this block ---
    "  run       backfill DIDs into type-specific queues, e.g. run --dids did:plc:...\n"
    "  inspect   verify and decode a CAR file offline, e.g. inspect repo.car --did did:plc:...\n"
    "  status    DIDs by state, records, spool files and hosts from the state store\n"
    "  failures  the failed DIDs with their reasons (run --retry-failed queues them again)\n"
    "  enqueue   DIDs into the shared NATS work stream of the daemons, e.g. enqueue --nats nats://h:4222 --dids-file F\n"
    // --- end of the commands table ---
    "\n"
    "options:\n"
    "  --help     this text\n"
    "  --version  print the version\n";

constexpr const char* run_usage =
    "usage: bsky-backfill run --dids did1,did2 [--dids-file F] [options]\n"
    "\n"
    "Backfills the DIDs into one queue per record type; prints one JSON summary\n"
    "object at the end; exit 0 when every DID ended done or in an account state,\n"
    "1 when any failed. Interrupted or crashed runs resume when run again.\n"
    "\n"
    "options (default, then an example):\n"
    "  --dids LIST             comma-separated DIDs (none)              --dids did:plc:ewvi7nxzyoun6zhxrhs64oiz,did:web:example.com\n"
    "  --dids-file F           one DID a line, # comments (none)        --dids-file participants.txt\n"
    "  --batch-size N          DIDs per summary batch (50)              --batch-size 100\n"
    "  --start-timestamp TS    study range start (2024-09-27-00:00:00)  --start-timestamp 2024-10-01-00:00:00\n"
    "  --end-timestamp TS      study range end (2024-12-02-00:00:00)    --end-timestamp 2024-11-01-00:00:00\n"
    "  --types LIST            record types kept (block,follow,like,post,reply,repost)  --types post,reply\n"
    "  --config F              YAML config; flags override it (none: defaults)  --config config.yaml\n"
    "  --plc-url URL           PLC directory (https://plc.directory)    --plc-url http://127.0.0.1:2582\n"
    "  --output KIND           sqlite, jsonl or nats (sqlite)           --output jsonl\n"
    "  --nats-url URLS         NATS servers, comma-separated (output.nats.url)  --nats-url nats://10.0.0.5:4222\n"
    "  --output-dir DIR        queues, and state in DIR/state (./backfill-output)  --output-dir /data/backfill\n"
    "  --metrics-listen H:P    serve /metrics, /healthz, the status page / (off)  --metrics-listen 127.0.0.1:9464\n"
    "  --metrics-file F        write the final metrics there (off)      --metrics-file /var/lib/node_exporter/backfill.prom\n"
    "  --retry-failed          queue the failed DIDs of the state store again, with fresh attempts (off)\n"
    "                          e.g. run --retry-failed --output-dir DIR (no --dids needed)\n"
    "  --help                  this text\n"
    "\n"
    "--metrics-file uses the Prometheus text format (node_exporter's textfile collector).\n"
    "See also `bsky-backfill status` and `bsky-backfill failures` for the state store.\n";

constexpr const char* inspect_usage =
    "usage: bsky-backfill inspect FILE.car [--did DID] [--key did:key:z... | --did-doc DOC.json]\n"
    "         [--format raw|pipeline] [--allow-partial] [--spill-threshold SIZE]\n"
    "\n"
    "Verifies every block hash, the commit (and its signature when a key or DID\n"
    "document is given) and the MST, then prints one JSON line per record in key\n"
    "order to stdout and a summary line to stderr. Exit 1 on a corrupt file or a\n"
    "failed signature. Blocks waiting for their place in the tree are kept in\n"
    "memory up to --spill-threshold (default 64MiB), then in a temporary file.\n";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

int inspect(daemon::arg_cursor& args) {
    std::string file, did, key_text, did_doc_path, format = "raw";
    bool allow_partial = false;
    std::uint64_t spill_threshold = config::defaults().limits.spill_threshold_bytes;
    while (!args.done()) {
        if (args.take("--help")) {
            std::fputs(inspect_usage, stdout);
            return 0;
        }
        if (args.take("--did")) did = args.value();
        else if (args.take("--key")) key_text = args.value();
        else if (args.take("--did-doc")) did_doc_path = args.value();
        else if (args.take("--format")) format = args.value();
        else if (args.take("--allow-partial")) allow_partial = true;
        else if (args.take("--spill-threshold")) {
            auto text = args.value();
            if (!config::parse_byte_size(text, spill_threshold))
                throw daemon::usage_error{"--spill-threshold takes a size such as 64MiB, not '" + text + "'"};
            daemon::check_flag_range("--spill-threshold", text, spill_threshold, config::spill_threshold_range.min,
                                     config::spill_threshold_range.max);
        }
        else if (!args.peek().starts_with("--") && file.empty()) {
            file = std::string(args.peek());
            args.take(args.peek());
        } else throw daemon::usage_error{"inspect: unexpected argument '" + std::string(args.peek()) + "'"};
    }
    if (file.empty()) throw daemon::usage_error{"inspect needs a CAR file"};
    if (!key_text.empty() && !did_doc_path.empty()) throw daemon::usage_error{"inspect takes --key or --did-doc, not both"};
    if (format != "raw" && format != "pipeline") throw daemon::usage_error{"--format must be raw or pipeline, not '" + format + "'"};
    if (!did.empty() && !syntax::is_did(did)) throw daemon::usage_error{"--did '" + did + "' is not a DID"};

    repo::reader_options options;
    options.expected_did = did;
    options.allow_partial = allow_partial;
    options.spill_threshold_bytes = spill_threshold;
    if (!key_text.empty()) {
        options.key = crypto::parse_did_key(key_text);
        if (!options.key) throw daemon::usage_error{"--key '" + key_text + "' is not a did:key of a secp256k1 or P-256 key"};
    }
    if (!did_doc_path.empty()) {
        std::string why;
        auto doc = resolve::parse_did_document(read_file(did_doc_path), did, why);
        if (!doc) {
            std::fprintf(stderr, "bsky-backfill inspect: %s: %s\n", did_doc_path.c_str(), why.c_str());
            return 1;
        }
        if (!doc->signing_key) {
            std::fprintf(stderr, "bsky-backfill inspect: %s: the DID document has no #atproto signing key\n", did_doc_path.c_str());
            return 1;
        }
        options.key = doc->signing_key;
        if (options.expected_did.empty()) options.expected_did = doc->did;
    }

    auto cfg = config::defaults();
    static char out_buffer[1 << 20];
    std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
    backfill::record_lines printer({cfg.time_range.start_time, cfg.time_range.end_time}, format == "pipeline",
                                   [](std::string_view line) -> std::error_code {
                                       // Unlocked: one thread writes stdout, and a lock per record shows at 500k records.
                                       if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || fputc_unlocked('\n', stdout) == EOF)
                                           return std::make_error_code(std::errc::io_error);
                                       return {};
                                   });
    auto started = std::chrono::steady_clock::now();
    backfill::car_file_reader car(file, printer, options);
    if (!car.opened()) {
        std::fprintf(stderr, "bsky-backfill inspect: %s\n", car.error().c_str());
        return 1;
    }
    bool ok = car.run();
    std::fflush(stdout);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    const auto& reader = car.reader();
    auto stats = reader.stats();
    const auto& commit = reader.commit();
    auto signature = commit ? commit->signature : repo::signature_state::unverified;
    std::fprintf(stderr,
                 "{\"file\":\"%s\",\"did\":\"%s\",\"rev\":\"%s\",\"blocks\":%llu,\"records\":%llu,\"mst_nodes\":%llu,"
                 "\"bytes\":%llu,\"seconds\":%.6f,\"missing\":%llu,\"signature\":\"%s\"}\n",
                 file.c_str(), commit ? commit->did.c_str() : "", commit ? commit->rev.c_str() : "",
                 static_cast<unsigned long long>(stats.blocks), static_cast<unsigned long long>(stats.records),
                 static_cast<unsigned long long>(stats.mst_nodes), static_cast<unsigned long long>(stats.bytes), seconds,
                 static_cast<unsigned long long>(stats.missing), std::string(repo::to_string(signature)).c_str());
    for (const auto& m : reader.missing()) std::fprintf(stderr, "bsky-backfill inspect: %s: missing %s\n", file.c_str(), m.c_str());
    if (!ok) {
        std::fprintf(stderr, "bsky-backfill inspect: %s\n", car.error().c_str());
        return 1;
    }
    return 0;
}

// Prints "DIDs done/total, records, MB, rate, ETA" on a terminal, once a second.
asio::awaitable<void> show_progress(const backfill::pipeline_progress& pr, const std::size_t& total, const bool& finished) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto started = std::chrono::steady_clock::now();
    while (!finished) {
        timer.expires_after(std::chrono::seconds(1));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        auto done = pr.dids_finished.load();
        double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
        double eta = rate > 0 ? static_cast<double>(total - std::min<std::size_t>(total, done)) / rate : 0;
        std::fprintf(stderr, "\r%llu/%zu DIDs, %llu records, %.1f MB, %.1f DIDs/s, ETA %.0f s   ",
                     static_cast<unsigned long long>(done), total, static_cast<unsigned long long>(pr.records.load()),
                     static_cast<double>(pr.bytes.load()) / 1e6, rate, eta);
    }
    std::fputs("\n", stderr);
}

struct run_options {
    std::string dids_arg, dids_file, config_path, plc_url, output, output_dir, types, start_ts, end_ts;
    std::string metrics_listen, metrics_file, nats_url;
    std::size_t dids_per_batch = 50;
    bool retry_failed = false;
};

run_options parse_run_options(daemon::arg_cursor& args, bool& help) {
    run_options o;
    while (!args.done()) {
        if (args.take("--help")) {
            help = true;
            return o;
        }
        if (args.take("--dids")) o.dids_arg += (o.dids_arg.empty() ? "" : ",") + args.value();
        else if (args.take("--dids-file")) o.dids_file = args.value();
        else if (args.take("--batch-size")) o.dids_per_batch = daemon::whole_number_flag("--batch-size", args.value(), 1, 1000000);
        else if (args.take("--start-timestamp")) o.start_ts = args.value();
        else if (args.take("--end-timestamp")) o.end_ts = args.value();
        else if (args.take("--types")) o.types = args.value();
        else if (args.take("--config")) o.config_path = args.value();
        else if (args.take("--plc-url")) o.plc_url = args.value();
        else if (args.take("--output")) o.output = args.value();
        else if (args.take("--output-dir")) o.output_dir = args.value();
        else if (args.take("--nats-url")) o.nats_url = args.value();
        else if (args.take("--metrics-listen")) o.metrics_listen = args.value();
        else if (args.take("--metrics-file")) o.metrics_file = args.value();
        else if (args.take("--retry-failed")) o.retry_failed = true;
        else throw daemon::usage_error{"run: unknown argument '" + std::string(args.peek()) + "'"};
    }
    if (o.dids_arg.empty() && o.dids_file.empty() && !o.retry_failed)
        throw daemon::usage_error{"run needs --dids or --dids-file (or --retry-failed)"};
    if (!o.output.empty() && o.output != "sqlite" && o.output != "jsonl" && o.output != "nats")
        throw daemon::usage_error{"--output must be sqlite, jsonl or nats, not '" + o.output + "'"};
    return o;
}

// The config file (or the defaults) with the command line's overrides; throws config::config_error.
config::config run_config(const run_options& o) {
    auto cfg = o.config_path.empty() ? config::defaults() : config::load_file(o.config_path);
    auto defaults = config::defaults();
    if (!o.plc_url.empty()) cfg.plc_url = o.plc_url;
    if (!o.start_ts.empty()) cfg.time_range.start = o.start_ts;
    if (!o.end_ts.empty()) cfg.time_range.end = o.end_ts;
    if (!o.types.empty()) {
        cfg.record_types.clear();
        std::string_view rest = o.types;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto t = rest.substr(0, comma);
            if (!t.empty()) cfg.record_types.emplace_back(t);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    if (!o.output_dir.empty()) {
        cfg.output.dir = o.output_dir;
        // Without a configured state directory, the state lives with the output.
        if (cfg.state_dir == defaults.state_dir) cfg.state_dir = std::filesystem::path(o.output_dir) / "state";
    }
    if (o.output == "jsonl") cfg.output.kind = config::output_kind::jsonl;
    if (o.output == "nats") cfg.output.kind = config::output_kind::nats;
    if (!o.nats_url.empty()) cfg.output.nats.url = o.nats_url;
    config::validate(cfg, o.config_path.empty() ? "command line" : o.config_path);
    return cfg;
}

void write_metrics_file(const std::string& path, metrics::registry& registry, log::logger& logger) {
    auto tmp = path + ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << registry.render();
    out.close();
    std::error_code rename_ec;
    if (out) std::filesystem::rename(tmp, path, rename_ec);
    if (!out || rename_ec) logger.error("--metrics-file {}: cannot write it: {}", path, rename_ec ? rename_ec.message() : std::strerror(errno));
}

// The failed DIDs become pending again and join this run's batch, so the run works them and its summary reports them.
asio::awaitable<void> requeue_failed(exporter::exporter& exporter, std::int64_t batch, log::logger& logger, service::intake_totals& intake) {
    std::vector<std::string> failed;
    auto work = [&](state::state_store& store) { failed = store.requeue_failed(); };
    co_await exporter.visit(work);
    logger.info("--retry-failed: {} failed DIDs queued again", failed.size());
    auto already = co_await exporter.add_to_batch(batch, failed);
    intake.accepted += failed.size() - already;
}

int run_command(daemon::arg_cursor& args) {
    bool help = false;
    auto opts = parse_run_options(args, help);
    if (help) {
        std::fputs(run_usage, stdout);
        return 0;
    }
    auto& logger = daemon::stderr_logger();
    config::config cfg;
    try {
        cfg = run_config(opts);
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "bsky-backfill run: %s\n", e.what());
        return 2;
    }
    logger.set_level(cfg.log_level);

    std::ifstream list_file;
    if (!opts.dids_file.empty()) {
        list_file.open(opts.dids_file, std::ios::binary);
        if (!list_file) {
            std::fprintf(stderr, "bsky-backfill run: %s: cannot open the DID list\n", opts.dids_file.c_str());
            return 2;
        }
    }

    try {
        asio::io_context io;
        metrics::registry registry;  // first: the parts below publish into it until they are gone
        service::backfill_service backfill(io.get_executor(), cfg, logger, &registry);
        service::intake_totals intake;
        auto& accepted_gauge = registry.gauge("bsky_dids_accepted", "DIDs taken from the input of this run (duplicates removed)");
        registry.on_scrape([&] { accepted_gauge.set(static_cast<double>(intake.accepted)); });
        std::unique_ptr<ops::metrics_server> metrics_server;
        if (!opts.metrics_listen.empty()) {
            metrics_server = std::make_unique<ops::metrics_server>(io.get_executor(), opts.metrics_listen, registry);
            logger.info("metrics at http://{}/metrics and the status page at http://{}/", metrics_server->local_address(),
                        metrics_server->local_address());
        }
        // The store's figures (and /healthz, /status.json) whenever metrics are published at all.
        std::unique_ptr<ops::status_monitor> monitor;
        if (metrics_server || !opts.metrics_file.empty()) monitor = service::make_status_monitor(backfill, registry, cfg);
        if (metrics_server) monitor->serve_on(*metrics_server);
        bool finished = false, any_failed = false, interrupted = false;
        // Intake streams the list into the state store in chunks, then the work
        // loop takes the stored DIDs as their hosts can serve them.
        auto main_task = [&]() -> asio::awaitable<void> {
            // (Named first: GCC 12 destroys a conditional's temporary inside co_await twice.)
            std::string source = !opts.dids_file.empty() ? opts.dids_file : !opts.dids_arg.empty() ? std::string("--dids") : std::string("--retry-failed");
            auto batch = co_await backfill.exporter().begin_batch(source);
            if (opts.retry_failed) co_await requeue_failed(backfill.exporter(), batch, logger, intake);
            if (!opts.dids_arg.empty()) {
                std::string_view rest = opts.dids_arg;
                auto next = [&](std::string& line) {
                    if (rest.empty()) return false;
                    auto comma = rest.find(',');
                    line.assign(rest.substr(0, comma));
                    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                    return true;
                };
                co_await service::record_lines(backfill.exporter(), batch, "--dids", next, logger, intake);
            }
            if (list_file.is_open()) {
                // An interrupt ends the intake too: what was read is kept, the next run reads the list again.
                auto next = [&](std::string& line) { return !interrupted && static_cast<bool>(std::getline(list_file, line)); };
                co_await service::record_lines(backfill.exporter(), batch, opts.dids_file, next, logger, intake);
            }
            if (intake.duplicates) logger.info("{} duplicate DIDs removed", intake.duplicates);
            auto total_batches = co_await backfill.run_batch(batch, opts.dids_per_batch);
            any_failed = co_await backfill::write_stored_summary(backfill.exporter(), batch, total_batches, stdout);
            if (monitor) co_await monitor->refresh();
        };
        std::exception_ptr failure;
        asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
        // The first interrupt stops taking DIDs and lets those in flight end;
        // a second one exits at once, as a crash would, which the state store
        // and the sinks survive at any instant (the next run resumes).
        std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int signo) {
            if (ec) return;
            if (signo == SIGHUP) {
                logger.warn("SIGHUP ignored: run reads its configuration once, at start (the daemon reloads on SIGHUP)");
            } else if (!interrupted) {
                interrupted = true;
                std::fputs("\nbsky-backfill run: interrupted; finishing the DIDs in flight (interrupt again to stop at once); "
                           "run the same command again to resume\n", stderr);
                backfill.stop();
            } else {
                std::fflush(stdout);
                std::fflush(stderr);
                std::_Exit(130);
            }
            signals.async_wait(on_signal);
        };
        signals.async_wait(on_signal);
        asio::co_spawn(io, main_task(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
            signals.cancel();
            if (metrics_server) metrics_server->stop();
            if (monitor) monitor->stop();
        });
        auto watch_store = [&]() -> asio::awaitable<void> { co_await monitor->run(); };
        if (monitor) asio::co_spawn(io, watch_store(), asio::detached);
        auto serve_metrics = [&]() -> asio::awaitable<void> { co_await metrics_server->run(); };
        if (metrics_server) asio::co_spawn(io, serve_metrics(), asio::detached);
        if (::isatty(STDERR_FILENO)) {
            auto progress = [&]() -> asio::awaitable<void> { co_await show_progress(backfill.progress(), intake.accepted, finished); };
            asio::co_spawn(io, progress(), asio::detached);
        }
        io.run();
        if (!opts.metrics_file.empty()) write_metrics_file(opts.metrics_file, registry, logger);
        if (failure) std::rethrow_exception(failure);
        const auto& pr = backfill.progress();
        logger.info("{} DIDs, {} records, {:.1f} MB; the longest parse slice held the event loop {} us", intake.accepted,
                    pr.records.load(), static_cast<double>(pr.bytes.load()) / 1e6, pr.longest_parse_slice_us.load());
        if (interrupted) return 130;
        return any_failed ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bsky-backfill run: %s\n", e.what());
        return 1;
    }
}

int main_impl(int argc, char** argv) {
    daemon::arg_cursor args(argc, argv, 1);
    if (args.done()) throw daemon::usage_error{"missing command (run, inspect, status, failures, enqueue)"};
    if (args.take("--help") || args.take("-h")) {
        std::fputs(usage_text, stdout);
        return 0;
    }
    if (args.take("--version")) {
        std::printf("bsky-backfill %s\n", BSKY_VERSION);
        return 0;
    }
    if (args.take("inspect")) return inspect(args);
    if (args.take("run")) return run_command(args);
    if (args.take("status")) return daemon::status_command(args);
    if (args.take("failures")) return daemon::failures_command(args);
    if (args.take("enqueue")) return daemon::enqueue_command(args);
    throw daemon::usage_error{"unknown command '" + std::string(args.peek()) + "'"};
}

}  // namespace

int main(int argc, char** argv) {
    // A peer that closes mid-write is an error code on the socket, not a reason to die.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return main_impl(argc, argv);
    } catch (const daemon::usage_error& e) {
        std::fprintf(stderr, "bsky-backfill: %s (see --help)\n", e.message.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bsky-backfill: %s\n", e.what());
        return 1;
    }
}
