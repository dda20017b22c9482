#include "cid/cid.hpp"
#include "cid/multibase.hpp"
#include "cid/varint.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>

namespace {

using namespace bsky::cid;

TEST(Varint, RoundTripsAndRejectsBadForms) {
    for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 16383ull, 16384ull, (1ull << 63) - 1}) {
        std::uint8_t buf[10];
        auto n = write_varint(v, buf);
        auto r = read_varint({buf, n});
        ASSERT_EQ(r.status, varint_status::ok) << v;
        EXPECT_EQ(r.value, v);
        EXPECT_EQ(r.length, n);
        if (n > 1) {
            EXPECT_EQ(read_varint({buf, n - 1}).status, varint_status::need_more) << v;
        }
    }
    const std::uint8_t non_minimal[] = {0x81, 0x00};
    EXPECT_EQ(read_varint(non_minimal).status, varint_status::not_minimal);
    const std::uint8_t runaway[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    EXPECT_EQ(read_varint(runaway).status, varint_status::too_long);
    // The go-car fixture's header length: 6 bytes, valid as a varint (the reader rejects the size).
    const std::uint8_t big[] = {0xe0, 0xe0, 0xe0, 0xe0, 0xa7, 0x06};
    auto r = read_varint(big);
    ASSERT_EQ(r.status, varint_status::ok);
    EXPECT_EQ(r.value, 216830324832ull);
}

TEST(Multibase, KnownVectors) {
    const std::string hello = "hello world";
    std::vector<std::uint8_t> bytes(hello.begin(), hello.end());
    EXPECT_EQ(base58btc_encode(bytes), "StV1DL6CwTryKyV");
    EXPECT_EQ(base32_encode(bytes), "nbswy3dpeb3w64tmmq");
    EXPECT_EQ(base64_encode(bytes), "aGVsbG8gd29ybGQ");
    EXPECT_EQ(*base58btc_decode("StV1DL6CwTryKyV"), bytes);
    EXPECT_EQ(*base32_decode("nbswy3dpeb3w64tmmq"), bytes);
    EXPECT_EQ(*base64_decode("aGVsbG8gd29ybGQ="), bytes);
    EXPECT_EQ(*base64_decode("aGVsbG8gd29ybGQ"), bytes);
    EXPECT_EQ(base58btc_encode(std::vector<std::uint8_t>{0, 0, 1}), "112");
    EXPECT_FALSE(base58btc_decode("0OIl"));
    EXPECT_FALSE(base32_decode("nbswy3dpeb3w64tmmr"));  // non-zero padding bits
    EXPECT_FALSE(base64_decode("aGVsbG8gd29ybGR"));      // non-zero padding bits
    EXPECT_FALSE(base64_decode("a"));
}

// RFC 4648 §10, lower case without padding: every tail length after the
// 5-byte groups.
TEST(Multibase, Base32Rfc4648VectorsAndAppend) {
    const std::pair<std::string, std::string> vectors[] = {{"", ""},           {"f", "my"},           {"fo", "mzxq"},
                                                           {"foo", "mzxw6"},   {"foob", "mzxw6yq"},   {"fooba", "mzxw6ytb"},
                                                           {"foobar", "mzxw6ytboi"}};
    for (const auto& [plain, encoded] : vectors) {
        std::vector<std::uint8_t> bytes(plain.begin(), plain.end());
        EXPECT_EQ(base32_encode(bytes), encoded) << plain;
        std::string out = "prefix:";
        base32_append(bytes, out);
        EXPECT_EQ(out, "prefix:" + encoded);
        EXPECT_EQ(*base32_decode(encoded), bytes);
    }
}

TEST(Cid, ParsesAndPrintsAtprotoCids) {
    auto c = cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->version(), 1u);
    EXPECT_EQ(c->codec(), codec_dag_cbor);
    EXPECT_EQ(c->hash_code(), hash_sha2_256);
    EXPECT_EQ(c->digest().size(), 32u);
    EXPECT_TRUE(c->is_atproto_blessed());
    EXPECT_EQ(c->to_string(), "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    auto raw = cid::from_string("bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity");
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->codec(), codec_raw);
    auto again = cid::from_bytes(c->bytes());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *c);
}

TEST(Cid, ValidSyntaxVectorsThatAreRealCidsRoundTrip) {
    int parsed = 0;
    for (const auto& line : bsky::test::vector_lines(bsky::test::fixture("interop/syntax/cid_syntax_valid.txt"))) {
        auto c = cid::from_string(line);
        if (!c) continue;  // the syntax vectors include other multibase forms (hex, base10, base64)
        ++parsed;
        if (line[0] == 'b') {
            EXPECT_EQ(c->to_string(), line);
        }
    }
    EXPECT_GE(parsed, 3);
}

TEST(Cid, RejectsGarbage) {
    EXPECT_FALSE(cid::from_string(""));
    EXPECT_FALSE(cid::from_string("b"));
    EXPECT_FALSE(cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp"));  // truncated digest
    EXPECT_FALSE(cid::from_string("cid:bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"));
    const std::uint8_t v2[] = {0x02, 0x71, 0x12, 0x20};
    EXPECT_FALSE(cid::from_bytes(v2));
}

TEST(Cid, CidV0) {
    auto c = cid::from_string("QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->version(), 0u);
    EXPECT_FALSE(c->is_atproto_blessed());
    EXPECT_EQ(c->to_string(), "QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY");
}

}  // namespace
