// The HTTP client and the polite fetcher against real loopback servers
// (plain and TLS, with a CA made at test time).
#include "net/fetcher.hpp"
#include "net/http_client.hpp"
#include "net/xrpc.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"
#include "support/test_tls.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace bsky;
using namespace std::chrono_literals;
namespace asio = boost::asio;

std::string payload(std::size_t n) {
    std::mt19937 rng(42);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

struct got {
    std::error_code ec;
    net::response resp;
    std::string body;
};

class HttpClient : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ca_ = new test::test_ca();
        ca_file_ = ca_->write_certificate(::testing::TempDir());
    }
    static void TearDownTestSuite() { delete ca_; }

    net::client_params params(bool trust_ca = true) {
        net::client_params p;
        p.allow_private_addresses = true;  // the servers are on loopback
        if (trust_ca) p.ca_file = ca_file_;
        p.idle_body_timeout = 500ms;
        p.headers_timeout = 2s;
        return p;
    }

    got get(net::http_client& client, const std::string& url) {
        got g;
        g.ec = test::run(io_, client.get(url, g.resp, [&](std::span<const std::uint8_t> b) {
            g.body.append(reinterpret_cast<const char*>(b.data()), b.size());
            return std::error_code{};
        }));
        return g;
    }

    test::pem_pair localhost_cert() { return ca_->issue({"localhost"}, {"127.0.0.1", "::1"}); }

    asio::io_context io_;
    static inline test::test_ca* ca_ = nullptr;
    static inline std::filesystem::path ca_file_;
};

TEST_F(HttpClient, ChunkedBodyInManyPiecesOverTls) {
    auto body = payload(300'000);
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.body = body, .chunked = true, .chunk_size = 1000});
    }, localhost_cert());
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, server.origin("localhost") + "/xrpc/com.atproto.sync.getRepo?did=did:plc:x");
    ASSERT_FALSE(g.ec) << g.ec.message() << ": " << g.resp.detail;
    EXPECT_EQ(g.resp.status, 200u);
    EXPECT_EQ(g.body, body);
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].target, "/xrpc/com.atproto.sync.getRepo?did=did:plc:x");
    EXPECT_EQ(reqs[0].headers["accept-encoding"], "gzip");
    EXPECT_EQ(reqs[0].headers["host"], "localhost:" + std::to_string(server.port()));
}

TEST_F(HttpClient, ContentLengthAndKeepAliveReuse) {
    auto body = payload(5000);
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = body}); });
    net::http_client client(io_.get_executor(), params());
    for (int i = 0; i < 3; ++i) {
        auto g = get(client, server.origin() + "/x");
        ASSERT_FALSE(g.ec) << g.resp.detail;
        EXPECT_EQ(g.body, body);
        EXPECT_EQ(g.resp.reused_connection, i > 0);
    }
    EXPECT_EQ(server.connections(), 1);
    EXPECT_EQ(client.stats().connections_opened, 1u);
    EXPECT_EQ(client.stats().connections_reused, 2u);
}

TEST_F(HttpClient, GzipIsInflatedAsItStreams) {
    auto body = std::string(200'000, 'a') + payload(50'000);
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.body = body, .chunked = true, .chunk_size = 777, .gzip = true});
    });
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, server.origin() + "/");
    ASSERT_FALSE(g.ec) << g.resp.detail;
    EXPECT_EQ(g.body, body);
    EXPECT_LT(g.resp.wire_bytes, g.resp.body_bytes);
}

TEST_F(HttpClient, CorruptGzipIsAnError) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.body = "definitely not gzip", .headers = {{"Content-Encoding", "gzip"}}});
    });
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, server.origin() + "/");
    EXPECT_EQ(g.ec, net::error::bad_gzip);
}

