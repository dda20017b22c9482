// Signature and key vectors from the atproto interop tests.
#include "cid/multibase.hpp"
#include "crypto/did_key.hpp"
#include "crypto/sha256.hpp"
#include "crypto/verify.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

namespace {

using namespace bsky;

TEST(Sha256, KnownAnswer) {
    std::string abc = "abc";
    auto d = crypto::sha256({reinterpret_cast<const std::uint8_t*>(abc.data()), abc.size()});
    EXPECT_EQ(test::to_hex({d.begin(), d.end()}), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Signatures, InteropFixtures) {
    auto cases = test::read_json(test::fixture("interop/crypto/signature-fixtures.json"));
    int valid = 0, high_s = 0, der = 0;
    for (const auto& c : cases.as_array()) {
        SCOPED_TRACE(std::string(c.at("comment").as_string()));
        auto message = cid::base64_decode(c.at("messageBase64").as_string());
        auto signature = cid::base64_decode(c.at("signatureBase64").as_string());
        ASSERT_TRUE(message && signature);
        auto key = crypto::parse_did_key(c.at("publicKeyDid").as_string());
        ASSERT_TRUE(key);
        auto status = crypto::verify_signature(*key, *message, *signature);
        bool expected = c.at("validSignature").as_bool();
        EXPECT_EQ(status == crypto::signature_status::valid, expected) << crypto::to_string(status);
        valid += expected;
        for (const auto& tag : c.at("tags").as_array()) {
            if (tag.as_string() == "high-s") {
                ++high_s;
                EXPECT_EQ(status, crypto::signature_status::high_s);
            }
            if (tag.as_string() == "der-encoded") {
                ++der;
                EXPECT_EQ(status, crypto::signature_status::malformed_signature);
            }
        }
        // The same key in its document form decodes to the same point.
        auto suite = std::string(c.at("didDocSuite").as_string());
        auto legacy = crypto::parse_verification_method(suite, c.at("publicKeyMultibase").as_string());
        ASSERT_TRUE(legacy) << suite;
        EXPECT_EQ(crypto::to_did_key(*legacy), c.at("publicKeyDid").as_string());
    }
    EXPECT_GE(valid, 2);
    EXPECT_GE(high_s, 2);
    EXPECT_GE(der, 1);
}

// Derives the public point from a private scalar with OpenSSL, then checks
// that our did:key encoding matches the W3C vector.
std::string did_key_for_private(const std::string& hex, int nid, crypto::curve type) {
    EC_GROUP* group = EC_GROUP_new_by_curve_name(nid);
    BIGNUM* priv = nullptr;
    BN_hex2bn(&priv, hex.c_str());
    EC_POINT* pub = EC_POINT_new(group);
    EC_POINT_mul(group, pub, priv, nullptr, nullptr, nullptr);
    std::vector<std::uint8_t> point(65);
    auto n = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(), nullptr);
    point.resize(n);
    EC_POINT_free(pub);
    BN_free(priv);
    EC_GROUP_free(group);
    return crypto::to_did_key({type, point});
}

TEST(DidKey, W3cVectors) {
    for (auto [file, nid, type] : {std::tuple{"interop/crypto/w3c_didkey_K256.json", NID_secp256k1, crypto::curve::k256},
                                   std::tuple{"interop/crypto/w3c_didkey_P256.json", NID_X9_62_prime256v1, crypto::curve::p256}}) {
        auto cases = test::read_json(test::fixture(file));
        ASSERT_FALSE(cases.as_array().empty());
        for (const auto& c : cases.as_array()) {
            auto expected = std::string(c.at("publicDidKey").as_string());
            std::string priv = c.as_object().contains("privateKeyBytesHex") ? std::string(c.at("privateKeyBytesHex").as_string())
                                                                            : std::string();
            if (!priv.empty()) {
                EXPECT_EQ(did_key_for_private(priv, nid, type), expected);
            }
            auto key = crypto::parse_did_key(expected);
            ASSERT_TRUE(key) << expected;
            EXPECT_EQ(key->type, type);
            EXPECT_EQ(crypto::to_did_key(*key), expected);
        }
    }
}

TEST(DidKey, LegacyDocumentKeyEqualsMultikey) {
    // The 2023 bsky.social key in both encodings (fixtures/cars/INDEX.md).
    auto legacy = crypto::parse_verification_method(
        "EcdsaSecp256k1VerificationKey2019",
        "zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR");
    ASSERT_TRUE(legacy);
    EXPECT_EQ(legacy->point.size(), 65u);
    EXPECT_EQ(crypto::to_did_key(*legacy), "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

TEST(DidKey, RejectsOtherKeys) {
    EXPECT_FALSE(crypto::parse_did_key("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"));  // ed25519
    EXPECT_FALSE(crypto::parse_did_key("did:web:example.com"));
    EXPECT_FALSE(crypto::parse_did_key("did:key:zQ3sh"));
    EXPECT_FALSE(crypto::parse_verification_method("Ed25519VerificationKey2020", "z6Mk"));
}

TEST(Signatures, OffCurveKeyIsMalformed) {
    crypto::public_key key{crypto::curve::p256, std::vector<std::uint8_t>(65, 0x07)};
    key.point[0] = 0x04;
    std::vector<std::uint8_t> sig(64, 1);
    EXPECT_EQ(crypto::verify_signature(key, {}, sig), crypto::signature_status::malformed_key);
}

}  // namespace
