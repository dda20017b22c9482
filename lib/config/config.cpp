#include "config/config.hpp"

#include "syntax/datetime.hpp"
#include "syntax/syntax.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace bsky::config {

namespace {

// Walks one YAML mapping, binding known keys to fields and reporting the first
// unknown key, wrong type or bad value with its dotted path and line.
class map_reader {
public:
    map_reader(const YAML::Node& node, std::string path, const std::string& source)
        : node_(node), path_(std::move(path)), source_(source) {
        if (node_ && !node_.IsNull() && !node_.IsMap())
            fail(node_, path_.empty() ? "the document" : path_, "expected a mapping of keys");
        // YAML takes the first of two equal keys without a word: the second would be silently ignored.
        if (node_ && node_.IsMap()) {
            std::set<std::string> keys;
            for (const auto& kv : node_)
                if (kv.first.IsScalar() && !keys.insert(kv.first.Scalar()).second)
                    fail(kv.first, dotted(kv.first.Scalar()), "given twice; merge the two into one");
        }
    }

    // Reports keys that no get()/section() call asked for.
    ~map_reader() noexcept(false) {
        if (std::uncaught_exceptions() > 0 || !node_ || !node_.IsMap()) return;
        for (const auto& kv : node_) {
            auto key = kv.first.as<std::string>();
            if (!seen_.contains(key))
                fail(kv.first, dotted(key), "unknown key (see config/bsky-backfill.yaml for the keys that exist)");
        }
    }

    map_reader section(const std::string& key) {
        seen_.insert(key);
        return map_reader(child(key), dotted(key), source_);
    }

    template <class T, class Parse>
    void get(const std::string& key, T& field, Parse&& parse) {
        seen_.insert(key);
        auto value = child(key);
        if (!value || value.IsNull()) return;  // absent or `~`: keep the default
        std::string why;
        if (!parse(value, field, why)) fail(value, dotted(key), why);
    }

