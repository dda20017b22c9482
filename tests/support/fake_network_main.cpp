// A loopback "network" for tests and bench/netsim: a PLC directory, H PDS
// hosts and an optional relay, each listening on its own 127.x.y.z address,
// all in one process on one Asio event loop.
//   fake_network SPEC.json READY_FILE [STATS_FILE]
// SPEC (every key but "hosts" and "repos" optional; durations in seconds):
//   {"seed": "s", "templates": {"tiny": "/path/tiny.car", ...},
//    "plc":   {"address": "127.0.0.2", "port": 0, "latency_ms": 0, "hold": false, "rate_limits": [...]},
//    "relay": {"address": "127.0.0.3", ...},
//    "hosts": [{"address": "127.0.1.1", "port": 0, "latency_ms": 20,
//               "bandwidth_bytes_per_second": 1000000, "gzip": true,
//               "rate_limits": [{"requests": 10, "window_seconds": 1, "headers": true,
//                                "from_seconds": 0, "until_seconds": 1e9}]}, ...],
//    "repos": [{"template": "tiny", "count": 4000, "host": 3, "via_relay": false}, ...]}
// A rate limit is a fixed window aligned on Unix time; "headers": false answers
// like Bluesky's PDSes (HTML 429s, no RateLimit-* headers); it applies only
// between from_seconds and until_seconds after start-up ("requests": 0 refuses
// everything then). Repos without "host" are dealt round robin over the hosts.
// "hold": true makes the PLC accept requests and never answer them.
// GET /stats on any address answers the counts of every host as JSON; SIGTERM
// writes them to STATS_FILE (and stdout) and exits. READY_FILE (written once
// every listener is bound): {"plc", "relay", "hosts": [{name, url}], "dids":
// [{did, host, template, bytes}]}.
#include "support/fake_network_repos.hpp"
#include "support/test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct rate_limit {
    std::uint64_t requests = 0;
    double window_seconds = 1;
    bool headers = true;
    double from_seconds = 0, until_seconds = 1e18;
    std::int64_t window = -1;  ///< index of the current window (Unix seconds / window_seconds)
    std::uint64_t used = 0;
};

struct host_stats {
    std::uint64_t requests = 0, rate_limited = 0, repos_served = 0, bytes = 0;
    std::uint64_t connections = 0, open_connections = 0, max_open_connections = 0;
};

enum class role { plc, relay, pds };

struct host {
    std::string name;
    role kind = role::pds;
    std::string address;
    unsigned short port = 0;
    std::chrono::milliseconds latency{0};
    double bandwidth = 0;  ///< body bytes per second; 0: unlimited
    bool gzip = false;
    bool hold = false;
    std::vector<rate_limit> limits;
    host_stats stats;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::string url() const { return "http://" + address + ":" + std::to_string(port); }
};

struct repo {
    std::size_t host = 0;
    bool via_relay = false;
    const bsky::test::repo_template* tree = nullptr;
    std::string car_head;
};

struct network {
    std::vector<std::unique_ptr<host>> hosts;  ///< [0] PLC, [1] relay when present, then the PDS hosts
    std::size_t first_pds = 1;
    std::map<std::string, bsky::test::repo_template> templates;
    std::map<std::string, repo> repos;
    std::vector<std::string> did_order;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::uint64_t open_connections = 0, max_open_connections = 0;

    host& pds(std::size_t i) { return *hosts[first_pds + i]; }
    std::size_t pds_count() const { return hosts.size() - first_pds; }
};

//---- the spec

double number(const json::object& o, std::string_view key, double fallback) {
    auto* v = o.if_contains(key);
    return v ? v->to_number<double>() : fallback;
}

bool flag(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v && v->as_bool();
}

