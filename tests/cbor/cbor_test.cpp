// DAG-CBOR against the IPLD codec fixtures, the atproto data-model vectors,
// real record blocks and hand-made non-canonical forms.
#include "cbor/dag_json.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/cid.hpp"
#include "cid/multibase.hpp"
#include "crypto/sha256.hpp"
#include "support/fixtures.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>

namespace {

using namespace bsky;
namespace fs = std::filesystem;

std::error_code decode_hex(const std::string& hex, cbor::decode_options options = {}) {
    auto bytes = test::from_hex(hex);
    cbor::document doc;
    return cbor::decode(bytes, doc, options);
}

std::vector<std::uint8_t> reencode(const cbor::document& doc) {
    std::vector<std::uint8_t> out;
    cbor::encoder(out).value(doc.root());
    return out;
}

std::string sha256_cid(const std::vector<std::uint8_t>& bytes) {
    auto digest = crypto::sha256(bytes);
    return cid::cid::make_v1_sha256(cid::codec_dag_cbor, digest).to_string();
}

TEST(DagCbor, IpldCodecFixturesRoundTrip) {
    int fixtures = 0, with_floats = 0;
    for (const auto& dir : fs::directory_iterator(test::fixture("cbor/ipld-codec-fixtures/fixtures"))) {
        for (const auto& file : fs::directory_iterator(dir.path())) {
            if (file.path().extension() != ".dag-cbor") continue;
            ++fixtures;
            auto bytes = test::read_bytes(file.path());
            SCOPED_TRACE(dir.path().filename().string());
            // The file is named after the CID of its bytes.
            EXPECT_EQ(sha256_cid(bytes), file.path().stem().string());

            cbor::document doc;
            std::size_t at = 0;
            auto ec = cbor::decode(bytes, doc, {.max_depth = 64, .allow_floats = true}, &at);
            ASSERT_FALSE(ec) << ec.message() << " at " << at;
            EXPECT_EQ(reencode(doc), bytes) << "re-encoding must be byte-identical";

            // atproto forbids floats: the strict default must refuse exactly the fixtures that hold one.
            bool has_float = false;
            for (const auto& n : doc.nodes()) has_float |= n.type == cbor::kind::float64;
            with_floats += has_float;
            auto strict = cbor::decode(bytes, doc);
            if (has_float) {
                EXPECT_EQ(strict, cbor::error::float_not_allowed);
            } else {
                EXPECT_FALSE(strict) << strict.message();
            }

            // Cross-codec: the .dag-json twin encodes to the same bytes. Boost.JSON
            // 1.81 holds neither integers beyond 64 bits nor every double exactly
            // (its number parser is not correctly rounded), so those are skipped.
            auto name = dir.path().filename().string();
            if (has_float || (name.starts_with("int-") && name.size() > 20)) continue;
            for (const auto& twin : fs::directory_iterator(dir.path())) {
                if (twin.path().extension() != ".dag-json") continue;
                auto json = boost::json::parse(test::read_text(twin.path()));
                EXPECT_EQ(test::json_to_dag_cbor(json, test::link_style::ipld), bytes) << "dag-json twin of " << name;
            }
        }
    }
    EXPECT_EQ(fixtures, 128);
    EXPECT_EQ(with_floats, 28) << "the fixture INDEX counts 28 fixtures holding float64";
}

TEST(DagCbor, NegativeFixtureDuplicateKeys) {
    auto cases = test::read_json(test::fixture("cbor/ipld-codec-fixtures/negative-fixtures/dag-cbor/decode/duplicate-keys.json"));
    for (const auto& c : cases.as_array()) {
        EXPECT_EQ(decode_hex(std::string(c.at("hex").as_string())), cbor::error::duplicate_map_key) << c.at("name").as_string();
    }
}

TEST(DagCbor, AtprotoDataModelFixtures) {
    auto cases = test::read_json(test::fixture("interop/data-model/data-model-fixtures.json"));
    ASSERT_FALSE(cases.as_array().empty());
    for (const auto& c : cases.as_array()) {
        auto cbor_bytes = *cid::base64_decode(c.at("cbor_base64").as_string());
        EXPECT_EQ(sha256_cid(cbor_bytes), c.at("cid").as_string());
        EXPECT_EQ(test::json_to_dag_cbor(c.at("json"), test::link_style::atproto), cbor_bytes);
        cbor::document doc;
        ASSERT_FALSE(cbor::decode(cbor_bytes, doc));
        std::string json;
        cbor::write_dag_json(doc.root(), json);
        EXPECT_EQ(boost::json::parse(json), c.at("json")) << json;
    }
}

TEST(DagCbor, AtprotoDataModelValidDocumentsDecode) {
    auto cases = test::read_json(test::fixture("interop/data-model/data-model-valid.json"));
    for (const auto& c : cases.as_array()) {
        SCOPED_TRACE(std::string(c.at("note").as_string()));
        // "123.0" is integer-like JSON: the atproto data model stores it as an integer.
        auto json = c.at("json");
        std::vector<std::uint8_t> bytes;
        try {
            bytes = test::json_to_dag_cbor(json, test::link_style::atproto);
        } catch (...) {
            continue;
        }
        cbor::document doc;
        auto ec = cbor::decode(bytes, doc, {.max_depth = 64, .allow_floats = true});
        EXPECT_FALSE(ec) << ec.message();
    }
}

TEST(DagCbor, RealRecordBlocks) {
    for (auto [file, cid_text] : {std::pair{"cbor/atproto-records/indigo__feedpost_record.cbor",
                                            "bafyreigopc2xg7ayxvsvwg3vobbraqfxe4c2bhil4ow6fkv74tzrr66qcq"},
                                  std::pair{"cbor/atproto-records/indigo__post_richtext_link.cbor",
                                            "bafyreigxouugvadvd2noqcqqycqatqziucpyngh6kulds5czd2752icwvi"}}) {
        auto bytes = test::read_bytes(test::fixture(file));
        EXPECT_EQ(sha256_cid(bytes), cid_text);
        cbor::document doc;
        ASSERT_FALSE(cbor::decode(bytes, doc)) << file;
        EXPECT_EQ(doc.root()["$type"].as_string(), "app.bsky.feed.post");
        EXPECT_TRUE(doc.root()["createdAt"].is(cbor::kind::string));
        EXPECT_EQ(reencode(doc), bytes);
    }
}

TEST(DagCbor, DeepNestingIsRejectedWithoutStackOverflow) {
    auto bytes = test::read_bytes(test::fixture("cbor/stress/python-libipld__semi_torture_nested_lists.dagcbor"));
    cbor::document doc;
    std::size_t at = 0;
    EXPECT_EQ(cbor::decode(bytes, doc, {}, &at), cbor::error::too_deep);
    EXPECT_GT(at, 60u);
    EXPECT_TRUE(doc.nodes().empty());
}

TEST(DagCbor, NonCanonicalFormsAreRejected) {
    EXPECT_EQ(decode_hex("1817"), cbor::error::not_shortest_form);            // 23 in two bytes
    EXPECT_EQ(decode_hex("190017"), cbor::error::not_shortest_form);
    EXPECT_EQ(decode_hex("1a000000ff"), cbor::error::not_shortest_form);
    EXPECT_EQ(decode_hex("1b00000000ffffffff"), cbor::error::not_shortest_form);
    EXPECT_EQ(decode_hex("7801" "61"), cbor::error::not_shortest_form);       // 1-byte string, long length
    EXPECT_EQ(decode_hex("9fff"), cbor::error::indefinite_length);
    EXPECT_EQ(decode_hex("7f6161ff"), cbor::error::indefinite_length);
    EXPECT_EQ(decode_hex("a2616201616101"), cbor::error::map_keys_unsorted);   // {"b":1,"a":1}
    EXPECT_EQ(decode_hex("a262616101616201"), cbor::error::map_keys_unsorted); // {"aa":1,"b":1}: shorter first
    EXPECT_EQ(decode_hex("a10101"), cbor::error::map_key_not_string);
    EXPECT_EQ(decode_hex("f7"), cbor::error::unsupported_simple_value);      // undefined
    EXPECT_EQ(decode_hex("f0"), cbor::error::unsupported_simple_value);
    EXPECT_EQ(decode_hex("f93c00"), cbor::error::float_not_allowed);
    EXPECT_EQ(decode_hex("f93c00", {.max_depth = 8, .allow_floats = true}), cbor::error::float_not_64_bit);
    EXPECT_EQ(decode_hex("fb7ff8000000000000", {.max_depth = 8, .allow_floats = true}), cbor::error::float_not_finite);
    EXPECT_EQ(decode_hex("c11a514b67b0"), cbor::error::unsupported_tag);
    EXPECT_EQ(decode_hex("d82a4100"), cbor::error::invalid_link);            // tag 42 without a CID
    EXPECT_EQ(decode_hex("d82a6161"), cbor::error::invalid_link);            // tag 42 on a string
    EXPECT_EQ(decode_hex("62c328"), cbor::error::invalid_utf8);
    EXPECT_EQ(decode_hex("63eda080"), cbor::error::invalid_utf8);            // a surrogate
    EXPECT_EQ(decode_hex("62c0af"), cbor::error::invalid_utf8);              // overlong
    EXPECT_EQ(decode_hex("0000"), cbor::error::trailing_bytes);
    EXPECT_EQ(decode_hex("9affffffff"), cbor::error::too_large);             // a count the input cannot hold
    EXPECT_EQ(decode_hex("9b00000000ffffffff"), cbor::error::not_shortest_form);
    EXPECT_EQ(decode_hex(""), cbor::error::truncated);
    EXPECT_EQ(decode_hex("1c"), cbor::error::reserved_additional_info);
}

TEST(DagCbor, EveryTruncationOfARealRecordFails) {
    auto bytes = test::read_bytes(test::fixture("cbor/atproto-records/indigo__post_richtext_link.cbor"));
    cbor::document doc;
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_TRUE(cbor::decode({bytes.data(), n}, doc)) << "prefix of " << n << " bytes decoded";
}

TEST(DagJson, EscapesAndSpecialForms) {
    std::vector<std::uint8_t> bytes;
    cbor::encoder enc(bytes);
    enc.map_header(4);
    enc.text("a");
    enc.text("q\"\\\n\x01é");
    enc.text("b");
    enc.bytes(std::vector<std::uint8_t>{1, 2, 3});
    enc.text("c");
    enc.integer(-9007199254740991);
    enc.text("d");
    enc.link(*cid::cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"));
    cbor::document doc;
    ASSERT_FALSE(cbor::decode(bytes, doc));
    std::string json;
    cbor::write_dag_json(doc.root(), json);
    EXPECT_EQ(json,
              "{\"a\":\"q\\\"\\\\\\n\\u0001é\",\"b\":{\"$bytes\":\"AQID\"},\"c\":-9007199254740991,"
              "\"d\":{\"$link\":\"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm\"}}");
}

// The escaper scans 8 bytes at a time: put each character that needs (or
// nearly needs) escaping at every offset of strings around that width, and
// let an independent JSON parser read the result back.
TEST(DagJson, EscapesAtEveryOffsetOfTheWordScan) {
    const std::string specials[] = {"\"", "\\", "\n", "\x01", "\x1f", " ", "!", "#", "[", "]", "\x7f", "\xc3\xa9"};
    for (std::size_t length = 0; length <= 24; ++length) {
        for (std::size_t at = 0; at <= length; ++at) {
            for (const auto& special : specials) {
                std::string text(length, 'x');
                text.insert(at, special);
                std::string json;
                cbor::write_json_string(text, json);
                EXPECT_EQ(boost::json::parse(json).as_string(), text) << json;
            }
        }
    }
}

}  // namespace