    [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& why) const {
        std::ostringstream msg;
        msg << source_;
        if (at.Mark().line >= 0) msg << ':' << at.Mark().line + 1;
        msg << ": " << key << ": " << why;
        throw config_error(msg.str());
    }

private:
    YAML::Node child(const std::string& key) const {
        if (!node_ || !node_.IsMap()) return YAML::Node();
        return node_[key];
    }
    std::string dotted(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

    YAML::Node node_;
    std::string path_;
    const std::string& source_;
    std::set<std::string> seen_;
};

std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string{}; }

auto as_string = [](const YAML::Node& n, std::string& out, std::string& why) {
    if (!n.IsScalar()) {
        why = "expected a string";
        return false;
    }
    out = n.Scalar();
    return true;
};

auto as_path = [](const YAML::Node& n, std::filesystem::path& out, std::string& why) {
    std::string s;
    if (!as_string(n, s, why)) return false;
    if (s.empty()) {
        why = "must not be empty";
        return false;
    }
    out = s;
    return true;
};

// A NATS subject we publish on: dot-separated tokens, no wildcards or spaces.
auto as_subject = [](const YAML::Node& n, std::string& out, std::string& why) {
    if (!as_string(n, out, why)) return false;
    bool ok = !out.empty() && out.front() != '.' && out.back() != '.' && out.find("..") == std::string::npos;
    for (char c : out) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
    if (!ok) why = "expected a NATS subject such as backfill.records (letters, digits, '_', '-', dot-separated), got '" + out + "'";
    return ok;
};

// A JetStream stream or consumer name: no dots, wildcards, spaces or slashes.
auto as_nats_name = [](const YAML::Node& n, std::string& out, std::string& why) {
    if (!as_string(n, out, why)) return false;
    bool ok = !out.empty() && out.size() <= 64;
    for (char c : out) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
    if (!ok) why = "expected a stream or consumer name such as BACKFILL (1-64 letters, digits, '_', '-'), got '" + out + "'";
    return ok;
};

auto as_bool = [](const YAML::Node& n, bool& out, std::string& why) {
    auto s = scalar_text(n);
    if (s == "true" || s == "yes" || s == "on") out = true;
    else if (s == "false" || s == "no" || s == "off") out = false;
    else {
        why = "expected true or false, got '" + s + "'";
        return false;
    }
    return true;
};

// Range-checked parsers: every number a user can set has bounds a
// demanding operator would accept, so a typo (an extra zero, a minus sign)
// is an error naming the line, not a daemon that misbehaves.

// A whole number in [min, max]: digits only (no sign, exponent or fraction).
template <class T>
auto count_in(T min, T max) {
    return [min, max](const YAML::Node& n, T& out, std::string& why) {
        auto s = scalar_text(n);
        unsigned long long v = 0;
        bool digits = !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
        if (digits) v = std::strtoull(s.c_str(), nullptr, 10);
        if (!digits || v < min || v > max) {
            why = "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" + s + "'";
            return false;
        }
        out = static_cast<T>(v);
        return true;
    };
}

std::string number_text(double v) {
    std::ostringstream text;
    text.precision(10);
    text << v;
    return text.str();
}

// A (decimal) number in [min, max].
auto number_in(double min, double max) {
    return [min, max](const YAML::Node& n, double& out, std::string& why) {
        auto s = scalar_text(n);
        char* end = nullptr;
        double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
        if (s.empty() || !end || *end != '\0' || !std::isfinite(v) || v < min || v > max) {
            why = "expected a number from " + number_text(min) + " to " + number_text(max) + ", got '" + s + "'";
            return false;
        }
        out = v;
        return true;
    };
}

std::string size_text(std::uint64_t bytes) {
    static constexpr std::pair<std::uint64_t, const char*> units[] = {
        {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
    for (auto [factor, unit] : units)
        if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + unit;
    return std::to_string(bytes);
}

// A byte size ("4096", "64KiB", "2GiB") in [min, max].
auto bytes_in(std::uint64_t min, std::uint64_t max) {
    return [min, max](const YAML::Node& n, std::uint64_t& out, std::string& why) {
        auto s = scalar_text(n);
        std::uint64_t v = 0;
        if (!parse_byte_size(s, v) || v < min || v > max) {
            why = "expected a size from " + size_text(min) + " to " + size_text(max) +
                  " (such as 4096, 64KiB, 64MiB or 2GiB), got '" + s + "'";
            return false;
        }
        out = v;
        return true;
    };
}

auto as_url = [](const YAML::Node& n, std::string& out, std::string& why) {
    auto s = scalar_text(n);
    if (!(s.starts_with("https://") || s.starts_with("http://")) || s.size() < 10) {
        why = "expected an http:// or https:// URL, got '" + s + "'";
        return false;
    }
    while (s.ends_with('/')) s.pop_back();
    out = s;
    return true;
};

// A parser for a closed set of names: one_of<E>({{"a", E::a}, {"b", E::b}}).
template <class E>
auto one_of(std::initializer_list<std::pair<const char*, E>> choices) {
    std::vector<std::pair<std::string, E>> table(choices.begin(), choices.end());
    return [table](const YAML::Node& n, E& out, std::string& why) {
        auto s = scalar_text(n);
        std::string names;
        for (const auto& [name, value] : table) {
            if (s == name) {
                out = value;
                return true;
            }
            names += (names.empty() ? "" : ", ") + name;
        }
        why = "expected one of " + names + ", got '" + s + "'";
        return false;
    };
}

// A record type becomes a file name and a subject: a short name (post,
// like, profile: the rule of syntax::is_output_name) or a full collection NSID.
std::string record_type_problem(const std::string& type) {
    if (syntax::is_output_name(type) || syntax::is_nsid(type)) return {};
    return "'" + type.substr(0, 64) + "' is neither a record type name (1-63 ASCII letters and digits, such as post or like) " +
           "nor a collection NSID (such as app.bsky.feed.like)";
}

}  // namespace

bool parse_byte_size(std::string_view text, std::uint64_t& out) noexcept {
    std::size_t i = 0;
    double number = 0;
    bool any = false, fraction = false;
    double scale = 0.1;
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            any = true;
            if (fraction) {
                number += (c - '0') * scale;
                scale /= 10;
            } else {
                number = number * 10 + (c - '0');
            }
        } else if (c == '.' && !fraction) {
            fraction = true;
        } else {
            break;
        }
    }
    if (!any) return false;
    auto unit = text.substr(i);
    while (unit.starts_with(' ')) unit.remove_prefix(1);
    double multiplier = 1;
    struct suffix { std::string_view name; double factor; };
    static constexpr suffix suffixes[] = {
        {"", 1}, {"B", 1}, {"k", 1e3}, {"K", 1e3}, {"KB", 1e3}, {"kB", 1e3}, {"M", 1e6}, {"MB", 1e6},
        {"G", 1e9}, {"GB", 1e9}, {"T", 1e12}, {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0},
        {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    bool known = false;
    for (const auto& sfx : suffixes) {
        if (unit == sfx.name) {
            multiplier = sfx.factor;
            known = true;
            break;
        }
    }
    if (!known) return false;
    double bytes = number * multiplier;
    if (bytes >= 1.8e19) return false;
    out = static_cast<std::uint64_t>(bytes);
    return true;
}

config defaults() {
    config cfg;
    validate(cfg, "<defaults>");
    return cfg;
}

void validate(config& cfg, const std::string& source) {
    auto fail = [&](const std::string& key, const std::string& why) {
        throw config_error(source + ": " + key + ": " + why);
    };
    auto start = syntax::parse_pipeline_timestamp(cfg.time_range.start);
    if (!start) fail("time_range.start", "expected YYYY-MM-DD-HH:MM:SS (UTC), got '" + cfg.time_range.start + "'");
    auto end = syntax::parse_pipeline_timestamp(cfg.time_range.end);
    if (!end) fail("time_range.end", "expected YYYY-MM-DD-HH:MM:SS (UTC), got '" + cfg.time_range.end + "'");
    if (*start > *end) fail("time_range", "start " + cfg.time_range.start + " is after end " + cfg.time_range.end);
    cfg.time_range.start_time = *start;
    cfg.time_range.end_time = *end;

    if (cfg.record_types.empty()) fail("record_types", "must name at least one record type");
    std::set<std::string> unique;
    for (const auto& type : cfg.record_types) {
        if (auto why = record_type_problem(type); !why.empty()) fail("record_types", why);
        if (!unique.insert(type).second) fail("record_types", "'" + type + "' is listed twice");
    }
    if (cfg.output.kind == output_kind::nats) {
        const auto& n = cfg.output.nats;
        for (const auto& type : cfg.record_types) {
            auto last = type.substr(type.rfind('.') + 1);
            if (last == "commits")
                fail("record_types", "'" + type + "' would publish on " + n.subject_prefix +
                                         ".commits, the subject of the per-DID commit messages");
        }
        if (n.work_subject.starts_with(n.subject_prefix + "."))
            fail("output.nats.work_subject", "'" + n.work_subject + "' is inside " + n.subject_prefix +
                                                 ".>, the record stream's subjects; JetStream keeps one subject in one stream");
        if (n.work_stream == n.stream) fail("output.nats.work_stream", "must differ from output.nats.stream");
        if (n.password.empty() != n.user.empty()) fail("output.nats.user", "user and password go together");
        if (n.tls_cert_file.empty() != n.tls_key_file.empty())
            fail("output.nats.tls_cert_file", "tls_cert_file and tls_key_file go together");
    }
    if (cfg.retries.backoff_base_seconds > cfg.retries.backoff_cap_seconds)
        fail("retries.backoff_base_seconds", "must not exceed retries.backoff_cap_seconds");
    if (cfg.rate_limits.max_concurrent_per_host > cfg.rate_limits.max_concurrent_fetches)
        fail("rate_limits.max_concurrent_per_host", "must not exceed rate_limits.max_concurrent_fetches");
    if (cfg.limits.max_block_bytes > cfg.limits.max_car_bytes)
        fail("limits.max_block_bytes", "must not exceed limits.max_car_bytes");
    if (!cfg.resolve.plc_export.empty() && std::filesystem::is_directory(cfg.resolve.plc_export))
        fail("resolve.plc_export", cfg.resolve.plc_export.string() + " is a directory; name the export file (JSON lines) itself");
    if (cfg.limits.max_open_connections == 0) cfg.limits.max_open_connections = 2 * cfg.rate_limits.max_concurrent_fetches;
    // Every fetch in flight holds a connection: fewer than that would close connections in use.
    if (cfg.limits.max_open_connections < cfg.rate_limits.max_concurrent_fetches)
        fail("limits.max_open_connections", "must be at least rate_limits.max_concurrent_fetches");
    if (cfg.timeouts.total_fetch_seconds < cfg.timeouts.idle_body_seconds)
        fail("timeouts.total_fetch_seconds", "must be at least timeouts.idle_body_seconds");
    if (auto colon = cfg.metrics_listen.rfind(':'); colon == std::string::npos || colon == 0 ||
                                                    colon + 1 == cfg.metrics_listen.size())
        fail("metrics.listen", "expected HOST:PORT, got '" + cfg.metrics_listen + "'");
}

config load_string(const std::string& text, const std::string& source) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw config_error(source + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
    }
    config cfg;
    {
        map_reader top(root, "", source);
        top.get("plc_url", cfg.plc_url, as_url);
        top.get("spool_dir", cfg.spool_dir, as_path);
        top.get("state_dir", cfg.state_dir, as_path);
        top.get("verify_signatures", cfg.verify_signatures, as_bool);
        top.get("stop_timeout_seconds", cfg.stop_timeout_seconds, number_in(0.1, 86400));
        top.get("incremental_sync", cfg.incremental_sync, as_bool);
        top.get("allow_private_addresses", cfg.allow_private_addresses, as_bool);
        top.get("allow_insecure_http", cfg.allow_insecure_http, as_bool);
        top.get("log_level", cfg.log_level, [](const YAML::Node& n, log::level& out, std::string& why) {
            if (log::parse_level(scalar_text(n), out)) return true;
            why = "expected trace, debug, info, warn, error, critical or off, got '" + scalar_text(n) + "'";
            return false;
        });
        top.get("record_types", cfg.record_types, [](const YAML::Node& n, std::vector<std::string>& out, std::string& why) {
            if (!n.IsSequence()) {
                why = "expected a list such as [post, reply, like]";
                return false;
            }
            out.clear();
            for (const auto& item : n) {
                if (!item.IsScalar()) {
                    why = "every entry must be a string";
                    return false;
                }
                why = record_type_problem(item.Scalar());
                if (!why.empty()) return false;
                out.push_back(item.Scalar());
            }
            return true;
        });
        {
            auto out = top.section("output");
            out.get("kind", cfg.output.kind,
                    one_of<output_kind>({{"sqlite", output_kind::sqlite}, {"jsonl", output_kind::jsonl}, {"nats", output_kind::nats}}));
            out.get("format", cfg.output.format, one_of<output_format>({{"pipeline", output_format::pipeline}, {"raw", output_format::raw}}));
            out.get("dir", cfg.output.dir, as_path);
            out.get("batch_size", cfg.output.batch_size, count_in<std::uint32_t>(1, 100000));
            out.get("jsonl_rotate_bytes", cfg.output.jsonl_rotate_bytes, bytes_in(4ull << 10, 1ull << 40));
            auto nats = out.section("nats");
            nats.get("url", cfg.output.nats.url, as_string);
            nats.get("stream", cfg.output.nats.stream, as_nats_name);
            nats.get("subject_prefix", cfg.output.nats.subject_prefix, as_subject);
            nats.get("replicas", cfg.output.nats.replicas, count_in<std::uint32_t>(1, 5));
            nats.get("duplicate_window_seconds", cfg.output.nats.duplicate_window_seconds, number_in(1, 30 * 86400));
            nats.get("max_pending_acks", cfg.output.nats.max_pending_acks, count_in<std::uint32_t>(1, 1000000));
            nats.get("ack_timeout_seconds", cfg.output.nats.ack_timeout_seconds, number_in(0.1, 3600));
            nats.get("publish_attempts", cfg.output.nats.publish_attempts, count_in<std::uint32_t>(1, 1000));
            nats.get("connect_timeout_seconds", cfg.output.nats.connect_timeout_seconds, number_in(0, 3600));
            nats.get("user", cfg.output.nats.user, as_string);
            nats.get("password", cfg.output.nats.password, as_string);
            nats.get("token", cfg.output.nats.token, as_string);
            nats.get("creds_file", cfg.output.nats.creds_file, as_path);
            nats.get("tls_ca_file", cfg.output.nats.tls_ca_file, as_path);
            nats.get("tls_cert_file", cfg.output.nats.tls_cert_file, as_path);
            nats.get("tls_key_file", cfg.output.nats.tls_key_file, as_path);
            nats.get("work_stream", cfg.output.nats.work_stream, as_nats_name);
            nats.get("work_subject", cfg.output.nats.work_subject, as_subject);
            nats.get("work_consumer", cfg.output.nats.work_consumer, as_nats_name);
            nats.get("work_ack_wait_seconds", cfg.output.nats.work_ack_wait_seconds, number_in(1, 86400));
            nats.get("work_max_deliveries", cfg.output.nats.work_max_deliveries, count_in<std::uint32_t>(1, 1000));
        }
        {
            auto in = top.section("intake");
            in.get("kind", cfg.intake, one_of<intake_kind>({{"spool", intake_kind::spool}, {"nats", intake_kind::nats}}));
        }
        {
            auto tr = top.section("time_range");
            tr.get("start", cfg.time_range.start, as_string);
            tr.get("end", cfg.time_range.end, as_string);
            tr.get("mode", cfg.time_range.mode, one_of<time_range_mode>({{"tag", time_range_mode::tag}, {"filter", time_range_mode::filter}}));
        }
        {
            auto rl = top.section("rate_limits");
            for (auto [name, bucket] : {std::pair{"pds", &cfg.rate_limits.pds}, std::pair{"plc", &cfg.rate_limits.plc}}) {
                auto b = rl.section(name);
                b.get("requests", bucket->requests, number_in(1, 1e7));
                b.get("window_seconds", bucket->window_seconds, number_in(1, 86400));
                b.get("burst", bucket->burst, number_in(1, 1e7));
            }
            rl.get("default_pause_seconds", cfg.rate_limits.default_pause_seconds, number_in(1, 86400));
            rl.get("max_pause_seconds", cfg.rate_limits.max_pause_seconds, number_in(1, 7 * 86400));
            rl.get("max_concurrent_fetches", cfg.rate_limits.max_concurrent_fetches, count_in<std::uint32_t>(1, 10000));
            rl.get("max_concurrent_per_host", cfg.rate_limits.max_concurrent_per_host, count_in<std::uint32_t>(1, 1000));
        }
        {
            auto r = top.section("retries");
            r.get("max_attempts", cfg.retries.max_attempts, count_in<std::uint32_t>(1, 100));
            r.get("backoff_base_seconds", cfg.retries.backoff_base_seconds, number_in(0.001, 3600));
            r.get("backoff_cap_seconds", cfg.retries.backoff_cap_seconds, number_in(0.001, 86400));
        }
        {
            auto l = top.section("limits");
            l.get("max_car_bytes", cfg.limits.max_car_bytes, bytes_in(1ull << 10, 1ull << 40));
            l.get("max_block_bytes", cfg.limits.max_block_bytes, bytes_in(1ull << 10, 256ull << 20));
            l.get("spill_threshold_bytes", cfg.limits.spill_threshold_bytes, bytes_in(spill_threshold_range.min, spill_threshold_range.max));
            l.get("max_did_document_bytes", cfg.limits.max_did_document_bytes, bytes_in(1ull << 10, 16ull << 20));
            l.get("max_cbor_depth", cfg.limits.max_cbor_depth, count_in<std::uint32_t>(16, 4096));
            l.get("max_open_connections", cfg.limits.max_open_connections, count_in<std::uint32_t>(1, 65536));
        }
        {
            auto t = top.section("timeouts");
            t.get("connect_seconds", cfg.timeouts.connect_seconds, number_in(0.1, 3600));
            t.get("tls_handshake_seconds", cfg.timeouts.tls_handshake_seconds, number_in(0.1, 3600));
            t.get("response_headers_seconds", cfg.timeouts.response_headers_seconds, number_in(0.1, 3600));
            t.get("idle_body_seconds", cfg.timeouts.idle_body_seconds, number_in(0.1, 3600));
            t.get("total_fetch_seconds", cfg.timeouts.total_fetch_seconds, number_in(1, 7 * 86400));
            t.get("idle_connection_seconds", cfg.timeouts.idle_connection_seconds, number_in(0.1, 3600));
        }
        {
            auto r = top.section("resolve");
            r.get("cache_ttl_seconds", cfg.resolve.cache_ttl_seconds, number_in(1, 30 * 86400));
            r.get("cache_max_entries", cfg.resolve.cache_max_entries, count_in<std::uint32_t>(1, 100000000));
            r.get("lookahead_dids", cfg.resolve.lookahead_dids, count_in<std::uint32_t>(1, 10000000));
            r.get("concurrent_lookups", cfg.resolve.concurrent_lookups, count_in<std::uint32_t>(1, 1000));
            r.get("plc_export", cfg.resolve.plc_export, as_path);
            r.get("hosts", cfg.resolve.hosts, [](const YAML::Node& n, std::map<std::string, std::string>& out, std::string& why) {
                if (!n.IsMap()) {
                    why = "expected a mapping of host names to IP addresses, such as {pds.lab.example: 10.1.2.3}";
                    return false;
                }
                out.clear();
                for (const auto& kv : n) {
                    if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
                        why = "every entry must be HOST: ADDRESS";
                        return false;
                    }
                    auto host = kv.first.Scalar(), address = kv.second.Scalar();
                    if (!syntax::is_ip_address(address)) {
                        why = "'" + address + "' (for " + host + ") is not an IPv4 or IPv6 address";
                        return false;
                    }
                    out[host] = address;
                }
                return true;
            });
        }
        {
            auto tls = top.section("tls");
            tls.get("ca_file", cfg.tls_ca_file, as_path);
        }
        {
            auto m = top.section("metrics");
            m.get("listen", cfg.metrics_listen, as_string);
        }
    }
    validate(cfg, source);
    return cfg;
}

