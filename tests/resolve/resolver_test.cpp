// DID resolution against a loopback PLC directory and did:web hosts.
#include "resolve/resolver.hpp"
#include "support/fixtures.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <fstream>

namespace {

using namespace bsky;
using namespace std::chrono_literals;
namespace asio = boost::asio;

const std::string plc_doc = test::read_text(test::fixture("did/docs/indigo__did_plc_doc.json"));
const std::string plc_did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

class Resolver : public ::testing::Test {
protected:
    Resolver()
        : plc_([this](const test::request_info& req, test::exchange& ex) { respond(req, ex); }),
          client_(io_.get_executor(), client_params()),
          limiter_(io_.get_executor(), {}),
          fetcher_(client_, limiter_, {.max_attempts = 2, .backoff_base = 10ms, .backoff_cap = 20ms}, 1),
          resolver_(fetcher_, {.plc_url = plc_.origin(), .cache_ttl = 1h, .cache_max_entries = 2, .max_document_bytes = 64 * 1024}) {}

    static net::client_params client_params() {
        net::client_params p;
        p.allow_private_addresses = true;
        return p;
    }

    void respond(const test::request_info& req, test::exchange& ex) {
        auto did = req.target.substr(1);
        if (did == huge_did) {
            // 100 MB of one JSON string, written from one 1 MiB piece so the server stays small.
            ex.write_raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(100 << 20) + "\r\n\r\n");
            std::string piece(1 << 20, 'x');
            for (int i = 0; i < 100; ++i) ex.write_raw(piece);
            return;
        }
        if (did == bomb_did) {
            ex.respond({.body = bomb_, .headers = {{"Content-Encoding", "gzip"}}});
            return;
        }
        if (auto it = documents_.find(did); it != documents_.end()) ex.respond({.body = it->second});
        else if (did == "did:plc:tombstonedtombstonedtomb") ex.respond({.status = 410, .body = "{\"message\":\"DID not available\"}"});
        else ex.respond({.status = 404, .body = "{\"message\":\"DID not registered\"}"});
    }

    resolve::resolution resolve(const std::string& did) { return test::run(io_, resolver_.resolve(did)); }

    static constexpr const char* huge_did = "did:plc:hugehugehugehugehugehuge";
    static constexpr const char* bomb_did = "did:plc:bombbombbombbombbombbomb";
    std::string bomb_;
    std::map<std::string, std::string> documents_{{plc_did, plc_doc}};
    asio::io_context io_;
    test::test_server plc_;
    net::http_client client_;
    rate::host_limiter limiter_;
    net::fetcher fetcher_;
    resolve::resolver resolver_;
};

TEST_F(Resolver, GetPlcDirectoryDoc) {
    auto r = resolve(plc_did);
    ASSERT_EQ(r.status, resolve::resolve_status::ok) << r.detail;
    ASSERT_TRUE(r.document->pds_endpoint);
    ASSERT_TRUE(r.document->signing_key);
    EXPECT_FALSE(r.from_cache);
    auto again = resolve(plc_did);
    EXPECT_TRUE(again.from_cache);
    EXPECT_EQ(plc_.requests().size(), 1u);
    EXPECT_EQ(plc_.requests()[0].target, "/" + plc_did);
}