std::unique_ptr<host> make_host(const json::object& spec, std::string name, role kind, std::string default_address) {
    auto h = std::make_unique<host>();
    h->name = std::move(name);
    h->kind = kind;
    auto* address = spec.if_contains("address");
    h->address = address ? std::string(address->as_string()) : std::move(default_address);
    h->port = static_cast<unsigned short>(number(spec, "port", 0));
    h->latency = std::chrono::milliseconds(static_cast<long>(number(spec, "latency_ms", 0)));
    h->bandwidth = number(spec, "bandwidth_bytes_per_second", 0);
    h->gzip = flag(spec, "gzip");
    h->hold = flag(spec, "hold");
    if (auto* limits = spec.if_contains("rate_limits")) {
        for (const auto& l : limits->as_array()) {
            const auto& o = l.as_object();
            rate_limit r;
            r.requests = static_cast<std::uint64_t>(number(o, "requests", 0));
            r.window_seconds = number(o, "window_seconds", 1);
            r.headers = !o.if_contains("headers") || o.at("headers").as_bool();
            r.from_seconds = number(o, "from_seconds", 0);
            r.until_seconds = number(o, "until_seconds", 1e18);
            if (r.window_seconds <= 0) throw std::runtime_error("fake_network: " + h->name + ": window_seconds must be > 0");
            h->limits.push_back(r);
        }
    }
    return h;
}

// Host i's default address: 127.0.1.1, 127.0.1.2, ... 127.0.1.254, 127.0.2.1, ...
std::string default_pds_address(std::size_t i) {
    return "127.0." + std::to_string(1 + i / 254) + "." + std::to_string(1 + i % 254);
}

void load_repos(network& net, const json::object& spec) {
    std::string seed = spec.if_contains("seed") ? std::string(spec.at("seed").as_string()) : "0";
    if (auto* templates = spec.if_contains("templates"))
        for (const auto& [name, path] : templates->as_object())
            net.templates.emplace(std::string(name), bsky::test::load_repo_template(std::string(name), std::string(path.as_string())));
    std::size_t next_host = 0;
    for (const auto& g : spec.at("repos").as_array()) {
        const auto& group = g.as_object();
        std::string name(group.at("template").as_string());
        auto tree = net.templates.find(name);
        if (tree == net.templates.end()) throw std::runtime_error("fake_network: repos: no template named '" + name + "'");
        auto count = static_cast<std::size_t>(number(group, "count", 1));
        for (std::size_t i = 0; i < count; ++i) {
            repo r;
            r.host = group.if_contains("host") ? static_cast<std::size_t>(number(group, "host", 0)) : next_host++ % net.pds_count();
            if (r.host >= net.pds_count()) throw std::runtime_error("fake_network: repos: host " + std::to_string(r.host) + " does not exist");
            r.via_relay = flag(group, "via_relay");
            if (r.via_relay && net.first_pds < 2) throw std::runtime_error("fake_network: repos: via_relay needs a \"relay\"");
            r.tree = &tree->second;
            auto did = bsky::test::fake_did(seed, net.did_order.size());
            r.car_head = bsky::test::car_head_for(did, tree->second);
            net.repos.emplace(did, std::move(r));
            net.did_order.push_back(did);
        }
    }
}

network load_network(const std::string& spec_file) {
    std::ifstream in(spec_file);
    if (!in) throw std::runtime_error("fake_network: cannot open the spec " + spec_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto spec = json::parse(text).as_object();
    network net;
    json::object none;
    auto* plc = spec.if_contains("plc");
    net.hosts.push_back(make_host(plc ? plc->as_object() : none, "plc", role::plc, "127.0.0.2"));
    if (auto* relay = spec.if_contains("relay")) {
        net.hosts.push_back(make_host(relay->as_object(), "relay", role::relay, "127.0.0.3"));
        net.first_pds = 2;
    }
    const auto& hosts = spec.at("hosts").as_array();
    for (std::size_t i = 0; i < hosts.size(); ++i)
        net.hosts.push_back(make_host(hosts[i].as_object(), "pds-" + std::to_string(i), role::pds, default_pds_address(i)));
    if (net.pds_count() == 0) throw std::runtime_error("fake_network: \"hosts\" is empty");
    load_repos(net, spec);
    return net;
}

//---- what a host answers

struct answer {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                        ///< owned bytes, sent first
    const std::string* shared_tail = nullptr;  ///< then these (a template's tree), unless gzipped
    bool gzip_allowed = false;
    bool is_repo = false;
};

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned byte = 0;
        if (s[i] == '%' && i + 2 < s.size() && std::from_chars(s.data() + i + 1, s.data() + i + 3, byte, 16).ptr == s.data() + i + 3) {
            out.push_back(static_cast<char>(byte));
            i += 2;
        } else {  // not an escape (a hostile "%zz" included): taken as it is
            out.push_back(s[i]);
        }
    }
    return out;
}

