#include "crypto/sha256.hpp"
#include "repo/block_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using namespace bsky;

cid::cid cid_of(const std::vector<std::uint8_t>& bytes) {
    return cid::cid::make_v1_sha256(cid::codec_dag_cbor, crypto::sha256(bytes));
}

TEST(BlockStore, MemoryThenSpillFile) {
    repo::block_store store(1000, ::testing::TempDir());
    std::vector<std::vector<std::uint8_t>> blocks;
    for (int i = 0; i < 5000; ++i) {
        std::vector<std::uint8_t> b(static_cast<std::size_t>(1 + i % 300), static_cast<std::uint8_t>(i));
        b[0] = static_cast<std::uint8_t>(i >> 8);
        blocks.push_back(b);
    }
    std::error_code ec;
    std::size_t stored = 0;
    for (const auto& b : blocks) stored += store.put(cid_of(b), b, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(store.count(), stored);
    EXPECT_LE(store.memory_bytes(), 1000u);
    EXPECT_GT(store.spilled_bytes(), 0u);
    std::vector<std::uint8_t> scratch;
    for (const auto& b : blocks) {
        std::span<const std::uint8_t> got;
        ASSERT_TRUE(store.get(cid_of(b), got, scratch, ec));
        ASSERT_FALSE(ec);
        ASSERT_EQ(std::vector<std::uint8_t>(got.begin(), got.end()), b);
    }
    EXPECT_FALSE(store.put(cid_of(blocks[0]), blocks[0], ec)) << "duplicates are stored once";
    std::vector<std::uint8_t> absent = {1, 2, 3, 4, 5, 6, 7};
    EXPECT_FALSE(store.contains(cid_of(absent)));
    std::span<const std::uint8_t> none;
    EXPECT_FALSE(store.get(cid_of(absent), none, scratch, ec));
    // The index stays small: 8 bytes a slot.
    EXPECT_LE(store.index_bytes(), 8192u * 8);
}

TEST(BlockStore, LargeSpilledBlocksAndGrowthFromATinyIndex) {
    // Blocks longer than the first read of a spilled block, the index grown
    // many times from its smallest size while most blocks are on disk.
    repo::block_store store(4096, ::testing::TempDir());
    std::vector<std::vector<std::uint8_t>> blocks;
    for (int i = 0; i < 3000; ++i) {
        std::vector<std::uint8_t> b(static_cast<std::size_t>((i * 37) % 3000), static_cast<std::uint8_t>(i * 7));
        b.insert(b.begin(), {static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)});
        blocks.push_back(std::move(b));
    }
    std::error_code ec;
    for (const auto& b : blocks) ASSERT_TRUE(store.put(cid_of(b), b, ec)) << ec.message();
    EXPECT_EQ(store.count(), blocks.size());
    EXPECT_GT(store.spilled_bytes(), 0u);
    std::vector<std::uint8_t> scratch;
    for (std::size_t i = blocks.size(); i-- > 0;) {
        std::span<const std::uint8_t> got;
        ASSERT_TRUE(store.get(cid_of(blocks[i]), got, scratch, ec)) << i;
        ASSERT_FALSE(ec);
        ASSERT_EQ(std::vector<std::uint8_t>(got.begin(), got.end()), blocks[i]) << i;
        EXPECT_FALSE(store.put(cid_of(blocks[i]), blocks[i], ec)) << "a duplicate, spilled or not";
    }
}