TEST_F(HttpClient, RedirectToAnotherHostIsFollowed) {
    auto body = payload(1000);
    test::test_server pds([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = body}); }, localhost_cert());
    test::test_server relay([&](const test::request_info& req, test::exchange& ex) {
        ex.respond({.status = 302, .headers = {{"Location", pds.origin("localhost") + req.target}}});
    }, localhost_cert(), "::1");
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, relay.origin() + "/xrpc/com.atproto.sync.getRepo?did=did:plc:abc");
    ASSERT_FALSE(g.ec) << g.resp.detail;
    EXPECT_EQ(g.body, body);
    EXPECT_EQ(g.resp.redirects, 1u);
    EXPECT_EQ(g.resp.final_url, pds.origin("localhost") + "/xrpc/com.atproto.sync.getRepo?did=did:plc:abc");
}

TEST_F(HttpClient, RedirectLoopStopsAfterThreeHops) {
    test::test_server server([&](const test::request_info& req, test::exchange& ex) {
        ex.respond({.status = 302, .headers = {{"Location", req.target + "x"}}});
    });
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, server.origin() + "/a");
    EXPECT_EQ(g.ec, net::error::too_many_redirects);
    EXPECT_EQ(server.requests().size(), 4u);
}

// Sockets of this process connected to `port` on loopback: the client's side
// of its connections (the test server's accepted sockets have it as local port).
std::size_t client_sockets_to(unsigned short port) {
    std::set<std::string> ours;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto link = std::filesystem::read_symlink(fd.path(), ec).string();
        if (link.starts_with("socket:[")) ours.insert(link.substr(8, link.size() - 9));
    }
    std::size_t n = 0;
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    std::getline(tcp, line);
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
        fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
        if (std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16) == port && ours.contains(inode)) ++n;
    }
    return n;
}

TEST_F(HttpClient, IdleConnectionsExpire) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "x"}); });
    auto p = params();
    p.idle_connection_timeout = 100ms;
    net::http_client client(io_.get_executor(), p);
    ASSERT_FALSE(get(client, server.origin() + "/").ec);
    EXPECT_EQ(client.stats().idle_connections, 1u);
    std::this_thread::sleep_for(250ms);  // longer than the idle timeout
    auto g = get(client, server.origin() + "/");
    ASSERT_FALSE(g.ec) << g.resp.detail;
    EXPECT_FALSE(g.resp.reused_connection) << "an idle connection past its timeout is closed, not reused";
    EXPECT_EQ(client.stats().connections_expired, 1u);
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(client.stats().open_connections, 1u);
}

TEST_F(HttpClient, TwoThousandHostsStayUnderTheOpenConnectionCap) {
    // Every name is another pool key, as a list over did:web hosts would be.
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "{}"}); });
    auto p = params();
    p.max_open_connections = 16;
    constexpr int hosts = 2000, workers = 8;
    for (int i = 0; i < hosts; ++i) p.resolve_overrides["host" + std::to_string(i) + ".example"] = "127.0.0.1";
    net::http_client client(io_.get_executor(), p);
    std::size_t peak_fds = 0, peak_open = 0;
    int failures = 0;
    auto worker = [&](int first) -> asio::awaitable<void> {
        for (int i = first; i < hosts; i += workers) {
            net::response resp;
            auto url = "http://host" + std::to_string(i) + ".example:" + std::to_string(server.port()) + "/.well-known/did.json";
            if (co_await client.get(url, resp, [](std::span<const std::uint8_t>) { return std::error_code{}; })) ++failures;
            peak_open = std::max(peak_open, client.stats().open_connections);
            if (i % 50 == 0) peak_fds = std::max(peak_fds, client_sockets_to(server.port()));
        }
    };
    for (int w = 0; w < workers; ++w) asio::co_spawn(io_, worker(w), asio::detached);
    io_.run();
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(client.stats().connections_opened, static_cast<std::uint64_t>(hosts));
    EXPECT_LE(peak_open, 16u);
    EXPECT_LE(peak_fds, 16u) << "sockets the client held open at once";
    EXPECT_GT(peak_fds, 0u) << "the count must see the client's sockets";
    EXPECT_LE(client_sockets_to(server.port()), 16u);
    EXPECT_GE(client.stats().connections_evicted, static_cast<std::uint64_t>(hosts - 16));
}

