// DID resolution against a loopback PLC directory and did:web hosts.
#include "resolve/resolver.hpp"
#include "support/fixtures.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

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
        if (auto it = documents_.find(did); it != documents_.end()) ex.respond({.body = it->second});
        else if (did == "did:plc:tombstonedtombstonedtomb") ex.respond({.status = 410, .body = "{\"message\":\"DID not available\"}"});
        else ex.respond({.status = 404, .body = "{\"message\":\"DID not registered\"}"});
    }

    resolve::resolution resolve(const std::string& did) { return test::run(io_, resolver_.resolve(did)); }

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
