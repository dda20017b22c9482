#include "mst/mst.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>

namespace {

TEST(Mst, KeyHeightVectors) {
    auto cases = bsky::test::read_json(bsky::test::fixture("interop/mst/key_heights.json"));
    ASSERT_FALSE(cases.as_array().empty());
    for (const auto& c : cases.as_array())
        EXPECT_EQ(bsky::mst::key_height(c.at("key").as_string()), c.at("height").as_int64()) << c.at("key").as_string();
}

TEST(Mst, CommonPrefixVectors) {
    auto cases = bsky::test::read_json(bsky::test::fixture("interop/mst/common_prefix.json"));
    ASSERT_FALSE(cases.as_array().empty());
    for (const auto& c : cases.as_array())
        EXPECT_EQ(bsky::mst::common_prefix_length(c.at("left").as_string(), c.at("right").as_string()),
                  static_cast<std::size_t>(c.at("len").as_int64()))
            << c.at("left").as_string() << " / " << c.at("right").as_string();
}

TEST(Mst, ExampleKeysCarryTheirHeight) {
    // The interop example keys are named so that the digit after the letter is the key's height.
    auto keys = bsky::test::vector_lines(bsky::test::fixture("interop/mst/example_keys.txt"));
    ASSERT_EQ(keys.size(), 156u);
    for (const auto& key : keys) EXPECT_EQ(bsky::mst::key_height(key), key[1] - '0') << key;
}

TEST(Mst, MalformedNodeIsReported) {
    // {"e": 1} is not a node.
    const std::vector<std::uint8_t> bad = {0xa1, 0x61, 0x65, 0x01};
    auto id = *bsky::cid::cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    bsky::mst::walker w(id);
    std::string detail;
    EXPECT_EQ(w.expand_node(bad, detail), bsky::mst::error::bad_node);
    EXPECT_NE(detail.find("field 'e'"), std::string::npos) << detail;
}

TEST(Mst, EmptyTreeWalk) {
    // The empty-MST node {e: [], l: null}.
    const std::vector<std::uint8_t> empty = {0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6};
    auto id = *bsky::cid::cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    bsky::mst::walker w(id);
    ASSERT_FALSE(w.done());
    std::string detail;
    EXPECT_FALSE(w.expand_node(empty, detail)) << detail;
    EXPECT_TRUE(w.done());
}

}  // namespace