TEST_F(HttpClient, TricklingBodyHitsTheTotalDeadline) {
    // A byte every 100 ms never trips the idle deadline; the total one ends it.
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.write_raw("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n");
        for (int i = 0; i < 40; ++i) {
            ex.write_raw("x");
            ex.stall(100ms);
        }
    });
    auto p = params();
    p.idle_body_timeout = 1s;
    p.total_timeout = 1500ms;
    net::http_client client(io_.get_executor(), p);
    auto g = get(client, server.origin() + "/");
    EXPECT_EQ(g.ec, net::error::fetch_timeout) << g.ec.message() << ": " << g.resp.detail;
    EXPECT_TRUE(net::is_retryable(g.ec)) << "a trickling server may do better next time";
    EXPECT_NE(g.resp.detail.find("timeouts.total_fetch_seconds"), std::string::npos) << g.resp.detail;
    EXPECT_LT(g.body.size(), 40u);
}

TEST_F(HttpClient, StalledBodyHitsTheIdleDeadline) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.write_raw("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nsome bytes");
        ex.stall(1500ms);
    });
    net::http_client client(io_.get_executor(), params());
    auto start = std::chrono::steady_clock::now();
    auto g = get(client, server.origin() + "/");
    EXPECT_EQ(g.ec, net::error::idle_timeout) << g.ec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms);
    EXPECT_NE(g.resp.detail.find("10 bytes"), std::string::npos) << g.resp.detail;
}

TEST_F(HttpClient, ResetMidBodyIsReported) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.write_raw("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'x'));
        ex.reset();
    });
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, server.origin() + "/");
    EXPECT_TRUE(g.ec);
    EXPECT_TRUE(net::is_retryable(g.ec)) << g.ec.message();
}

TEST_F(HttpClient, BodyOverTheCapIsRefused) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.body = payload(100'000), .chunked = true, .chunk_size = 4096});
    });
    auto p = params();
    p.max_body_bytes = 50'000;
    net::http_client client(io_.get_executor(), p);
    auto g = get(client, server.origin() + "/");
    EXPECT_EQ(g.ec, net::error::body_too_large);
    EXPECT_LE(g.body.size(), 50'000u);
    EXPECT_FALSE(net::is_retryable(g.ec));
}

std::uint64_t peak_rss_since_reset() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;
    return 0;
}
std::uint64_t rss_now() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

TEST_F(HttpClient, GzipBombIsRefusedAtTheCapInBoundedMemory) {
    // ~250 KB on the wire that inflates to 256 MiB; the cap (as limits.max_car_bytes) is 16 MiB.
    auto bomb = test::gzip_bytes(std::string(256u << 20, '\0'));
    ASSERT_LT(bomb.size(), 1u << 20);
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.body = bomb, .headers = {{"Content-Encoding", "gzip"}}});
    });
    auto p = params();
    p.max_body_bytes = 16u << 20;
    net::http_client client(io_.get_executor(), p);
    std::ofstream("/proc/self/clear_refs") << "5";  // restart the peak-RSS count
    auto base = rss_now();
    std::uint64_t delivered = 0;
    net::response resp;
    auto ec = test::run(io_, client.get(server.origin() + "/xrpc/com.atproto.sync.getRepo?did=did:plc:x", resp,
                                        [&](std::span<const std::uint8_t> b) {
                                            delivered += b.size();
                                            return std::error_code{};
                                        }));
    EXPECT_EQ(ec, net::error::body_too_large) << ec.message();
    EXPECT_NE(resp.detail.find("exceeds 16777216 bytes"), std::string::npos) << resp.detail;
    EXPECT_FALSE(net::is_retryable(ec));
    EXPECT_LE(delivered, 16u << 20);
    auto peak = peak_rss_since_reset();
    // Sanitizer runtimes keep freed memory and shadow for a while: a wider bound, still far below 256 MiB.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    constexpr std::size_t bound = 48u << 20;
