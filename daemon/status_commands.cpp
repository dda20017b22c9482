#include "status_commands.hpp"

#include "config/config.hpp"
#include "report/report.hpp"

#include <cstdio>
#include <filesystem>

namespace bsky::daemon {

namespace {

constexpr const char* status_usage =
    "usage: bsky-backfill status [--state-dir DIR | --output-dir DIR | --config F] [--json]\n"
    "\n"
    "What the state store knows: DIDs by state, records by type, spool files\n"
    "and PDS hosts. Read-only: safe while a run or the daemon is working.\n"
    "\n"
    "options:\n"
    "  --state-dir DIR   the state store's directory (default /var/lib/bsky-backfill/state)\n"
    "                    e.g. --state-dir ./backfill-output/state\n"
    "  --output-dir DIR  a run's --output-dir: its state is DIR/state (e.g. --output-dir ./backfill-output)\n"
    "  --config F        take state_dir from the daemon's config (e.g. --config /etc/bsky-backfill/config.yaml)\n"
    "  --json            one JSON object instead of the tables (default: tables)\n"
    "  --help            this text\n";

constexpr const char* failures_usage =
    "usage: bsky-backfill failures [--state-dir DIR | --output-dir DIR | --config F] [--json]\n"
    "\n"
    "Lists the failed DIDs with their attempts and last error, the latest first.\n"
    "`bsky-backfill run --retry-failed` (same --output-dir or --config) queues them again.\n"
    "\n"
    "options:\n"
    "  --state-dir DIR   the state store's directory (default /var/lib/bsky-backfill/state)\n"
    "  --output-dir DIR  a run's --output-dir: its state is DIR/state (e.g. --output-dir ./backfill-output)\n"
    "  --config F        take state_dir from the daemon's config (e.g. --config /etc/bsky-backfill/config.yaml)\n"
    "  --json            {\"failed\":[{\"did\",\"attempts\",\"reason\",\"pds\",\"at\"}]} instead of the table\n"
    "  --help            this text\n";

struct report_options {
    std::string state_dir;
    bool json = false, help = false;
};

report_options parse(arg_cursor& args, std::string_view command) {
    report_options o;
    std::string output_dir, config_path;
    while (!args.done()) {
        if (args.take("--help")) {
            o.help = true;
            return o;
        }
        if (args.take("--state-dir")) o.state_dir = args.value();
        else if (args.take("--output-dir")) output_dir = args.value();
        else if (args.take("--config")) config_path = args.value();
        else if (args.take("--json")) o.json = true;
        else throw usage_error{std::string(command) + ": unknown argument '" + std::string(args.peek()) + "'"};
    }
    if ((!o.state_dir.empty()) + (!output_dir.empty()) + (!config_path.empty()) > 1)
        throw usage_error{std::string(command) + " takes one of --state-dir, --output-dir and --config"};
    if (!output_dir.empty()) o.state_dir = (std::filesystem::path(output_dir) / "state").string();
    else if (!config_path.empty()) o.state_dir = config::load_file(config_path).state_dir.string();
    else if (o.state_dir.empty()) o.state_dir = config::defaults().state_dir.string();
    return o;
}

template <class F>
int guarded(std::string_view command, F&& f) {
    try {
        return f();
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "bsky-backfill %s: %s\n", std::string(command).c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bsky-backfill %s: %s\n", std::string(command).c_str(), e.what());
        return 1;
    }
}

}  // namespace

int status_command(arg_cursor& args) {
    return guarded("status", [&] {
        auto o = parse(args, "status");
        if (o.help) {
            std::fputs(status_usage, stdout);
            return 0;
        }
        auto db = report::open_read_only(o.state_dir);
        auto summary = report::summarize(db);
        auto text = o.json ? report::to_json(summary, report::failures(db, 20)) + "\n" : report::format_status(summary);
        std::fputs(text.c_str(), stdout);
        return 0;
    });
}

int failures_command(arg_cursor& args) {
    return guarded("failures", [&] {
        auto o = parse(args, "failures");
        if (o.help) {
            std::fputs(failures_usage, stdout);
            return 0;
        }
        auto db = report::open_read_only(o.state_dir);
        auto list = report::failures(db);
        auto text = o.json ? report::failures_json(list) + "\n" : report::format_failures(list);
        std::fputs(text.c_str(), stdout);
        return 0;
    });
}

}  // namespace bsky::daemon
