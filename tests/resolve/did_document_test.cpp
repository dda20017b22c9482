// DID documents as they are found in the wild, and hostile ones.
#include "crypto/did_key.hpp"
#include "resolve/did_document.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>

namespace {

using bsky::resolve::parse_did_document;

std::string doc(const std::string& name) { return bsky::test::read_text(bsky::test::fixture("did/docs/" + name)); }

TEST(DidDocument, CurrentMultikeyForm) {
    std::string why;
    auto d = parse_did_document(doc("indigo__did_plc_doc.json"), "did:plc:ewvi7nxzyoun6zhxrhs64oiz", why);
    ASSERT_TRUE(d) << why;
    EXPECT_EQ(d->handle, "atproto.com");
    ASSERT_TRUE(d->pds_endpoint);
    EXPECT_TRUE(d->pds_endpoint->starts_with("https://"));
    ASSERT_TRUE(d->signing_key);
    EXPECT_EQ(bsky::crypto::to_did_key(*d->signing_key), "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

TEST(DidDocument, LegacyFormGivesTheSameKey) {
    std::string why;
    auto d = parse_did_document(doc("indigo__did_plc_doc_legacy.json"), "did:plc:ewvi7nxzyoun6zhxrhs64oiz", why);
    ASSERT_TRUE(d) << why;
    ASSERT_TRUE(d->signing_key);
    EXPECT_EQ(bsky::crypto::to_did_key(*d->signing_key), "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

TEST(DidDocument, ServiceDidWebHasNoPdsOrKey) {
    std::string why;
    auto d = parse_did_document(doc("indigo__did_web_doc.json"), "did:web:discover.bsky.social", why);
    ASSERT_TRUE(d) << why;
    EXPECT_FALSE(d->pds_endpoint);
    EXPECT_FALSE(d->signing_key);
}

TEST(DidDocument, MismatchedIdIsRefused) {
    std::string why;
    EXPECT_FALSE(parse_did_document(doc("indigo__did_plc_doc.json"), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", why));
    EXPECT_NE(why.find("not the DID asked for"), std::string::npos) << why;
}

TEST(DidDocument, PdsIsTheAtprotoPdsServiceNotTheFirst) {
    std::string why;
    auto d = parse_did_document(R"({"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","service":[
        {"id":"#bsky_fg","type":"BskyFeedGenerator","serviceEndpoint":"https://feed.example"},
        {"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example/"}]})",
                                "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", why);
    ASSERT_TRUE(d) << why;
    EXPECT_EQ(d->pds_endpoint, "https://pds.example");
}

TEST(DidDocument, HostileDocuments) {
    std::string why;
    EXPECT_FALSE(parse_did_document("[]", "", why));
    EXPECT_FALSE(parse_did_document("{\"id\": 5}", "", why));
    EXPECT_FALSE(parse_did_document("{", "", why));
    EXPECT_NE(why.find("not valid JSON"), std::string::npos);
    EXPECT_FALSE(parse_did_document(R"({"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","service":[
        {"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"file:///etc/passwd"}]})", "", why));
    EXPECT_NE(why.find("not an http(s) URL"), std::string::npos) << why;
    EXPECT_FALSE(parse_did_document(R"({"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","service":[
        {"id":"#atproto_pds","type":"Other","serviceEndpoint":"https://x.example"}]})", "", why));
    EXPECT_FALSE(parse_did_document(R"({"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","verificationMethod":[
        {"id":"#atproto","type":"Multikey","publicKeyMultibase":"zNotAKey"}]})", "", why));
    // A key for another DID's fragment is not this DID's key.
    auto d = parse_did_document(R"({"id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","verificationMethod":[
        {"id":"did:plc:bbbbbbbbbbbbbbbbbbbbbbbb#atproto","type":"Multikey","publicKeyMultibase":"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}]})",
                                "", why);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->signing_key);
}

}  // namespace