#else
    constexpr std::size_t bound = 8u << 20;
#endif
    EXPECT_LT(peak - std::min(peak, base), bound) << "peak RSS grew by more than " << (bound >> 20) << " MiB while inflating";
}

TEST_F(HttpClient, WrongNameAndUnknownCaAreRefused) {
    test::test_server wrong_name([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "x"}); },
                                 ca_->issue({"wrong.example"}, {}));
    net::http_client client(io_.get_executor(), params());
    auto g = get(client, wrong_name.origin("localhost") + "/");
    EXPECT_TRUE(g.ec);
    EXPECT_NE(g.resp.detail.find("TLS handshake"), std::string::npos) << g.resp.detail;
    EXPECT_FALSE(net::is_retryable(g.ec)) << g.ec.message();

    test::test_server good([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "x"}); }, localhost_cert());
    net::http_client untrusting(io_.get_executor(), params(false));
    auto refused = get(untrusting, good.origin("localhost") + "/");
    EXPECT_TRUE(refused.ec);
    net::http_client trusting(io_.get_executor(), params(true));
    auto ok = get(trusting, good.origin("localhost") + "/");
    EXPECT_FALSE(ok.ec) << ok.resp.detail;
}

TEST_F(HttpClient, PrivateAddressesAreRefusedBeforeConnecting) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "secret"}); });
    auto p = params();
    p.allow_private_addresses = false;
    net::http_client client(io_.get_executor(), p);
    auto port = std::to_string(server.port());
    for (auto url : {server.origin() + "/", "http://[::1]:" + port + "/", "http://localhost:" + port + "/",
                     std::string("http://10.0.0.1/"), std::string("http://[::ffff:192.168.1.1]/"),
                     std::string("http://[2002:7f00:1::1]:") + port + "/" /* 6to4 of 127.0.0.1 */,
                     std::string("http://[64:ff9b::7f00:1]:") + port + "/" /* NAT64 of 127.0.0.1 */,
                     std::string("http://[::127.0.0.1]:") + port + "/" /* IPv4-compatible */}) {
        auto g = get(client, url);
        EXPECT_EQ(g.ec, net::error::private_address) << url << ": " << g.ec.message();
        EXPECT_NE(g.resp.detail.find("non-public address"), std::string::npos) << g.resp.detail;
    }
    EXPECT_EQ(server.connections(), 0);
}

TEST_F(HttpClient, AReloadedAddressPolicyAppliesToTheNextRequest) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "lab"}); });
    auto p = params();
    p.allow_private_addresses = false;
    net::http_client client(io_.get_executor(), p);
    EXPECT_EQ(get(client, server.origin() + "/").ec, net::error::private_address);
    p.allow_private_addresses = true;
    client.set_params(p);
    auto g = get(client, server.origin() + "/");
    EXPECT_FALSE(g.ec) << g.ec.message();
    EXPECT_EQ(g.resp.status, 200u);
}

