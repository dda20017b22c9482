// bsky-backfill: the one-shot CLI. Wiring only: arguments and output.
#include "backfill/classify.hpp"
#include "backfill/intake.hpp"
#include "backfill/pipeline.hpp"
#include "backfill/runner.hpp"
#include "backfill/settings.hpp"
#include "export/exporter.hpp"
#include "backfill/transform.hpp"
#include "common.hpp"
#include "config/config.hpp"
#include "metrics/registry.hpp"
#include "ops/metrics_server.hpp"
#include "repo/repo_reader.hpp"
#include "resolve/did_document.hpp"
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
    "usage: bsky-backfill <command> [options]\n"
    "\n"
    "commands:\n"
    "  run      backfill DIDs into type-specific queues (see `bsky-backfill run --help`)\n"
    "  inspect  verify and decode a CAR file offline (see `bsky-backfill inspect --help`)\n"
    "\n"
    "options:\n"
    "  --help     this text\n"
    "  --version  print the version\n";

constexpr const char* run_usage =
    "usage: bsky-backfill run --dids did1,did2 [--dids-file F] [--batch-size 50]\n"
    "         [--start-timestamp TS] [--end-timestamp TS] [--types post,like,...]\n"
    "         [--config F] [--plc-url URL] [--output sqlite|jsonl|nats] [--output-dir DIR]\n"
    "         [--metrics-listen HOST:PORT] [--metrics-file F]\n"
    "\n"
    "--metrics-listen serves GET /metrics and /healthz while the run lasts;\n"
    "--metrics-file writes the final figures there in the same Prometheus text\n"
    "format when the run ends (for node_exporter's textfile collector).\n";

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

// Writes one record a line (SPEC §6, raw or pipeline format) to stdout.
class record_printer final : public repo::record_sink {
public:
    record_printer(backfill::time_range range, bool pipeline) : range_(range), pipeline_(pipeline) {}

    std::error_code on_commit(const repo::commit_info& c) override {
        did_ = c.did;
        rev_ = c.rev;
        return {};
    }

    std::error_code on_record(const repo::record_view& r) override {
        auto type = backfill::record_type(r.collection, r.value).type;
        auto sync = backfill::compute_synctimestamp(r.value["createdAt"], range_);
        uri_.assign("at://").append(did_).append("/").append(r.path);
        cid_.clear();
        r.id.append_to(cid_);
        backfill::record_meta meta{uri_, cid_, did_, r.collection, r.rkey, type,
                                   sync.value ? std::optional<std::string_view>(sync.value->view()) : std::nullopt, rev_};
        line_.clear();
        if (pipeline_) backfill::write_pipeline_record(r.value, meta, line_);
        else backfill::write_raw_record(r.value, meta, line_);
        line_.push_back('\n');
        if (std::fwrite(line_.data(), 1, line_.size(), stdout) != line_.size())
            return std::make_error_code(std::errc::io_error);
        return {};
    }

private:
    backfill::time_range range_;
    bool pipeline_;
    std::string did_, rev_, line_, uri_, cid_;
};

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
    record_printer printer({cfg.time_range.start_time, cfg.time_range.end_time}, format == "pipeline");
    static char out_buffer[1 << 20];
    std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);

    std::FILE* in = std::fopen(file.c_str(), "rb");
    if (!in) {
        std::fprintf(stderr, "bsky-backfill inspect: %s: cannot open: %s\n", file.c_str(), std::strerror(errno));
        return 1;
    }
    std::error_code size_ec;
    options.expected_bytes = std::filesystem::file_size(file, size_ec);
    auto started = std::chrono::steady_clock::now();
    repo::repo_reader reader(printer, options);
    std::vector<std::uint8_t> chunk(1 << 16);
    std::error_code ec;
    while (!ec) {
        auto n = std::fread(chunk.data(), 1, chunk.size(), in);
        if (n == 0) break;
        ec = reader.put({chunk.data(), n});
    }
    bool read_error = std::ferror(in);
    std::fclose(in);
    if (!ec && !read_error) ec = reader.finish();
    std::fflush(stdout);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

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
    if (read_error) {
        std::fprintf(stderr, "bsky-backfill inspect: %s: read error\n", file.c_str());
        return 1;
    }
    if (ec) {
        std::fprintf(stderr, "bsky-backfill inspect: %s: %s\n", file.c_str(), reader.error_message().c_str());
        return 1;
    }
    return 0;
}