config load_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(path.string() + ": cannot open the config file (does it exist and is it readable?)");
    std::ostringstream text;
    text << in.rdbuf();
    return load_string(text.str(), path.string());
}

std::vector<std::string> keys_needing_restart(const config& a, const config& b) {
    std::vector<std::string> keys;
    auto check = [&](bool differs, const char* key) {
        if (differs) keys.emplace_back(key);
    };
    check(a.plc_url != b.plc_url, "plc_url");
    check(a.spool_dir != b.spool_dir, "spool_dir");
    check(a.state_dir != b.state_dir, "state_dir");
    check(a.output.kind != b.output.kind, "output.kind");
    check(a.output.format != b.output.format, "output.format");
    check(a.output.dir != b.output.dir, "output.dir");
    check(a.output.nats.url != b.output.nats.url, "output.nats.url");
    check(a.output.nats.stream != b.output.nats.stream, "output.nats.stream");
    check(a.intake != b.intake, "intake.kind");
    {
        const auto &x = a.output.nats, &y = b.output.nats;
        check(x.replicas != y.replicas || x.duplicate_window_seconds != y.duplicate_window_seconds, "output.nats.replicas/duplicate_window_seconds");
        check(x.user != y.user || x.password != y.password || x.token != y.token || x.creds_file != y.creds_file ||
                  x.tls_ca_file != y.tls_ca_file || x.tls_cert_file != y.tls_cert_file || x.tls_key_file != y.tls_key_file,
              "output.nats credentials and TLS");
        check(x.max_pending_acks != y.max_pending_acks || x.ack_timeout_seconds != y.ack_timeout_seconds ||
                  x.publish_attempts != y.publish_attempts,
              "output.nats.max_pending_acks/ack_timeout_seconds/publish_attempts");
        check(x.work_stream != y.work_stream || x.work_subject != y.work_subject || x.work_consumer != y.work_consumer ||
                  x.work_ack_wait_seconds != y.work_ack_wait_seconds || x.work_max_deliveries != y.work_max_deliveries,
              "output.nats work stream");
    }
    check(a.output.nats.subject_prefix != b.output.nats.subject_prefix, "output.nats.subject_prefix");
    check(a.tls_ca_file != b.tls_ca_file, "tls.ca_file");
    check(a.metrics_listen != b.metrics_listen, "metrics.listen");
    check(a.resolve.hosts != b.resolve.hosts, "resolve.hosts");
    check(a.resolve.plc_export != b.resolve.plc_export, "resolve.plc_export");
    check(a.limits.max_open_connections != b.limits.max_open_connections, "limits.max_open_connections");
    check(a.timeouts.idle_connection_seconds != b.timeouts.idle_connection_seconds, "timeouts.idle_connection_seconds");
    check(a.timeouts.total_fetch_seconds != b.timeouts.total_fetch_seconds, "timeouts.total_fetch_seconds");
    check(a.allow_insecure_http != b.allow_insecure_http, "allow_insecure_http");
    return keys;
}

}  // namespace bsky::config