TEST_F(HttpClient, RedirectIntoAPrivateNetworkIsRefused) {
    // The first hop is a name the operator pinned (resolve.hosts), which the
    // guard lets through; only the redirect's target is private, and it is
    // refused before a connection is made.
    test::test_server internal([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "secret"}); });
    auto internal_port = std::to_string(internal.port());
    std::string location;
    test::test_server redirector([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.status = 302, .headers = {{"Location", location}}});
    });
    auto guarded = params();
    guarded.allow_private_addresses = false;
    guarded.resolve_overrides["relay.example"] = "127.0.0.1";
    net::http_client strict(io_.get_executor(), guarded);
    for (auto target : {"http://127.0.0.1:" + internal_port + "/admin", "http://localhost:" + internal_port + "/admin"}) {
        location = target;
        auto before = redirector.requests().size();
        auto g = get(strict, "http://relay.example:" + std::to_string(redirector.port()) + "/");
        EXPECT_EQ(redirector.requests().size(), before + 1) << "the first hop must pass the guard";
        EXPECT_EQ(g.ec, net::error::private_address) << target << ": " << g.ec.message() << " " << g.resp.detail;
        EXPECT_EQ(g.resp.redirects, 1u);
    }
    EXPECT_EQ(internal.connections(), 0);
}

TEST_F(HttpClient, RedirectFromHttpsToHttpIsRefusedUnlessAllowed) {
    test::test_server plain([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "downgraded"}); });
    test::test_server secure([&](const test::request_info&, test::exchange& ex) {
        ex.respond({.status = 302, .headers = {{"Location", plain.origin("localhost") + "/repo"}}});
    }, localhost_cert());
    net::http_client strict(io_.get_executor(), params());
    auto g = get(strict, secure.origin("localhost") + "/");
    EXPECT_EQ(g.ec, net::error::insecure_redirect) << g.ec.message();
    EXPECT_NE(g.resp.detail.find("allow_insecure_http is off"), std::string::npos) << g.resp.detail;
    EXPECT_FALSE(net::is_retryable(g.ec));
    EXPECT_EQ(plain.connections(), 0);

    auto lenient_params = params();
    lenient_params.allow_insecure_http = true;
    net::http_client lenient(io_.get_executor(), lenient_params);
    auto followed = get(lenient, secure.origin("localhost") + "/");
    ASSERT_FALSE(followed.ec) << followed.resp.detail;
    EXPECT_EQ(followed.body, "downgraded");
}

TEST(PrivateAddress, Ranges) {
    for (auto a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.1.1", "100.64.0.1",
                   "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12::1", "ff02::1",
                   "::ffff:10.0.0.1", "2001:db8::1", "not an address",
                   "192.0.2.1", "198.51.100.7", "203.0.113.255", "198.18.0.1", "198.19.255.255", "240.0.0.1",
                   "250.1.2.3", "192.88.99.1", "2002:0a00:0001::1", "2002:c0a8:0101::", "2002:7f00:1::",
                   "64:ff9b::10.0.0.1", "64:ff9b::192.168.1.1", "64:ff9b::127.0.0.1", "64:ff9b:1::8.8.8.8",
                   "64:ff9b:1:2::1", "::8.8.8.8", "::10.0.0.1", "100::1"})
        EXPECT_TRUE(net::is_private_address(a)) << a;
    for (auto a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8",
                   "192.0.3.1", "198.51.101.1", "203.0.114.1", "198.20.0.1", "223.255.255.255",
                   "2002:0808:0808::1", "64:ff9b::8.8.8.8", "2001:4860:4860::8888"})
        EXPECT_FALSE(net::is_private_address(a)) << a;
}

class Fetcher : public HttpClient {
protected:
    // A relay on 127.0.0.1 that 302s every request to the same target on `pds`.
    static std::unique_ptr<test::test_server> relay_to(test::test_server& pds) {
        return std::make_unique<test::test_server>([&pds](const test::request_info& req, test::exchange& ex) {
            ex.respond({.status = 302, .headers = {{"Location", pds.origin() + req.target}}});
        });
    }
};