json::object stats_json(const host& h) {
    const auto& s = h.stats;
    return {{"name", h.name}, {"url", h.url()}, {"requests", s.requests}, {"rate_limited", s.rate_limited},
            {"repos_served", s.repos_served}, {"bytes", s.bytes}, {"connections", s.connections},
            {"open_connections", s.open_connections}, {"max_open_connections", s.max_open_connections}};
}

std::string network_stats(const network& net) {
    json::array hosts;
    host_stats pds_total;
    for (std::size_t i = 0; i < net.hosts.size(); ++i) {
        hosts.push_back(stats_json(*net.hosts[i]));
        if (i < net.first_pds) continue;
        const auto& s = net.hosts[i]->stats;
        pds_total.requests += s.requests;
        pds_total.rate_limited += s.rate_limited;
        pds_total.repos_served += s.repos_served;
        pds_total.bytes += s.bytes;
        pds_total.connections += s.connections;
        pds_total.max_open_connections = std::max(pds_total.max_open_connections, s.max_open_connections);
    }
    json::object total{{"requests", pds_total.requests}, {"rate_limited", pds_total.rate_limited},
                       {"repos_served", pds_total.repos_served}, {"bytes", pds_total.bytes},
                       {"connections", pds_total.connections},
                       {"max_open_connections_one_host", pds_total.max_open_connections}};
    return json::serialize(json::object{{"hosts", std::move(hosts)}, {"pds_total", std::move(total)},
                                        {"max_open_connections", net.max_open_connections}}) + "\n";
}

// The first active limit this request exceeds, or null; counts the request in every active limit.
const rate_limit* over_limit(network& net, host& h, std::vector<std::pair<std::string, std::string>>& headers) {
    double since_start = std::chrono::duration<double>(std::chrono::steady_clock::now() - net.started).count();
    double unix_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const rate_limit* refused = nullptr;
    for (auto& l : h.limits) {
        if (since_start < l.from_seconds || since_start >= l.until_seconds) continue;
        auto window = static_cast<std::int64_t>(std::floor(unix_now / l.window_seconds));
        if (window != l.window) l.window = window, l.used = 0;
        ++l.used;
        if (l.headers && headers.empty()) {
            auto reset = static_cast<std::int64_t>(std::ceil(static_cast<double>(window + 1) * l.window_seconds));
            auto limit = std::to_string(l.requests);
            headers = {{"RateLimit-Limit", limit},
                       {"RateLimit-Remaining", std::to_string(l.used >= l.requests ? 0 : l.requests - l.used)},
                       {"RateLimit-Reset", std::to_string(reset)},
                       {"RateLimit-Policy", limit + ";w=" + std::to_string(static_cast<long>(std::ceil(l.window_seconds)))}};
        }
        if (l.used > l.requests && !refused) refused = &l;
    }
    return refused;
}

answer pds_answer(network& net, host& h, std::string_view target, bool relay) {
    constexpr std::string_view prefix = "/xrpc/com.atproto.sync.getRepo?did=";
    if (!target.starts_with(prefix)) return {.status = 404, .body = R"({"error":"MethodNotImplemented","message":"not served here"})"};
    auto did = percent_decode(target.substr(prefix.size(), target.find('&') - prefix.size()));
    auto it = net.repos.find(did);
    bool ours = it != net.repos.end() && (relay ? it->second.via_relay : &net.pds(it->second.host) == &h);
    if (!ours) return {.status = 400, .body = R"({"error":"RepoNotFound","message":"Could not find repo for DID: )" + did + "\"}"};
    if (relay) return {.status = 302, .headers = {{"Location", net.pds(it->second.host).url() + std::string(target)}}};
    return {.content_type = "application/vnd.ipld.car", .body = it->second.car_head, .shared_tail = &it->second.tree->tree_sections,
            .gzip_allowed = h.gzip, .is_repo = true};
}

answer plc_answer(network& net, std::string_view target) {
    auto did = percent_decode(target.substr(1));
    auto it = net.repos.find(did);
    if (it == net.repos.end()) return {.status = 404, .body = R"({"message":"DID not registered: )" + did + "\"}"};
    const auto& endpoint = it->second.via_relay ? net.hosts[1]->url() : net.pds(it->second.host).url();
    json::object doc{{"@context", json::array{"https://www.w3.org/ns/did/v1"}},
                     {"id", did},
                     {"alsoKnownAs", json::array{"at://" + did.substr(8) + ".test"}},
                     {"service", json::array{json::object{{"id", "#atproto_pds"},
                                                          {"type", "AtprotoPersonalDataServer"},
                                                          {"serviceEndpoint", endpoint}}}}};
    return {.body = json::serialize(doc)};
}