// Prints "DIDs done/total, records, MB, rate, ETA" on a terminal, once a second.
asio::awaitable<void> show_progress(const backfill::pipeline& p, const std::size_t& total, const bool& finished) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto started = std::chrono::steady_clock::now();
    while (!finished) {
        timer.expires_after(std::chrono::seconds(1));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        const auto& pr = p.progress();
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

int run_command(daemon::arg_cursor& args) {
    std::string dids_arg, dids_file, config_path, plc_url, output, output_dir, types, start_ts, end_ts;
    std::string metrics_listen, metrics_file;
    std::size_t dids_per_batch = 50;
    while (!args.done()) {
        if (args.take("--help")) {
            std::fputs(run_usage, stdout);
            return 0;
        }
        if (args.take("--dids")) dids_arg += (dids_arg.empty() ? "" : ",") + args.value();
        else if (args.take("--dids-file")) dids_file = args.value();
        else if (args.take("--batch-size")) dids_per_batch = daemon::whole_number_flag("--batch-size", args.value(), 1, 1000000);
        else if (args.take("--start-timestamp")) start_ts = args.value();
        else if (args.take("--end-timestamp")) end_ts = args.value();
        else if (args.take("--types")) types = args.value();
        else if (args.take("--config")) config_path = args.value();
        else if (args.take("--plc-url")) plc_url = args.value();
        else if (args.take("--output")) output = args.value();
        else if (args.take("--output-dir")) output_dir = args.value();
        else if (args.take("--metrics-listen")) metrics_listen = args.value();
        else if (args.take("--metrics-file")) metrics_file = args.value();
        else throw daemon::usage_error{"run: unknown argument '" + std::string(args.peek()) + "'"};
    }
    if (dids_arg.empty() && dids_file.empty()) throw daemon::usage_error{"run needs --dids or --dids-file"};
    if (!output.empty() && output != "sqlite" && output != "jsonl" && output != "nats")
        throw daemon::usage_error{"--output must be sqlite, jsonl or nats, not '" + output + "'"};

    auto& logger = daemon::stderr_logger();
    config::config cfg;
    try {
        cfg = config_path.empty() ? config::defaults() : config::load_file(config_path);
        auto defaults = config::defaults();
        if (!plc_url.empty()) cfg.plc_url = plc_url;
        if (!start_ts.empty()) cfg.time_range.start = start_ts;
        if (!end_ts.empty()) cfg.time_range.end = end_ts;
        if (!types.empty()) {
            cfg.record_types.clear();
            std::string_view rest = types;
            while (!rest.empty()) {
                auto comma = rest.find(',');
                auto t = rest.substr(0, comma);
                if (!t.empty()) cfg.record_types.emplace_back(t);
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        }
        if (!output_dir.empty()) {
            cfg.output.dir = output_dir;
            // Without a configured state directory, the state lives with the output.
            if (cfg.state_dir == defaults.state_dir) cfg.state_dir = std::filesystem::path(output_dir) / "state";
        }
        if (output == "jsonl") cfg.output.kind = config::output_kind::jsonl;
        if (output == "nats") cfg.output.kind = config::output_kind::nats;
        config::validate(cfg, config_path.empty() ? "command line" : config_path);
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "bsky-backfill run: %s\n", e.what());
        return 2;
    }
    if (cfg.output.kind == config::output_kind::nats) {
        std::fputs("bsky-backfill run: output nats is not part of this build yet; use --output sqlite or jsonl\n", stderr);
        return 2;
    }
    logger.set_level(cfg.log_level);

    std::ifstream list_file;
    if (!dids_file.empty()) {
        list_file.open(dids_file, std::ios::binary);
        if (!list_file) {
            std::fprintf(stderr, "bsky-backfill run: %s: cannot open the DID list\n", dids_file.c_str());
            return 2;
        }
    }

    try {
        asio::io_context io;
        metrics::registry registry;  // first: the parts below publish into it until they are gone
        bsky::net::http_client pds_client(io.get_executor(), backfill::client_settings(cfg));
        bsky::net::http_client plc_client(io.get_executor(), backfill::client_settings(cfg));
        rate::host_limiter pds_limiter(io.get_executor(), backfill::pds_limiter_settings(cfg));
        rate::host_limiter plc_limiter(io.get_executor(), backfill::plc_limiter_settings(cfg));
        bsky::net::fetcher pds_fetcher(pds_client, pds_limiter, backfill::retry_settings(cfg));
        bsky::net::fetcher plc_fetcher(plc_client, plc_limiter, backfill::retry_settings(cfg));
        resolve::resolver resolver(plc_fetcher, backfill::resolver_settings(cfg));
        exporter::exporter exporter(backfill::make_sink(cfg), cfg.state_dir);
        backfill::pipeline pipeline(pds_fetcher, resolver, exporter, backfill::pipeline_settings(cfg), logger);
        pds_fetcher.attach_metrics(registry, "pds");
        plc_fetcher.attach_metrics(registry, "plc");
        pds_limiter.attach_metrics(registry);
        plc_limiter.attach_metrics(registry);
        pipeline.attach_metrics(registry);

        std::size_t accepted = 0;
        auto& accepted_gauge = registry.gauge("bsky_dids_accepted", "DIDs taken from the input of this run (duplicates removed)");
        registry.on_scrape([&] { accepted_gauge.set(static_cast<double>(accepted)); });
        std::unique_ptr<ops::metrics_server> metrics_server;
        if (!metrics_listen.empty()) {
            metrics_server = std::make_unique<ops::metrics_server>(io.get_executor(), metrics_listen, registry);
            logger.info("metrics at http://{}/metrics", metrics_server->local_address());
        }
        bool finished = false, any_failed = false;
        // Intake streams the list into the state store in chunks (lists may hold
        // tens of millions of DIDs), then the stored batch is worked through.
        auto main_task = [&]() -> asio::awaitable<void> {
            // (Named first: GCC 12 destroys a conditional's temporary inside co_await twice.)
            std::string source = dids_file.empty() ? std::string("--dids") : dids_file;
            auto batch = co_await exporter.begin_batch(source);
            std::vector<std::string> chunk;
            std::size_t duplicates = 0, rejected_count = 0;
            auto flush = [&](backfill::did_line_reader& reader, bool force) -> asio::awaitable<void> {
                auto rejected = reader.take_rejected();
                if (!rejected.empty()) {
                    std::vector<state::rejected_input> rows;
                    for (auto& r : rejected) {
                        if (++rejected_count <= 100) logger.warn("{}:{}: '{}' skipped: {}", r.source, r.line, r.text, r.reason);
                        rows.push_back({r.source, static_cast<std::int64_t>(r.line), std::move(r.text), std::move(r.reason)});
                    }
                    co_await exporter.add_rejected(batch, std::move(rows));
                }
                if (chunk.size() >= 10000 || (force && !chunk.empty())) {
                    accepted += chunk.size();
                    auto dups = co_await exporter.add_to_batch(batch, std::move(chunk));
                    duplicates += dups;
                    accepted -= dups;
                    chunk.clear();
                }
            };
            if (!dids_arg.empty()) {
                backfill::did_line_reader reader("--dids");
                std::string_view rest = dids_arg;
                while (!rest.empty()) {
                    auto comma = rest.find(',');
                    if (auto did = reader.feed(rest.substr(0, comma))) chunk.push_back(std::move(*did));
                    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                }
                co_await flush(reader, true);
            }
            if (list_file.is_open()) {
                backfill::did_line_reader reader(dids_file);
                for (std::string line; std::getline(list_file, line);) {
                    if (auto did = reader.feed(line)) chunk.push_back(std::move(*did));
                    co_await flush(reader, false);
                }
                co_await flush(reader, true);
            }
            if (rejected_count > 100) logger.warn("{} more input lines skipped (all are in the summary)", rejected_count - 100);
            if (duplicates) logger.info("{} duplicate DIDs removed", duplicates);
            auto total_batches = co_await backfill::run_stored_batch(pipeline, exporter, batch, dids_per_batch,
                                                                     cfg.rate_limits.max_concurrent_fetches);
            any_failed = co_await backfill::write_stored_summary(exporter, batch, total_batches, stdout);
        };
        std::exception_ptr failure;
        asio::signal_set signals(io, SIGINT, SIGTERM);
        // An interrupt is handled like a crash, which the state store and the
        // sinks are built to survive at any instant (docs/architecture.md):
        // nothing half-done is visible and the next run resumes. Exiting at
        // once also means no coroutine frame is torn down after the objects
        // it refers to.
        signals.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            std::fputs("\nbsky-backfill run: interrupted; finished DIDs are kept, run the same command again to resume\n", stderr);
            std::fflush(stdout);
            std::fflush(stderr);
            std::_Exit(130);
        });
        asio::co_spawn(io, main_task(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
            signals.cancel();
            if (metrics_server) metrics_server->stop();
        });
        auto serve_metrics = [&]() -> asio::awaitable<void> { co_await metrics_server->run(); };
        if (metrics_server) asio::co_spawn(io, serve_metrics(), asio::detached);
        if (::isatty(STDERR_FILENO)) {
            auto progress = [&]() -> asio::awaitable<void> { co_await show_progress(pipeline, accepted, finished); };
            asio::co_spawn(io, progress(), asio::detached);
        }
        io.run();
        if (!metrics_file.empty()) {
            auto tmp = metrics_file + ".tmp";
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            out << registry.render();
            out.close();
            std::error_code rename_ec;
            if (out) std::filesystem::rename(tmp, metrics_file, rename_ec);
            if (!out || rename_ec) logger.error("--metrics-file {}: cannot write it: {}", metrics_file,
                                                rename_ec ? rename_ec.message() : std::strerror(errno));
        }
        if (failure) std::rethrow_exception(failure);
        const auto& pr = pipeline.progress();
        logger.info("{} DIDs, {} records, {:.1f} MB; the longest parse slice held the event loop {} us", accepted,
                    pr.records.load(), static_cast<double>(pr.bytes.load()) / 1e6, pr.longest_parse_slice_us.load());
        return any_failed ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bsky-backfill run: %s\n", e.what());
        return 1;
    }
}

int main_impl(int argc, char** argv) {
    daemon::arg_cursor args(argc, argv, 1);
    if (args.done()) throw daemon::usage_error{"missing command (run or inspect)"};
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