TEST_F(Fetcher, ServiceUnavailableThenSuccessIsRetried) {
    std::atomic<int> calls{0};
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        if (++calls <= 2) ex.respond({.status = 503, .body = "busy"});
        else ex.respond({.body = "repo"});
    });
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {.max_attempts = 5, .backoff_base = 20ms, .backoff_cap = 100ms}, 7);
    metrics::registry registry;
    fetcher.attach_metrics(registry, "pds");
    std::string body;
    auto result = test::run(io_, fetcher.get(server.origin() + "/", "h", [&]() -> net::body_handler {
        body.clear();
        return [&](std::span<const std::uint8_t> b) {
            body.append(reinterpret_cast<const char*>(b.data()), b.size());
            return std::error_code{};
        };
    }));
    EXPECT_FALSE(result.ec);
    EXPECT_EQ(result.resp.status, 200u);
    EXPECT_EQ(body, "repo");
    EXPECT_EQ(result.attempts, 2u);
    EXPECT_EQ(fetcher.retries(), 2u);
    auto text = registry.render();
    EXPECT_NE(text.find("bsky_http_responses_total{client=\"pds\",code=\"503\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_http_responses_total{client=\"pds\",code=\"200\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_fetch_retries_total{client=\"pds\",host=\"h\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_fetch_latency_seconds_count{client=\"pds\"} 3\n"), std::string::npos) << text;
}

TEST_F(Fetcher, GivesUpAfterMaxAttempts) {
    test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.status = 502}); });
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {.max_attempts = 3, .backoff_base = 10ms, .backoff_cap = 20ms}, 7);
    auto result = test::run(io_, fetcher.get(server.origin() + "/", "h", nullptr));
    EXPECT_EQ(result.resp.status, 502u);
    EXPECT_EQ(result.attempts, 3u);
    EXPECT_EQ(server.requests().size(), 3u);
    EXPECT_NE(result.detail.find("gave up after 3 attempts"), std::string::npos) << result.detail;
}

TEST_F(Fetcher, RateLimitedWithHeadersPausesUntilTheResetWithoutUsingAttempts) {
    std::atomic<int> calls{0};
    std::atomic<std::int64_t> reset_at{0};
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        if (++calls == 1) {
            auto reset = std::time(nullptr) + 2;
            reset_at = reset;
            ex.respond({.status = 429, .body = "{\"error\":\"RateLimitExceeded\"}",
                        .headers = {{"RateLimit-Limit", "3000"}, {"RateLimit-Remaining", "0"},
                                    {"RateLimit-Reset", std::to_string(reset)}, {"RateLimit-Policy", "3000;w=300"}}});
        } else {
            ex.respond({.body = "ok"});
        }
    });
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {.max_attempts = 1}, 7);
    metrics::registry registry;
    fetcher.attach_metrics(registry, "pds");
    limiter.attach_metrics(registry);
    auto result = test::run(io_, fetcher.get(server.origin() + "/", "h", nullptr));
    EXPECT_EQ(result.resp.status, 200u);
    EXPECT_EQ(result.rate_limited, 1u);
    auto text = registry.render();
    EXPECT_NE(text.find("bsky_rate_limited_total{host=\"h\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_fetches_in_flight{host=\"h\"} 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_rate_tokens{host=\"h\"} "), std::string::npos) << text;
    EXPECT_EQ(result.attempts, 0u) << "a 429 must not use up the retry budget";
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 2u);
    // The second request waited for the reset (whole seconds), not less.
    auto second_at = std::chrono::system_clock::now() - (std::chrono::steady_clock::now() - reqs[1].received);
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(second_at.time_since_epoch()).count(), reset_at * 1000 - 50);
}