TEST_F(Resolver, NotFoundAndTombstonedAreFinal) {
    auto r = resolve("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT_EQ(r.status, resolve::resolve_status::not_found);
    EXPECT_NE(r.detail.find("HTTP 404"), std::string::npos) << r.detail;
    auto t = resolve("did:plc:tombstonedtombstonedtomb");
    EXPECT_EQ(t.status, resolve::resolve_status::not_found);
    EXPECT_EQ(plc_.requests().size(), 2u) << "final answers are not retried";
}

TEST_F(Resolver, HostileDocumentsFail) {
    documents_["did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"] = R"({"id":"did:plc:cccccccccccccccccccccccc"})";
    documents_["did:plc:dddddddddddddddddddddddd"] = "{\"id\":\"did:plc:dddddddddddddddddddddddd\",\"pad\":\"" + std::string(70'000, 'x') + "\"}";
    documents_["did:plc:eeeeeeeeeeeeeeeeeeeeeeee"] = "<html>not json</html>";
    auto mismatch = resolve("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb");
    EXPECT_EQ(mismatch.status, resolve::resolve_status::failed);
    EXPECT_NE(mismatch.detail.find("not the DID asked for"), std::string::npos) << mismatch.detail;
    auto big = resolve("did:plc:dddddddddddddddddddddddd");
    EXPECT_EQ(big.status, resolve::resolve_status::failed);
    EXPECT_NE(big.detail.find("larger than 65536 bytes"), std::string::npos) << big.detail;
    auto garbage = resolve("did:plc:eeeeeeeeeeeeeeeeeeeeeeee");
    EXPECT_EQ(garbage.status, resolve::resolve_status::failed);
    EXPECT_NE(garbage.detail.find("not valid JSON"), std::string::npos) << garbage.detail;
}

TEST_F(Resolver, PdsIsTheAtprotoPdsServiceAndMayBeMissing) {
    documents_["did:plc:ffffffffffffffffffffffff"] = R"({"id":"did:plc:ffffffffffffffffffffffff","service":[
        {"id":"#bsky_chat","type":"BskyChatService","serviceEndpoint":"https://chat.example"},
        {"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}]})";
    documents_["did:plc:gggggggggggggggggggggggg"] = R"({"id":"did:plc:gggggggggggggggggggggggg","service":[]})";
    auto r = resolve("did:plc:ffffffffffffffffffffffff");
    ASSERT_EQ(r.status, resolve::resolve_status::ok);
    EXPECT_EQ(r.document->pds_endpoint, "https://pds.example");
    auto none = resolve("did:plc:gggggggggggggggggggggggg");
    ASSERT_EQ(none.status, resolve::resolve_status::ok);
    EXPECT_FALSE(none.document->pds_endpoint);
}

TEST_F(Resolver, CacheIsBounded) {
    documents_["did:plc:hhhhhhhhhhhhhhhhhhhhhhhh"] = R"({"id":"did:plc:hhhhhhhhhhhhhhhhhhhhhhhh"})";
    documents_["did:plc:iiiiiiiiiiiiiiiiiiiiiiii"] = R"({"id":"did:plc:iiiiiiiiiiiiiiiiiiiiiiii"})";
    resolve(plc_did);
    resolve("did:plc:hhhhhhhhhhhhhhhhhhhhhhhh");
    resolve("did:plc:iiiiiiiiiiiiiiiiiiiiiiii");  // evicts the oldest (max 2 entries)
    EXPECT_FALSE(resolve("did:plc:iiiiiiiiiiiiiiiiiiiiiiii").detail.size());
    EXPECT_TRUE(resolve("did:plc:iiiiiiiiiiiiiiiiiiiiiiii").from_cache);
    EXPECT_FALSE(resolve(plc_did).from_cache);
}

// Peak resident memory since the last reset, from /proc (Linux >= 4.0).
std::uint64_t reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    return 0;
}
std::uint64_t peak_rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;
    return 0;
}
std::uint64_t rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

TEST_F(Resolver, HugeDocumentsAndServiceListsAreRefusedInBoundedMemory) {
    bomb_ = test::gzip_bytes("{\"id\":\"did:plc:bombbombbombbombbombbomb\",\"pad\":\"" + std::string(64 << 20, ' ') + "\"}");
    std::string services;
    for (int i = 0; i < 10'000; ++i)
        services += std::string(i ? "," : "") + R"({"id":"#s)" + std::to_string(i) + R"(","type":"X","serviceEndpoint":"https://s.example"})";
    documents_["did:plc:manymanymanymanymanymany"] = R"({"id":"did:plc:manymanymanymanymanymany","service":[)" + services + "]}";
    ASSERT_GT(bomb_.size(), 1000u);
    ASSERT_LT(bomb_.size(), 200'000u) << "a bomb: tiny on the wire";

    reset_peak_rss();
    auto base = rss_bytes();
    auto huge = resolve(huge_did);
    EXPECT_EQ(huge.status, resolve::resolve_status::failed);
    EXPECT_NE(huge.detail.find("larger than 65536 bytes"), std::string::npos) << huge.detail;
    auto bomb = resolve(bomb_did);
    EXPECT_EQ(bomb.status, resolve::resolve_status::failed);
    EXPECT_NE(bomb.detail.find("larger than 65536 bytes"), std::string::npos) << bomb.detail;
    auto many = resolve("did:plc:manymanymanymanymanymany");
    EXPECT_EQ(many.status, resolve::resolve_status::failed);
    EXPECT_NE(many.detail.find("larger than 65536 bytes"), std::string::npos) << many.detail;
    // The 1 MiB server piece and the test's own strings are outside this figure's
    // growth; the client itself holds 64 KiB buffers.
    // Sanitizer runtimes keep freed memory and shadow for a while: a wider bound, still far below 100 MB.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    constexpr std::size_t bound = 48u << 20;
#else
    constexpr std::size_t bound = 16u << 20;
#endif
    EXPECT_LT(peak_rss_bytes() - std::min(base, peak_rss_bytes()), bound) << "peak RSS grew by more than " << (bound >> 20) << " MiB";

    // With the size cap raised, the service list itself is refused.
    resolve::resolver lenient(fetcher_, {.plc_url = plc_.origin(), .max_document_bytes = 8 << 20});
    auto listed = test::run(io_, lenient.resolve("did:plc:manymanymanymanymanymany"));
    EXPECT_EQ(listed.status, resolve::resolve_status::failed);
    EXPECT_NE(listed.detail.find("'service' lists 10000 entries; at most 32 are accepted"), std::string::npos) << listed.detail;
}

TEST_F(Resolver, PlainHttpPdsEndpointIsRefusedUnlessAllowed) {
    documents_["did:plc:jjjjjjjjjjjjjjjjjjjjjjjj"] = R"({"id":"did:plc:jjjjjjjjjjjjjjjjjjjjjjjj","service":[
        {"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"http://pds.example"}]})";
    auto refused = resolve("did:plc:jjjjjjjjjjjjjjjjjjjjjjjj");
    EXPECT_EQ(refused.status, resolve::resolve_status::failed);
    EXPECT_NE(refused.detail.find("http://pds.example is plain http"), std::string::npos) << refused.detail;
    EXPECT_NE(refused.detail.find("allow_insecure_http"), std::string::npos) << refused.detail;
    resolve::resolver lenient(fetcher_, {.plc_url = plc_.origin(), .allow_insecure_http = true});
    auto allowed = test::run(io_, lenient.resolve("did:plc:jjjjjjjjjjjjjjjjjjjjjjjj"));
    ASSERT_EQ(allowed.status, resolve::resolve_status::ok) << allowed.detail;
    EXPECT_EQ(allowed.document->pds_endpoint, "http://pds.example");
}

TEST_F(Resolver, RefreshingOneDidKeepsOneCacheEntry) {
    resolve::resolver always_stale(fetcher_, {.plc_url = plc_.origin(), .cache_ttl = 0ms, .cache_max_entries = 2});
    for (int i = 0; i < 20; ++i) ASSERT_EQ(test::run(io_, always_stale.resolve(plc_did)).status, resolve::resolve_status::ok);
    EXPECT_EQ(always_stale.cached_entries(), 1u);
    EXPECT_EQ(plc_.requests().size(), 20u) << "every resolve was a refresh";
}

TEST_F(Resolver, CacheHitsAndMissesAreCounted) {
    metrics::registry registry;
    resolver_.attach_metrics(registry);
    EXPECT_NE(registry.render().find("bsky_resolver_cache_total{result=\"hit\"} 0\n"), std::string::npos);
    resolve(plc_did);                          // miss, cached
    resolve(plc_did);                          // hit
    resolve(plc_did);                          // hit
    resolve("did:plc:nobodynobodynobodynobody");  // miss: a not-found answer is cached too
    resolve("did:plc:nobodynobodynobodynobody");  // hit
    auto text = registry.render();
    EXPECT_NE(text.find("bsky_resolver_cache_total{result=\"hit\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_resolver_cache_total{result=\"miss\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_resolver_cache_entries 2\n"), std::string::npos) << text;

    // An expired entry is a miss: it is fetched again.
    metrics::registry stale_registry;
    resolve::resolver always_stale(fetcher_, {.plc_url = plc_.origin(), .cache_ttl = 0ms, .cache_max_entries = 2});
    always_stale.attach_metrics(stale_registry);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(test::run(io_, always_stale.resolve(plc_did)).status, resolve::resolve_status::ok);
    text = stale_registry.render();
    EXPECT_NE(text.find("bsky_resolver_cache_total{result=\"miss\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("bsky_resolver_cache_total{result=\"hit\"} 0\n"), std::string::npos) << text;
}

TEST(DidWeb, DocumentUrl) {
    EXPECT_EQ(resolve::document_url("did:web:example.com", ""), "https://example.com/.well-known/did.json");
    EXPECT_EQ(resolve::document_url("did:web:localhost%3A8443", ""), "https://localhost:8443/.well-known/did.json");
    EXPECT_EQ(resolve::document_url("did:plc:ewvi7nxzyoun6zhxrhs64oiz", "http://127.0.0.1:2582"),
              "http://127.0.0.1:2582/did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    EXPECT_EQ(resolve::document_url("did:key:z6Mk", ""), "");
    EXPECT_EQ(resolve::document_url("did:web:example.com:user:alice", ""), "");
}

TEST(DidWeb, ResolvesOverTls) {
    test::test_ca ca;
    auto ca_file = ca.write_certificate(::testing::TempDir());
    std::string did;
    test::test_server host([&](const test::request_info& req, test::exchange& ex) {
        if (req.target == "/.well-known/did.json")
            ex.respond({.body = "{\"id\":\"" + did + "\",\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\",\"serviceEndpoint\":\"https://pds.example\"}]}"});
        else ex.respond({.status = 404});
    }, ca.issue({"localhost"}, {}));
    did = "did:web:localhost%3A" + std::to_string(host.port());
    asio::io_context io;
    net::client_params p;
    p.allow_private_addresses = true;
    p.ca_file = ca_file;
    net::http_client client(io.get_executor(), p);
    rate::host_limiter limiter(io.get_executor(), {});
    net::fetcher fetcher(client, limiter, {}, 1);
    resolve::resolver resolver(fetcher, {});
    auto r = test::run(io, resolver.resolve(did));
    ASSERT_EQ(r.status, resolve::resolve_status::ok) << r.detail;
    EXPECT_EQ(r.document->pds_endpoint, "https://pds.example");
}

}  // namespace