TEST(BlockStore, SpilledBlocksReadBackWhileBufferedFlushedOrWrittenDirectly) {
    // Spilled blocks pass through a 1 MiB write buffer: read every earlier
    // block after each put, so reads come from the buffer, from the file and
    // across the boundary between them; two blocks exceed the buffer and go
    // straight to the file between buffered ones.
    repo::block_store store(2048, ::testing::TempDir());
    std::vector<std::vector<std::uint8_t>> blocks;
    for (int i = 0; i < 1200; ++i) {
        std::size_t size = i == 700 || i == 701 ? (3u << 19) + static_cast<std::size_t>(i) : 200 + static_cast<std::size_t>(i * 53 % 2500);
        std::vector<std::uint8_t> b(size, static_cast<std::uint8_t>(i * 13));
        b[0] = static_cast<std::uint8_t>(i);
        b[1] = static_cast<std::uint8_t>(i >> 8);
        blocks.push_back(std::move(b));
    }
    std::error_code ec;
    std::vector<std::uint8_t> scratch;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        ASSERT_TRUE(store.put(cid_of(blocks[i]), blocks[i], ec)) << ec.message();
        for (std::size_t j = i % 7; j <= i; j += 7) {
            std::span<const std::uint8_t> got;
            ASSERT_TRUE(store.get(cid_of(blocks[j]), got, scratch, ec)) << j << " after " << i;
            ASSERT_FALSE(ec) << ec.message();
            ASSERT_TRUE(std::equal(got.begin(), got.end(), blocks[j].begin(), blocks[j].end())) << j << " after " << i;
        }
    }
    EXPECT_GT(store.spilled_bytes(), 4u << 20);
    for (const auto& b : blocks) EXPECT_FALSE(store.put(cid_of(b), b, ec)) << "a duplicate, wherever it is";
}

// Walks of real repos read spilled blocks in runs, mostly backwards: runs
// are served from a read-back window, scattered reads one block at a time,
// and every order gives the right bytes, blocks longer than what a window
// holds of them included.
TEST(BlockStore, SpilledReadsInRunsUseTheWindowAndAnyOrderReadsRight) {
    repo::block_store store(1024, ::testing::TempDir());
    std::vector<std::vector<std::uint8_t>> blocks;
    for (int i = 0; i < 4000; ++i) {
        std::size_t size = i % 500 == 7 ? 70000 + static_cast<std::size_t>(i) : i % 50 == 3 ? 3000 : 150 + static_cast<std::size_t>(i % 200);
        std::vector<std::uint8_t> b(size, static_cast<std::uint8_t>(i * 29));
        b[0] = static_cast<std::uint8_t>(i);
        b[1] = static_cast<std::uint8_t>(i >> 8);
        blocks.push_back(std::move(b));
    }
    std::error_code ec;
    for (const auto& b : blocks) ASSERT_TRUE(store.put(cid_of(b), b, ec)) << ec.message();
    ASSERT_GT(store.spilled_bytes(), 1u << 20) << "most of it is in the file, past the write buffer";

    std::vector<std::uint8_t> scratch;
    auto read_in = [&](const std::vector<std::size_t>& order) {
        auto before = store.spill_file_reads();
        for (auto i : order) {
            std::span<const std::uint8_t> got;
            EXPECT_TRUE(store.get(cid_of(blocks[i]), got, scratch, ec)) << i;
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_TRUE(std::equal(got.begin(), got.end(), blocks[i].begin(), blocks[i].end())) << i;
        }
        return store.spill_file_reads() - before;
    };
    std::vector<std::size_t> backwards, forwards, scattered;
    for (std::size_t i = blocks.size(); i-- > 0;) backwards.push_back(i);
    for (std::size_t i = 0; i < blocks.size(); ++i) forwards.push_back(i);
    for (std::size_t i = 0; i < blocks.size(); ++i) scattered.push_back(i * 2654435761u % blocks.size());
    EXPECT_LT(read_in(backwards), blocks.size() / 4);
    EXPECT_LT(read_in(forwards), blocks.size() / 4);
    read_in(scattered);
}

TEST(BlockStore, EmptyBlockIsStored) {
    repo::block_store store(1 << 20);
    std::vector<std::uint8_t> empty;
    std::error_code ec;
    EXPECT_TRUE(store.put(cid_of(empty), empty, ec));
    EXPECT_TRUE(store.contains(cid_of(empty)));
}

}  // namespace