TEST_F(Fetcher, ARelaysRedirectIsChargedToAndPausedByTheHostThatAnswers) {
    // The relay 302s getRepo to the PDS on another address; the PDS answers 429 once.
    std::atomic<int> pds_calls{0};
    test::test_server pds([&](const test::request_info&, test::exchange& ex) {
        if (++pds_calls == 1)
            ex.respond({.status = 429, .body = "{\"error\":\"RateLimitExceeded\"}",
                        .headers = {{"Retry-After", "1"}, {"RateLimit-Remaining", "0"}, {"RateLimit-Policy", "100;w=300"}}});
        else ex.respond({.body = "repo"});
    }, std::nullopt, "127.0.0.2");
    auto relay = relay_to(pds);
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {}, 7);
    auto url = relay->origin() + "/xrpc/com.atproto.sync.getRepo?did=did:plc:abc";
    auto result = test::run(io_, fetcher.get(url, net::authority_of(url), nullptr));
    ASSERT_FALSE(result.ec) << result.detail;
    EXPECT_EQ(result.resp.status, 200u);
    EXPECT_EQ(result.rate_limited, 1u);
    auto snap = limiter.snapshot();
    auto pds_key = net::authority_of(pds.origin() + "/"), relay_key = net::authority_of(url);
    ASSERT_TRUE(snap.contains(pds_key)) << pds_key;
    EXPECT_EQ(snap[pds_key].rate_limited, 1u) << "the 429 is the PDS's";
    EXPECT_EQ(snap[pds_key].requests, 2u);
    EXPECT_EQ(snap[relay_key].rate_limited, 0u) << "the relay never said 429";
    EXPECT_EQ(snap[relay_key].paused_for_seconds, 0.0);
    EXPECT_EQ(snap[relay_key].requests, 2u) << "each attempt asks the relay once";
    // The PDS's policy (100 per 300 s) is the PDS's bucket, not the relay's.
    EXPECT_LE(snap[pds_key].tokens, 100.0);
    EXPECT_EQ(snap[relay_key].in_flight, 0u);
    EXPECT_EQ(snap[pds_key].in_flight, 0u);
    EXPECT_EQ(relay->requests().size(), 2u);
    EXPECT_EQ(pds.requests().size(), 2u);
}

TEST_F(Fetcher, RetriesAreCountedForTheHostThatFailedNotTheRelay) {
    // The relay 302s to a PDS that answers 503 twice: the PDS is the host to look at.
    std::atomic<int> pds_calls{0};
    test::test_server pds([&](const test::request_info&, test::exchange& ex) {
        if (++pds_calls <= 2) ex.respond({.status = 503, .body = "busy"});
        else ex.respond({.body = "repo"});
    }, std::nullopt, "127.0.0.2");
    auto relay = relay_to(pds);
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {.max_attempts = 5, .backoff_base = 10ms, .backoff_cap = 20ms}, 7);
    metrics::registry registry;
    fetcher.attach_metrics(registry, "pds");
    auto url = relay->origin() + "/xrpc/com.atproto.sync.getRepo?did=did:plc:abc";
    auto result = test::run(io_, fetcher.get(url, net::authority_of(url), nullptr));
    ASSERT_FALSE(result.ec) << result.detail;
    EXPECT_EQ(result.resp.status, 200u);
    auto text = registry.render();
    auto pds_key = net::authority_of(pds.origin() + "/"), relay_key = net::authority_of(url);
    EXPECT_NE(text.find("bsky_fetch_retries_total{client=\"pds\",host=\"" + pds_key + "\"} 2\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("host=\"" + relay_key + "\""), std::string::npos) << "the relay only redirected: " << text;
}

TEST_F(Fetcher, HtmlRateLimitWithoutHeadersUsesTheDefaultPause) {
    std::atomic<int> calls{0};
    test::test_server server([&](const test::request_info&, test::exchange& ex) {
        if (++calls == 1) ex.respond({.status = 429, .body = "<html><body>Too Many Requests</body></html>", .headers = {{"Content-Type", "text/html"}}});
        else ex.respond({.body = "ok"});
    });
    net::http_client client(io_.get_executor(), params());
    rate::host_limiter limiter(io_.get_executor(), {.default_pause = 400ms});
    net::fetcher fetcher(client, limiter, {}, 7);
    auto result = test::run(io_, fetcher.get(server.origin() + "/", "h", nullptr));
    EXPECT_EQ(result.resp.status, 200u);
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_GE(reqs[1].received - reqs[0].received, 390ms);
}

