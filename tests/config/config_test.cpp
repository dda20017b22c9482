// Config loading: each error kind names the key and the line.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace {

using bsky::config::config_error;
using bsky::config::load_string;

// A YAML double-quoted scalar holding `text` (escapes for the hostile bytes).
std::string yaml_quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '\n') out += "\\n";
        else if (c == '"' || c == '\\') out += std::string("\\") + c;
        else out += c;
    }
    return out + "\"";
}

std::string error_of(const std::string& yaml) {
    try {
        load_string(yaml, "test.yaml");
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(Config, ExampleFileMatchesTheDefaults) {
    // The documented example lists every key with its default: loading it must
    // give exactly what an empty file gives.
    auto example = bsky::config::load_file(BSKY_SOURCE_DIR "/config/bsky-backfill.yaml");
    auto empty = load_string("", "empty.yaml");
    EXPECT_EQ(example.plc_url, empty.plc_url);
    EXPECT_EQ(example.spool_dir, empty.spool_dir);
    EXPECT_EQ(example.state_dir, empty.state_dir);
    EXPECT_EQ(example.output.kind, empty.output.kind);
    EXPECT_EQ(example.output.format, empty.output.format);
    EXPECT_EQ(example.output.dir, empty.output.dir);
    EXPECT_EQ(example.output.batch_size, empty.output.batch_size);
    EXPECT_EQ(example.output.jsonl_rotate_bytes, empty.output.jsonl_rotate_bytes);
    EXPECT_EQ(example.output.nats.url, empty.output.nats.url);
    EXPECT_EQ(example.output.nats.stream, empty.output.nats.stream);
    EXPECT_EQ(example.output.nats.subject_prefix, empty.output.nats.subject_prefix);
    const auto &en = example.output.nats, &dn = empty.output.nats;
    EXPECT_EQ(en.replicas, dn.replicas);
    EXPECT_EQ(en.duplicate_window_seconds, dn.duplicate_window_seconds);
    EXPECT_EQ(en.max_pending_acks, dn.max_pending_acks);
    EXPECT_EQ(en.ack_timeout_seconds, dn.ack_timeout_seconds);
    EXPECT_EQ(en.publish_attempts, dn.publish_attempts);
    EXPECT_EQ(en.connect_timeout_seconds, dn.connect_timeout_seconds);
    EXPECT_EQ(en.user, dn.user);
    EXPECT_EQ(en.token, dn.token);
    EXPECT_EQ(en.work_stream, dn.work_stream);
    EXPECT_EQ(en.work_subject, dn.work_subject);
    EXPECT_EQ(en.work_consumer, dn.work_consumer);
    EXPECT_EQ(en.work_ack_wait_seconds, dn.work_ack_wait_seconds);
    EXPECT_EQ(en.work_max_deliveries, dn.work_max_deliveries);
    EXPECT_EQ(example.intake, empty.intake);
    EXPECT_EQ(example.record_types, empty.record_types);
    EXPECT_EQ(example.time_range.start_time, empty.time_range.start_time);
    EXPECT_EQ(example.time_range.end_time, empty.time_range.end_time);
    EXPECT_EQ(example.time_range.mode, empty.time_range.mode);
    EXPECT_EQ(example.rate_limits.pds.requests, empty.rate_limits.pds.requests);
    EXPECT_EQ(example.rate_limits.pds.window_seconds, empty.rate_limits.pds.window_seconds);
    EXPECT_EQ(example.rate_limits.pds.burst, empty.rate_limits.pds.burst);
    EXPECT_EQ(example.rate_limits.plc.requests, empty.rate_limits.plc.requests);
    EXPECT_EQ(example.rate_limits.plc.burst, empty.rate_limits.plc.burst);
    EXPECT_EQ(example.rate_limits.default_pause_seconds, empty.rate_limits.default_pause_seconds);
    EXPECT_EQ(example.rate_limits.max_pause_seconds, empty.rate_limits.max_pause_seconds);
    EXPECT_EQ(example.limits.max_open_connections, empty.limits.max_open_connections);
    EXPECT_EQ(example.timeouts.total_fetch_seconds, empty.timeouts.total_fetch_seconds);
    EXPECT_EQ(example.timeouts.idle_connection_seconds, empty.timeouts.idle_connection_seconds);
    EXPECT_EQ(example.allow_insecure_http, empty.allow_insecure_http);
    EXPECT_EQ(example.rate_limits.max_concurrent_fetches, empty.rate_limits.max_concurrent_fetches);
    EXPECT_EQ(example.rate_limits.max_concurrent_per_host, empty.rate_limits.max_concurrent_per_host);
    EXPECT_EQ(example.retries.max_attempts, empty.retries.max_attempts);
    EXPECT_EQ(example.retries.backoff_base_seconds, empty.retries.backoff_base_seconds);
    EXPECT_EQ(example.retries.backoff_cap_seconds, empty.retries.backoff_cap_seconds);
    EXPECT_EQ(example.limits.max_car_bytes, empty.limits.max_car_bytes);
    EXPECT_EQ(example.limits.max_block_bytes, empty.limits.max_block_bytes);
    EXPECT_EQ(example.limits.spill_threshold_bytes, empty.limits.spill_threshold_bytes);
    EXPECT_EQ(example.limits.max_did_document_bytes, empty.limits.max_did_document_bytes);
    EXPECT_EQ(example.limits.max_cbor_depth, empty.limits.max_cbor_depth);
    EXPECT_EQ(example.timeouts.connect_seconds, empty.timeouts.connect_seconds);
    EXPECT_EQ(example.timeouts.idle_body_seconds, empty.timeouts.idle_body_seconds);
    EXPECT_EQ(example.resolve.cache_ttl_seconds, empty.resolve.cache_ttl_seconds);
    EXPECT_EQ(example.resolve.cache_max_entries, empty.resolve.cache_max_entries);
    EXPECT_EQ(example.resolve.hosts, empty.resolve.hosts);
    EXPECT_EQ(example.resolve.plc_export, empty.resolve.plc_export);
    EXPECT_EQ(example.verify_signatures, empty.verify_signatures);
    EXPECT_EQ(example.incremental_sync, empty.incremental_sync);
    EXPECT_EQ(example.allow_private_addresses, empty.allow_private_addresses);
    EXPECT_EQ(example.tls_ca_file, empty.tls_ca_file);
    EXPECT_EQ(example.metrics_listen, empty.metrics_listen);
    EXPECT_EQ(example.log_level, empty.log_level);
}

TEST(Config, DefaultsFollowTheSpec) {
    auto cfg = bsky::config::defaults();
    EXPECT_EQ(cfg.plc_url, "https://plc.directory");
    EXPECT_EQ(cfg.time_range.start, "2024-09-27-00:00:00");
    EXPECT_EQ(cfg.time_range.end, "2024-12-02-00:00:00");
    EXPECT_EQ(cfg.time_range.mode, bsky::config::time_range_mode::tag);
    EXPECT_EQ(cfg.rate_limits.pds.requests, 2700);
    EXPECT_EQ(cfg.rate_limits.pds.window_seconds, 300);
    EXPECT_EQ(cfg.rate_limits.default_pause_seconds, 60);
    EXPECT_EQ(cfg.rate_limits.max_pause_seconds, 3600);
    EXPECT_EQ(cfg.limits.max_open_connections, 64u);
    EXPECT_EQ(cfg.timeouts.total_fetch_seconds, 3600);
    EXPECT_EQ(cfg.timeouts.idle_connection_seconds, 30);
    EXPECT_FALSE(cfg.allow_insecure_http);
    EXPECT_EQ(cfg.record_types, (std::vector<std::string>{"block", "follow", "like", "post", "reply", "repost"}));
    EXPECT_TRUE(cfg.verify_signatures);
    EXPECT_FALSE(cfg.allow_private_addresses);
    EXPECT_EQ(cfg.output.kind, bsky::config::output_kind::sqlite);
    EXPECT_EQ(cfg.metrics_listen, "127.0.0.1:9464");
}

TEST(Config, ReadsValues) {
    auto cfg = load_string(
        "plc_url: http://127.0.0.1:2582/\n"
        "output:\n  kind: jsonl\n  batch_size: 7\n  jsonl_rotate_bytes: 1.5MiB\n"
        "record_types: [post, app.bsky.actor.profile]\n"
        "time_range: {start: 2020-01-01-00:00:00, end: 2021-01-01-00:00:00, mode: filter}\n"
        "limits: {spill_threshold_bytes: 8MB}\n"
        "resolve: {hosts: {pds.lab.example: 10.1.2.3, v6.lab.example: '::1'}}\n"
        "log_level: debug\n");
    EXPECT_EQ(cfg.plc_url, "http://127.0.0.1:2582");
    EXPECT_EQ(cfg.resolve.hosts, (std::map<std::string, std::string>{{"pds.lab.example", "10.1.2.3"}, {"v6.lab.example", "::1"}}));
    EXPECT_EQ(cfg.output.kind, bsky::config::output_kind::jsonl);
    EXPECT_EQ(cfg.output.batch_size, 7u);
    EXPECT_EQ(cfg.output.jsonl_rotate_bytes, 1572864u);
    EXPECT_EQ(cfg.record_types, (std::vector<std::string>{"post", "app.bsky.actor.profile"}));
    EXPECT_EQ(cfg.time_range.mode, bsky::config::time_range_mode::filter);
    EXPECT_EQ(cfg.limits.spill_threshold_bytes, 8000000u);
    EXPECT_EQ(cfg.log_level, bsky::log::level::debug);
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
    EXPECT_EQ(error_of("log_level: info\noutput:\n  kind: sqlite\n  batchsize: 5\n"),
              "test.yaml:4: output.batchsize: unknown key (see config/bsky-backfill.yaml for the keys that exist)");
    EXPECT_EQ(error_of("colour: blue\n"),
              "test.yaml:1: colour: unknown key (see config/bsky-backfill.yaml for the keys that exist)");
}

TEST(Config, WrongTypeNamesKeyAndLine) {
    EXPECT_EQ(error_of("\n\noutput:\n  batch_size: many\n"),
              "test.yaml:4: output.batch_size: expected a whole number from 1 to 100000, got 'many'");
    EXPECT_EQ(error_of("verify_signatures: maybe\n"), "test.yaml:1: verify_signatures: expected true or false, got 'maybe'");
    EXPECT_EQ(error_of("record_types: post\n"), "test.yaml:1: record_types: expected a list such as [post, reply, like]");
    EXPECT_EQ(error_of("output: 5\n"), "test.yaml:1: output: expected a mapping of keys");
    EXPECT_EQ(error_of("retries:\n  max_attempts: -1\n"),
              "test.yaml:2: retries.max_attempts: expected a whole number from 1 to 100, got '-1'");
    EXPECT_EQ(error_of("rate_limits:\n  pds:\n    requests: 0\n"),
              "test.yaml:3: rate_limits.pds.requests: expected a number from 1 to 10000000, got '0'");
}

TEST(Config, BadValuesNameTheKey) {
    EXPECT_EQ(error_of("output: {kind: kafka}\n"), "test.yaml:1: output.kind: expected one of sqlite, jsonl, nats, got 'kafka'");
    EXPECT_EQ(error_of("limits:\n  max_block_bytes: lots\n"),
              "test.yaml:2: limits.max_block_bytes: expected a size from 1KiB to 256MiB (such as 4096, 64KiB, 64MiB or 2GiB), got "
              "'lots'");
    EXPECT_EQ(error_of("plc_url: plc.directory\n"), "test.yaml:1: plc_url: expected an http:// or https:// URL, got 'plc.directory'");
    EXPECT_EQ(error_of("log_level: loud\n"),
              "test.yaml:1: log_level: expected trace, debug, info, warn, error, critical or off, got 'loud'");
    EXPECT_EQ(error_of("time_range: {start: 2024-09-27T00:00:00Z}\n"),
              "test.yaml: time_range.start: expected YYYY-MM-DD-HH:MM:SS (UTC), got '2024-09-27T00:00:00Z'");
    EXPECT_EQ(error_of("time_range: {start: 2025-01-01-00:00:00, end: 2024-01-01-00:00:00}\n"),
              "test.yaml: time_range: start 2025-01-01-00:00:00 is after end 2024-01-01-00:00:00");
    EXPECT_EQ(error_of("record_types: [post, post]\n"), "test.yaml: record_types: 'post' is listed twice");
    EXPECT_EQ(error_of("record_types: [po-st]\n"),
              "test.yaml:1: record_types: 'po-st' is neither a record type name (1-63 ASCII letters and digits, such as post or "
              "like) nor a collection NSID (such as app.bsky.feed.like)");
    EXPECT_EQ(error_of("resolve:\n  hosts: {pds.lab.example: pds.other.example}\n"),
              "test.yaml:2: resolve.hosts: 'pds.other.example' (for pds.lab.example) is not an IPv4 or IPv6 address");
    EXPECT_EQ(error_of("rate_limits: {max_concurrent_fetches: 2, max_concurrent_per_host: 3}\n"),
              "test.yaml: rate_limits.max_concurrent_per_host: must not exceed rate_limits.max_concurrent_fetches");
    EXPECT_EQ(error_of("rate_limits: {max_pause_seconds: 1e9}\n"), "test.yaml:1: rate_limits.max_pause_seconds: expected a number from 1 to 604800, got '1e9'");
    EXPECT_EQ(load_string("rate_limits: {max_concurrent_fetches: 100}\n").limits.max_open_connections, 200u) << "sized to the cap when absent";
    EXPECT_EQ(error_of("limits: {max_open_connections: 8}\n"),
              "test.yaml: limits.max_open_connections: must be at least rate_limits.max_concurrent_fetches");
    EXPECT_EQ(error_of("timeouts: {idle_connection_seconds: 7200}\n"), "test.yaml:1: timeouts.idle_connection_seconds: expected a number from 0.1 to 3600, got '7200'");
    EXPECT_EQ(error_of("timeouts: {total_fetch_seconds: 10}\n"),
              "test.yaml: timeouts.total_fetch_seconds: must be at least timeouts.idle_body_seconds");
    EXPECT_EQ(error_of("allow_insecure_http: sometimes\n"), "test.yaml:1: allow_insecure_http: expected true or false, got 'sometimes'");
}

TEST(Config, RecordTypesCannotNameAPath) {
    // A configured type becomes a directory (jsonl), a file name (sqlite) and a subject (nats).
    for (auto bad : {"/tmp/evil", "../x", "post/..", "evil type", "x./tmp/evil", "like\n", "caf\xc3\xa9", ""}) {
        auto yaml = "\nrecord_types:\n  - post\n  - " + yaml_quoted(bad) + "\n";
        auto message = error_of(yaml);
        EXPECT_TRUE(message.starts_with("test.yaml:3: record_types: '")) << bad << " -> " << message;
        EXPECT_NE(message.find("is neither a record type name"), std::string::npos) << message;
    }
    // validate() applies the same rule to types that come from the command line (--types).
    auto cfg = bsky::config::defaults();
    cfg.record_types = {"post", "/tmp/evil"};
    try {
        bsky::config::validate(cfg, "command line");
        FAIL() << "a path was accepted as a record type";
    } catch (const config_error& e) {
        EXPECT_TRUE(std::string(e.what()).starts_with("command line: record_types: '/tmp/evil' is neither")) << e.what();
    }
    EXPECT_EQ(load_string("record_types: [listitem, app.bsky.graph.listitem, threadgate]").record_types.size(), 3u);
}

// Every numeric key has a range: the first value below it and the first above it
// are errors that name the file, the line and the key; the bounds themselves load.
TEST(Config, EveryNumberHasARange) {
    struct bounded {
        const char* section;  ///< YAML text before the key, ending in the key's indentation
        const char* key;
        const char* dotted;
        const char* min;
        const char* below;
        const char* max;
        const char* above;
    };
    const bounded keys[] = {
        {"output:\n  ", "batch_size", "output.batch_size", "1", "0", "100000", "100001"},
        {"output:\n  ", "jsonl_rotate_bytes", "output.jsonl_rotate_bytes", "4KiB", "4095", "1TiB", "1100GB"},
        {"rate_limits:\n  pds:\n    ", "requests", "rate_limits.pds.requests", "1", "0.5", "10000000", "10000001"},
        {"rate_limits:\n  pds:\n    ", "window_seconds", "rate_limits.pds.window_seconds", "1", "0.9", "86400", "86401"},
        {"rate_limits:\n  plc:\n    ", "burst", "rate_limits.plc.burst", "1", "0", "10000000", "1e8"},
        {"rate_limits:\n  ", "default_pause_seconds", "rate_limits.default_pause_seconds", "1", "-60", "86400", "1e9"},
        {"rate_limits:\n  ", "max_concurrent_fetches", "rate_limits.max_concurrent_fetches", "1000", "0", "10000", "10001"},
        {"rate_limits:\n  max_concurrent_fetches: 10000\n  ", "max_concurrent_per_host", "rate_limits.max_concurrent_per_host", "1", "0", "1000", "1001"},
        {"retries:\n  ", "max_attempts", "retries.max_attempts", "1", "0", "100", "101"},
        {"retries:\n  backoff_cap_seconds: 86400\n  ", "backoff_base_seconds", "retries.backoff_base_seconds", "0.001", "0", "3600", "3601"},
        {"retries:\n  ", "backoff_cap_seconds", "retries.backoff_cap_seconds", "1", "0.0001", "86400", "86401"},
        {"limits:\n  ", "max_car_bytes", "limits.max_car_bytes", "256MiB", "1023", "1TiB", "2TiB"},
        {"limits:\n  ", "max_block_bytes", "limits.max_block_bytes", "1KiB", "1000", "256MiB", "257MiB"},
        {"limits:\n  ", "spill_threshold_bytes", "limits.spill_threshold_bytes", "64KiB", "65535", "1TiB", "1025GiB"},
        {"limits:\n  ", "max_did_document_bytes", "limits.max_did_document_bytes", "1KiB", "1000", "16MiB", "17MiB"},
        {"limits:\n  ", "max_cbor_depth", "limits.max_cbor_depth", "16", "15", "4096", "4097"},
        {"timeouts:\n  ", "connect_seconds", "timeouts.connect_seconds", "0.1", "0.05", "3600", "3601"},
        {"timeouts:\n  ", "tls_handshake_seconds", "timeouts.tls_handshake_seconds", "0.1", "0", "3600", "inf"},
        {"timeouts:\n  ", "response_headers_seconds", "timeouts.response_headers_seconds", "0.1", "nan", "3600", "7200"},
        {"timeouts:\n  ", "idle_body_seconds", "timeouts.idle_body_seconds", "0.1", "", "3600", "3600.5"},
        {"resolve:\n  ", "cache_ttl_seconds", "resolve.cache_ttl_seconds", "1", "0", "2592000", "2592001"},
        {"resolve:\n  ", "cache_max_entries", "resolve.cache_max_entries", "1", "0", "100000000", "100000001"},
    };
    for (const auto& k : keys) {
        auto yaml = [&](const char* value) { return std::string("log_level: info\n") + k.section + k.key + ": '" + value + "'\n"; };
        int line = 2 + static_cast<int>(std::count(k.section, k.section + std::strlen(k.section), '\n'));
        for (auto bad : {k.below, k.above}) {
            auto message = error_of(yaml(bad));
            auto want = "test.yaml:" + std::to_string(line) + ": " + k.dotted + ": expected ";
            EXPECT_TRUE(message.starts_with(want)) << k.dotted << " = '" << bad << "' -> " << message;
            EXPECT_NE(message.find(std::string("got '") + bad + "'"), std::string::npos) << message;
        }
        EXPECT_EQ(error_of(yaml(k.min)), "no error") << k.dotted << " = " << k.min;
        EXPECT_EQ(error_of(yaml(k.max)), "no error") << k.dotted << " = " << k.max;
    }
    // Whole numbers take digits only.
    for (auto bad : {"1e3", "+5", " 5", "5.0", "0x10", "99999999999999999999"})
        EXPECT_NE(error_of(std::string("retries: {max_attempts: '") + bad + "'}\n"), "no error") << bad;
}

TEST(Config, InvalidYamlNamesTheLine) {
    auto message = error_of("output:\n  kind: [sqlite\n");
    EXPECT_TRUE(message.starts_with("test.yaml:")) << message;
    EXPECT_NE(message.find("not valid YAML"), std::string::npos) << message;
}

TEST(Config, MissingFileSaysSo) {
    try {
        bsky::config::load_file("/nonexistent/bsky.yaml");
        FAIL() << "expected an error";
    } catch (const config_error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/bsky.yaml: cannot open the config file (does it exist and is it readable?)");
    }
}

TEST(Config, KeysNeedingRestart) {
    auto a = load_string("");
    auto b = load_string("output: {dir: /tmp/x, batch_size: 9}\nlog_level: debug\nmetrics: {listen: '127.0.0.1:1'}\n");
    EXPECT_EQ(bsky::config::keys_needing_restart(a, b), (std::vector<std::string>{"output.dir", "metrics.listen"}));
}

TEST(Config, PlcExportIsAFileAndNeedsARestart) {
    EXPECT_TRUE(load_string("").resolve.plc_export.empty());
    auto cfg = load_string("resolve: {plc_export: /data/plc-export.jsonl}\n");
    EXPECT_EQ(cfg.resolve.plc_export, "/data/plc-export.jsonl");
    EXPECT_EQ(bsky::config::keys_needing_restart(load_string(""), cfg), (std::vector<std::string>{"resolve.plc_export"}));
    auto dir = std::filesystem::temp_directory_path().string();
    EXPECT_EQ(error_of("resolve: {plc_export: '" + dir + "'}\n"),
              "test.yaml: resolve.plc_export: " + dir + " is a directory; name the export file (JSON lines) itself");
    EXPECT_EQ(error_of("resolve: {plc_export: ''}\n"), "test.yaml:1: resolve.plc_export: must not be empty");
}

TEST(Config, ByteSizes) {
    std::uint64_t v = 0;
    EXPECT_TRUE(bsky::config::parse_byte_size("4096", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(bsky::config::parse_byte_size("64KiB", v));
    EXPECT_EQ(v, 65536u);
    EXPECT_TRUE(bsky::config::parse_byte_size("2 GiB", v));
    EXPECT_EQ(v, 2147483648u);
    EXPECT_TRUE(bsky::config::parse_byte_size("1MB", v));
    EXPECT_EQ(v, 1000000u);
    EXPECT_FALSE(bsky::config::parse_byte_size("MiB", v));
    EXPECT_FALSE(bsky::config::parse_byte_size("12 parsecs", v));
    EXPECT_FALSE(bsky::config::parse_byte_size("99999999999TiB", v));
}

}  // namespace

TEST(Config, NatsKeysAreChecked) {
    auto cfg = load_string("output:\n  kind: nats\n  nats:\n    url: nats://a:4222,nats://b:4222\n    replicas: 3\n"
                           "intake: {kind: nats}\n",
                           "n.yaml");
    EXPECT_EQ(cfg.output.nats.url, "nats://a:4222,nats://b:4222");
    EXPECT_EQ(cfg.output.nats.replicas, 3u);
    EXPECT_EQ(cfg.intake, bsky::config::intake_kind::nats);
    EXPECT_EQ(error_of("output: {nats: {subject_prefix: 'a.>'}}\n"),
              "test.yaml:1: output.nats.subject_prefix: expected a NATS subject such as backfill.records (letters, digits, '_', '-', "
              "dot-separated), got 'a.>'");
    EXPECT_EQ(error_of("output: {nats: {stream: a.b}}\n"),
              "test.yaml:1: output.nats.stream: expected a stream or consumer name such as BACKFILL (1-64 letters, digits, '_', '-'), "
              "got 'a.b'");
    EXPECT_EQ(error_of("output: {nats: {replicas: 7}}\n"), "test.yaml:1: output.nats.replicas: expected a whole number from 1 to 5, got '7'");
    // The work subject inside the record stream's subjects: JetStream would refuse the second stream.
    EXPECT_EQ(error_of("output: {kind: nats, nats: {work_subject: backfill.records.dids}}\n"),
              "test.yaml: output.nats.work_subject: 'backfill.records.dids' is inside backfill.records.>, the record stream's "
              "subjects; JetStream keeps one subject in one stream");
    EXPECT_EQ(error_of("output: {kind: nats}\nrecord_types: [post, x.y.commits]\n"),
              "test.yaml: record_types: 'x.y.commits' would publish on backfill.records.commits, the subject of the per-DID commit "
              "messages");
    EXPECT_EQ(error_of("intake: {kind: kafka}\n"), "test.yaml:1: intake.kind: expected one of spool, nats, got 'kafka'");
}

TEST(Config, AKeyGivenTwiceIsAnError) {
    EXPECT_EQ(error_of("output: {batch_size: 5}\nlog_level: info\noutput: {kind: jsonl}\n"),
              "test.yaml:3: output: given twice; merge the two into one");
    EXPECT_EQ(error_of("retries:\n  max_attempts: 2\n  max_attempts: 3\n"), "test.yaml:3: retries.max_attempts: given twice; merge the two into one");
}