answer refusal(const rate_limit& l, std::vector<std::pair<std::string, std::string>> headers) {
    if (!l.headers)
        return {.status = 429, .content_type = "text/html",
                .body = "<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center></body></html>\n"};
    return {.status = 429, .headers = std::move(headers), .body = R"({"error":"RateLimitExceeded","message":"Rate Limit Exceeded"})"};
}

//---- serving

std::string status_text(unsigned status) {
    switch (status) {
        case 200: return "OK";
        case 302: return "Found";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 429: return "Too Many Requests";
        default: return "X";
    }
}

// Writes `bytes` at the host's bandwidth: in pieces of 1/50 s of it, each
// sent when the schedule since `start` allows.
asio::awaitable<bool> trickle(tcp::socket& socket, host& h, std::string_view bytes) {
    boost::system::error_code ec;
    if (h.bandwidth <= 0) {
        co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), asio::redirect_error(asio::use_awaitable, ec));
        h.stats.bytes += ec ? 0 : bytes.size();
        co_return !ec;
    }
    auto piece = std::clamp<std::size_t>(static_cast<std::size_t>(h.bandwidth / 50), 1024, 1 << 20);
    auto start = std::chrono::steady_clock::now();
    asio::steady_timer timer(socket.get_executor());
    for (std::size_t sent = 0; sent < bytes.size();) {
        auto n = std::min(piece, bytes.size() - sent);
        co_await asio::async_write(socket, asio::buffer(bytes.data() + sent, n), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        sent += n;
        h.stats.bytes += n;
        timer.expires_at(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(sent) / h.bandwidth)));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return true;
}

// The response head; gzips the body first when the host offers it and the client asked.
// (Plain code, not in the coroutine: GCC 12 destroys a conditional's temporary there twice.)
std::string prepare(answer& a, bool wants_gzip, bool keep_alive) {
    bool gzip = a.gzip_allowed && wants_gzip;
    if (gzip) {
        if (a.shared_tail) a.body += *a.shared_tail;
        a.body = bsky::test::gzip_bytes(a.body);
        a.shared_tail = nullptr;
    }
    auto length = a.body.size() + (a.shared_tail ? a.shared_tail->size() : 0);
    std::string head = "HTTP/1.1 " + std::to_string(a.status) + " " + status_text(a.status) + "\r\nContent-Type: " + a.content_type +
                       "\r\nContent-Length: " + std::to_string(length) + "\r\n";
    for (const auto& [k, v] : a.headers) head += k + ": " + v + "\r\n";
    if (gzip) head += "Content-Encoding: gzip\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
    return head;
}

asio::awaitable<bool> send(tcp::socket& socket, host& h, answer a, bool wants_gzip, bool keep_alive) {
    std::string head = prepare(a, wants_gzip, keep_alive);
    bool ok = co_await trickle(socket, h, head);
    if (ok) ok = co_await trickle(socket, h, a.body);
    if (ok && a.shared_tail) ok = co_await trickle(socket, h, *a.shared_tail);
    if (!ok) co_return false;
    if (a.is_repo) ++h.stats.repos_served;
    co_return keep_alive;
}

answer route(network& net, host& h, std::string_view target) {
    std::vector<std::pair<std::string, std::string>> limit_headers;
    if (auto* refused = over_limit(net, h, limit_headers)) {
        ++h.stats.rate_limited;
        return refusal(*refused, std::move(limit_headers));
    }
    answer a = h.kind == role::plc ? plc_answer(net, target) : pds_answer(net, h, target, h.kind == role::relay);
    a.headers.insert(a.headers.end(), limit_headers.begin(), limit_headers.end());
    return a;
}

