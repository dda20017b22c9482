#include "enqueue_command.hpp"

#include "backfill/intake.hpp"
#include "config/config.hpp"
#include "nats/connection.hpp"
#include "nats/work_stream.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

namespace bsky::daemon {

namespace {

constexpr const char* enqueue_usage =
    "usage: bsky-backfill enqueue --nats URLS (--dids LIST | --dids-file F) [--config F]\n"
    "\n"
    "Publishes DIDs into the shared NATS work stream (output.nats.work_stream, subject\n"
    "output.nats.work_subject) that every bsky-backfilld with intake.kind nats takes\n"
    "its work from; a DID already waiting there is not added twice. Prints one JSON\n"
    "object (enqueued, duplicates, rejected lines); exit 1 when a line was rejected.\n"
    "\n"
    "options (default, then an example):\n"
    "  --nats URLS      NATS servers, comma-separated (output.nats.url)  --nats nats://10.0.0.5:4222\n"
    "  --dids LIST      comma-separated DIDs (none)              --dids did:plc:ewvi7nxzyoun6zhxrhs64oiz\n"
    "  --dids-file F    .txt, .csv (did column) or .jsonl (none) --dids-file participants.csv\n"
    "  --config F       YAML config for output.nats.* (defaults) --config /etc/bsky-backfill/config.yaml\n";

struct list_reader {
    std::vector<std::string> dids;
    boost::json::array rejected;
    void read(backfill::did_line_reader& reader, std::istream& in) {
        for (std::string line; std::getline(in, line);)
            if (auto did = reader.feed(line)) dids.push_back(std::move(*did));
        for (auto& r : reader.take_rejected())
            rejected.push_back({{"source", r.source}, {"line", r.line}, {"text", r.text}, {"reason", r.reason}});
    }
};

}  // namespace

int enqueue_command(arg_cursor& args) {
    std::string url, dids_arg, dids_file, config_path;
    while (!args.done()) {
        if (args.take("--help")) {
            std::fputs(enqueue_usage, stdout);
            return 0;
        }
        if (args.take("--nats")) url = args.value();
        else if (args.take("--dids")) dids_arg += (dids_arg.empty() ? "" : ",") + args.value();
        else if (args.take("--dids-file")) dids_file = args.value();
        else if (args.take("--config")) config_path = args.value();
        else throw usage_error{"enqueue: unknown argument '" + std::string(args.peek()) + "'"};
    }
    if (dids_arg.empty() && dids_file.empty()) throw usage_error{"enqueue needs --dids or --dids-file"};
    config::config cfg;
    try {
        cfg = config_path.empty() ? config::defaults() : config::load_file(config_path);
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "bsky-backfill enqueue: %s\n", e.what());
        return 2;
    }
    if (!url.empty()) cfg.output.nats.url = url;

    list_reader list;
    if (!dids_arg.empty()) {
        backfill::did_line_reader reader("--dids");
        std::string lines = dids_arg;
        for (auto& c : lines)
            if (c == ',') c = '\n';
        std::istringstream in(lines);
        list.read(reader, in);
    }
    if (!dids_file.empty()) {
        std::ifstream in(dids_file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "bsky-backfill enqueue: %s: cannot open the DID list\n", dids_file.c_str());
            return 1;
        }
        backfill::did_line_reader reader(dids_file);
        list.read(reader, in);
    }
    try {
        nats::work_stream stream(cfg.output.nats, log::null_logger(), false);
        auto result = stream.enqueue(list.dids);
        boost::json::object out{{"enqueued", result.added}, {"duplicates", result.duplicates}, {"rejected", list.rejected},
                                {"stream", cfg.output.nats.work_stream}, {"subject", cfg.output.nats.work_subject}};
        std::cout << boost::json::serialize(out) << "\n";
    } catch (const nats::error& e) {
        std::fprintf(stderr, "bsky-backfill enqueue: %s\n", e.what());
        return 1;
    }
    return list.rejected.empty() ? 0 : 1;
}

}  // namespace bsky::daemon