TEST_F(Fetcher, PerHostCapAndBucketHoldWhileOtherHostsProceed) {
    std::atomic<int> in_flight{0}, peak{0};
    auto slow = [&](const test::request_info&, test::exchange& ex) {
        int now = ++in_flight;
        int p = peak;
        while (now > p && !peak.compare_exchange_weak(p, now)) {}
        std::this_thread::sleep_for(50ms);
        --in_flight;
        ex.respond({.body = "ok"});
    };
    test::test_server busy(slow);
    test::test_server other([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = "ok"}); });
    net::http_client client(io_.get_executor(), params());
    // 40 requests/s with a burst of 4 and 2 at a time per host.
    rate::host_limiter limiter(io_.get_executor(), {.requests_per_window = 40, .window_seconds = 1, .burst = 4,
                                                     .max_concurrent_per_host = 2, .max_concurrent_total = 10});
    net::fetcher fetcher(client, limiter, {}, 7);
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration other_done{};
    int done = 0;
    // Named, so the closures outlive their coroutines.
    auto busy_task = [&]() -> asio::awaitable<void> {
        co_await fetcher.get(busy.origin() + "/", "busy", nullptr);
        ++done;
    };
    auto other_task = [&]() -> asio::awaitable<void> {
        co_await fetcher.get(other.origin() + "/", "other", nullptr);
        other_done = std::chrono::steady_clock::now() - start;
    };
    for (int i = 0; i < 12; ++i) asio::co_spawn(io_, busy_task(), asio::detached);
    asio::co_spawn(io_, other_task(), asio::detached);
    io_.run();
    EXPECT_EQ(done, 12);
    EXPECT_EQ(peak.load(), 2) << "the per-host cap";
    // 12 requests with burst 4 at 40/s need at least 200 ms; count per sliding window on the server side.
    auto reqs = busy.requests();
    ASSERT_EQ(reqs.size(), 12u);
    EXPECT_GE(reqs.back().received - reqs.front().received, 190ms);
    for (std::size_t i = 0; i + 5 < reqs.size(); ++i)
        EXPECT_GE(reqs[i + 5].received - reqs[i].received, 24ms) << "more than burst + rate allows around request " << i;
    EXPECT_LT(other_done, 150ms) << "the other host must not wait behind the busy one";
}

}  // namespace

namespace {

TEST(Xrpc, GetRepoAnswers) {
    using bsky::net::classify_get_repo;
    using bsky::net::repo_answer;
    std::string why;
    EXPECT_EQ(classify_get_repo(200, "", why), repo_answer::ok);
    EXPECT_EQ(classify_get_repo(400, R"({"error":"RepoNotFound","message":"Could not find repo for DID: did:plc:x"})", why),
              repo_answer::not_found);
    EXPECT_EQ(why, "HTTP 400 RepoNotFound: Could not find repo for DID: did:plc:x");
    EXPECT_EQ(classify_get_repo(400, R"({"error":"RepoTakendown","message":"Repo has been takendown"})", why), repo_answer::takendown);
    EXPECT_EQ(classify_get_repo(400, R"({"error":"RepoDeactivated"})", why), repo_answer::deactivated);
    EXPECT_EQ(classify_get_repo(400, R"({"error":"RepoSuspended"})", why), repo_answer::suspended);
    EXPECT_EQ(classify_get_repo(400, R"({"error":"InvalidRequest","message":"bad did"})", why), repo_answer::failed);
    EXPECT_EQ(why, "HTTP 400 InvalidRequest: bad did");
    EXPECT_EQ(classify_get_repo(404, "<html>nope</html>", why), repo_answer::not_found);
    EXPECT_EQ(classify_get_repo(403, "<html>forbidden</html>", why), repo_answer::failed);
    EXPECT_EQ(why, "HTTP 403");
}

}  // namespace