asio::awaitable<void> serve_connection(network& net, host& h, tcp::socket socket) {
    struct open_guard {
        network& net;
        host& h;
        open_guard(network& n, host& hh) : net(n), h(hh) {
            ++h.stats.connections;
            h.stats.max_open_connections = std::max(h.stats.max_open_connections, ++h.stats.open_connections);
            net.max_open_connections = std::max(net.max_open_connections, ++net.open_connections);
        }
        ~open_guard() { --h.stats.open_connections, --net.open_connections; }
    } guard(net, h);
    boost::beast::flat_buffer buffer;
    asio::steady_timer timer(socket.get_executor());
    for (;;) {
        http::request<http::empty_body> req;
        boost::system::error_code ec;
        co_await http::async_read(socket, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        std::string_view target(req.target().data(), req.target().size());
        if (target == "/stats") {  // not counted: it is the observer's, not the client's
            auto bytes = h.stats.bytes;
            answer stats{.body = network_stats(net)};
            bool open = co_await send(socket, h, std::move(stats), false, req.keep_alive());
            h.stats.bytes = bytes;
            if (!open) co_return;
            continue;
        }
        ++h.stats.requests;
        auto a = route(net, h, target);
        if (h.hold) {
            timer.expires_at(asio::steady_timer::time_point::max());
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            co_return;
        }
        if (h.latency.count()) {
            timer.expires_after(h.latency);
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        auto accept_encoding = req[http::field::accept_encoding];
        bool wants_gzip = accept_encoding.find("gzip") != boost::beast::string_view::npos;
        if (!co_await send(socket, h, std::move(a), wants_gzip, req.keep_alive())) co_return;
    }
}

asio::awaitable<void> accept_loop(network& net, host& h) {
    for (;;) {
        boost::system::error_code ec;
        auto socket = co_await h.acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) continue;  // e.g. out of file descriptors: keep serving the open connections
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(h.acceptor->get_executor(), serve_connection(net, h, std::move(socket)), asio::detached);
    }
}

void listen(asio::io_context& io, host& h) {
    tcp::endpoint at(asio::ip::make_address(h.address), h.port);
    h.acceptor = std::make_unique<tcp::acceptor>(io);
    h.acceptor->open(at.protocol());
    h.acceptor->set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    h.acceptor->bind(at, ec);
    if (ec) throw std::runtime_error("fake_network: " + h.name + ": cannot bind " + h.address + ":" + std::to_string(h.port) + ": " + ec.message());
    h.acceptor->listen(1024);
    h.port = h.acceptor->local_endpoint().port();
}

void write_atomically(const std::string& path, const std::string& text) {
    std::ofstream(path + ".tmp") << text;
    std::filesystem::rename(path + ".tmp", path);
}

std::string ready_json(const network& net) {
    json::array hosts, dids;
    for (std::size_t i = net.first_pds; i < net.hosts.size(); ++i)
        hosts.push_back(json::object{{"name", net.hosts[i]->name}, {"url", net.hosts[i]->url()}});
    for (const auto& did : net.did_order) {
        const auto& r = net.repos.at(did);
        dids.push_back(json::object{{"did", did}, {"host", r.host}, {"template", r.tree->name},
                                    {"bytes", r.car_head.size() + r.tree->tree_sections.size()}});
    }
    json::object ready{{"plc", net.hosts[0]->url()}, {"hosts", std::move(hosts)}, {"dids", std::move(dids)}};
    if (net.first_pds > 1) ready["relay"] = net.hosts[1]->url();
    return json::serialize(ready) + "\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: fake_network SPEC.json READY_FILE [STATS_FILE]\n";
        return 2;
    }
    std::string stats_file = argc > 3 ? argv[3] : "";
    std::signal(SIGPIPE, SIG_IGN);
    try {
        network net = load_network(argv[1]);  // first: the connections' coroutine frames refer to it until io is gone
        asio::io_context io(1);
        for (auto& h : net.hosts) listen(io, *h);
        for (auto& h : net.hosts) asio::co_spawn(io, accept_loop(net, *h), asio::detached);
        asio::signal_set signals(io, SIGTERM, SIGINT);
        signals.async_wait([&](boost::system::error_code ec, int) {
            if (ec) return;
            auto stats = network_stats(net);
            if (!stats_file.empty()) write_atomically(stats_file, stats);
            std::cout << stats << std::flush;
            io.stop();
        });
        write_atomically(argv[2], ready_json(net));
        io.run();
        for (auto& h : net.hosts) h->acceptor.reset();  // before io, which then drops the suspended connections
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
