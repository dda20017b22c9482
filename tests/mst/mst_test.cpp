#include "car/reader.hpp"
#include "cbor/encoder.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"
#include "mst/mst.hpp"
#include "repo/repo_reader.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>

#include <optional>

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

// ---------------------------------------------------------------------------
// Hostile trees, built by hand with the canonical encoder and fed to the walker.

using bytes = std::vector<std::uint8_t>;

bsky::cid::cid cid_of(const bytes& b) {
    return bsky::cid::cid::make_v1_sha256(bsky::cid::codec_dag_cbor, bsky::crypto::sha256(b));
}

const bsky::cid::cid some_record = cid_of({0xa0});

struct entry {
    std::string key;
    std::optional<std::size_t> prefix;  ///< the prefix length to claim; default: the true one
    std::optional<bsky::cid::cid> right;
};

// {e: [{k, p, t, v}...], l} with keys prefix-compressed against the previous entry.
bytes node(const std::vector<entry>& entries, std::optional<bsky::cid::cid> left = std::nullopt) {
    bytes out;
    bsky::cbor::encoder e(out);
    e.map_header(2);
    e.text("e");
    e.array_header(entries.size());
    std::string previous;
    for (const auto& en : entries) {
        auto prefix = en.prefix.value_or(bsky::mst::common_prefix_length(previous, en.key));
        auto suffix = en.key.substr(std::min(prefix, en.key.size()));
        e.map_header(4);
        e.text("k");
        e.bytes({reinterpret_cast<const std::uint8_t*>(suffix.data()), suffix.size()});
        e.text("p");
        e.unsigned_int(prefix);
        e.text("t");
        if (en.right) e.link(*en.right);
        else e.null();
        e.text("v");
        e.link(some_record);
        previous = en.key;
    }
    e.text("l");
    if (left) e.link(*left);
    else e.null();
    return out;
}

// Keys of one height, in key order.
std::vector<std::string> keys_of_height(int height, std::size_t count) {
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < count; ++i) {
        auto key = "app.bsky.feed.post/3k" + std::to_string(100000 + i);
        if (bsky::mst::key_height(key) == height) keys.push_back(key);
    }
    return keys;
}

// Expands `bytes` as the root node; returns its error and detail.
std::pair<std::error_code, std::string> expand_root(const bytes& b) {
    bsky::mst::walker w(cid_of(b));
    std::string detail;
    auto ec = w.expand_node(b, detail);
    return {ec, detail};
}

TEST(MstHostile, WellFormedNodeWalks) {
    // The control: the same builder makes a node the walker takes, so the cases below fail for their one fault.
    auto keys = keys_of_height(0, 3);
    auto b = node({{keys[0]}, {keys[1]}, {keys[2]}});
    bsky::mst::walker w(cid_of(b));
    std::string detail;
    ASSERT_FALSE(w.expand_node(b, detail)) << detail;
    for (const auto& key : keys) {
        ASSERT_TRUE(!w.done() && w.next_is_record());
        EXPECT_EQ(w.record_key(), key);
        ASSERT_FALSE(w.take_record(detail)) << detail;
    }
    EXPECT_TRUE(w.done());
}

TEST(MstHostile, KeysOfDifferentHeightsInOneNode) {
    auto low = keys_of_height(0, 1)[0], high = keys_of_height(1, 1)[0];
    auto [ec, detail] = expand_root(node({{std::min(low, high)}, {std::max(low, high)}}));
    EXPECT_EQ(ec, bsky::mst::error::wrong_height);
    auto first_height = low < high ? "0" : "1", second_height = low < high ? "1" : "0";
    EXPECT_NE(detail.find("key " + std::max(low, high) + " has height " + second_height + " in a node of height " + first_height),
              std::string::npos)
        << detail;
}

TEST(MstHostile, ChildNodeNotBelowItsParent) {
    auto keys = keys_of_height(1, 2);
    auto child = node({{keys[0]}});  // height 1, under a parent of height 1
    auto root = node({{keys[1]}}, cid_of(child));
    bsky::mst::walker w(cid_of(root));
    std::string detail;
    ASSERT_FALSE(w.expand_node(root, detail)) << detail;
    ASSERT_FALSE(w.next_is_record());
    ASSERT_EQ(w.next_id(), cid_of(child));
    EXPECT_EQ(w.expand_node(child, detail), bsky::mst::error::wrong_height);
    EXPECT_NE(detail.find("node height 1 is not below its parent's"), std::string::npos) << detail;
}

TEST(MstHostile, KeysOutOfOrder) {
    auto keys = keys_of_height(0, 2);
    bsky::mst::walker w;
    auto b = node({{keys[1]}, {keys[0]}});
    w.start(cid_of(b));
    std::string detail;
    ASSERT_FALSE(w.expand_node(b, detail)) << detail;
    ASSERT_FALSE(w.take_record(detail)) << detail;
    EXPECT_EQ(w.take_record(detail), bsky::mst::error::keys_out_of_order);
    EXPECT_EQ(detail, "key " + keys[0] + " follows " + keys[1] + " in the tree");
}

TEST(MstHostile, PrefixLongerThanThePreviousKey) {
    auto keys = keys_of_height(0, 2);
    auto [ec, detail] = expand_root(node({{keys[0]}, {keys[1], keys[0].size() + 1}}));
    EXPECT_EQ(ec, bsky::mst::error::bad_entry);
    EXPECT_NE(detail.find("prefix length " + std::to_string(keys[0].size() + 1) + " is impossible here"), std::string::npos)
        << detail;
    // The first entry has no previous key to share a prefix with.
    std::tie(ec, detail) = expand_root(node({{keys[0], 1}}));
    EXPECT_EQ(ec, bsky::mst::error::bad_entry);
    EXPECT_NE(detail.find("prefix length 1 is impossible here"), std::string::npos) << detail;
}

TEST(MstHostile, OversizedKeyAndNode) {
    // A key may be at most 1024 bytes (repo paths); 1025 is refused before it is hashed or kept.
    std::string long_key = "app.bsky.feed.post/" + std::string(1025 - 19, 'a');
    ASSERT_EQ(long_key.size(), 1025u);
    auto [ec, detail] = expand_root(node({{long_key}}));
    EXPECT_EQ(ec, bsky::mst::error::bad_key);
    EXPECT_NE(detail.find("empty or oversized key"), std::string::npos) << detail;
    // A node that claims more entries than its block could hold is refused before anything is reserved.
    bytes claims = {0xa1, 0x61, 'e', 0x9a, 0x00, 0x10, 0x00, 0x00};  // {e: [<1048576 entries>]} in 8 bytes
    std::tie(ec, detail) = expand_root(claims);
    EXPECT_EQ(ec, bsky::mst::error::bad_node);
    EXPECT_NE(detail.find("claims more entries than the block holds"), std::string::npos) << detail;
}

TEST(MstHostile, NodeOverTheBlockSizeLimit) {
    // Nodes are blocks: the repo reader refuses one over limits.max_block_bytes before decoding or storing it.
    auto keys = keys_of_height(0, 200);
    std::vector<entry> entries(keys.begin(), keys.end());
    auto big = node(entries);
    ASSERT_GT(big.size(), 4096u);
    bytes header;
    bsky::cbor::encoder h(header);
    h.map_header(2);
    h.text("roots");
    h.array_header(1);
    h.link(cid_of({0xa0}));  // the commit never comes: the node fails first
    h.text("version");
    h.unsigned_int(1);
    bytes car;
    auto section = [&](std::span<const std::uint8_t> id, const bytes& b) {
        std::uint8_t length[10];
        auto n = bsky::cid::write_varint(id.size() + b.size(), length);
        car.insert(car.end(), length, length + n);
        car.insert(car.end(), id.begin(), id.end());
        car.insert(car.end(), b.begin(), b.end());
    };
    section({}, header);
    auto header_size = car.size();
    section(cid_of(big).bytes(), big);

    struct : bsky::repo::record_sink {
        std::error_code on_record(const bsky::repo::record_view&) override { return {}; }
    } sink;
    bsky::repo::repo_reader reader(sink, {.max_block_bytes = 4096});
    auto ec = reader.put(car);
    EXPECT_EQ(ec, bsky::car::error::section_too_large);
    // The section's length varint is the first thing the limit sees.
    EXPECT_TRUE(reader.error_message().starts_with("offset " + std::to_string(header_size) + ": section claims "))
        << reader.error_message();
    EXPECT_TRUE(reader.error_message().ends_with("over the limit of " + std::to_string(4096 + bsky::cid::cid::max_size)))
        << reader.error_message();
}

}  // namespace
