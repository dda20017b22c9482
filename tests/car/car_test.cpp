// The incremental CAR reader on real files, malformed files and fuzz
// regressions, fed in every chunk size.
#include "car/reader.hpp"
#include "cid/multibase.hpp"
#include "support/fixtures.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace {

using namespace bsky;
namespace fs = std::filesystem;

struct recorder final : car::handler {
    std::vector<cid::cid> roots;
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> blocks;
    int fail_at = -1;
    std::error_code on_header(std::span<const cid::cid> r) override {
        roots.assign(r.begin(), r.end());
        return {};
    }
    std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> bytes, std::uint64_t) override {
        if (static_cast<int>(blocks.size()) == fail_at) return std::make_error_code(std::errc::operation_canceled);
        blocks.emplace_back(id.to_string(), std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        return {};
    }
};

std::error_code feed(const std::vector<std::uint8_t>& bytes, std::size_t chunk, recorder& rec) {
    car::reader reader(rec);
    std::error_code ec;
    for (std::size_t pos = 0; pos < bytes.size() && !ec; pos += chunk)
        reader.put({bytes.data() + pos, std::min(chunk, bytes.size() - pos)}, ec);
    if (!ec) ec = reader.finish();
    return ec;
}

struct real_car {
    const char* file;
    std::size_t blocks;
};

// Block counts from fixtures/cars/INDEX.md.
const real_car real_cars[] = {
    {"repo-stream__empty.car", 2},         {"dnproto__msttest-01-new.car", 2},
    {"dnproto__msttest-03-setprofile.car", 3}, {"dnproto__msttest-04-firstpost.car", 5},
    {"dnproto__msttest-05-firstlike.car", 6}, {"dnproto__msttest-06-reply.car", 7},
    {"indigo__greenground.repo.car", 4},   {"arroba__snarfed2.car", 8},
    {"rsky__valid_repo.car", 12},          {"repo-stream__tiny.car", 12},
    {"php-car__repo.car", 117},            {"repo-stream__little.car", 375},
    {"indigo__greenground.repo.2023-04-v2.car", 188}, {"indigo__paul_staging.repo.car", 458},
    {"indigo__bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car", 10},
    {"indigo__repo_slice.car", 5},
};

TEST(CarReader, RealFilesInEveryChunkSize) {
    for (const auto& c : real_cars) {
        SCOPED_TRACE(c.file);
        auto bytes = test::read_bytes(test::fixture(std::string("cars/") + c.file));
        recorder whole;
        ASSERT_FALSE(feed(bytes, bytes.size(), whole));
        EXPECT_EQ(whole.blocks.size(), c.blocks);
        ASSERT_EQ(whole.roots.size(), 1u);
        std::vector<std::size_t> chunks = {1, 2, 3, 7, 64, 1000, 4096};
        if (bytes.size() < 4000)
            for (std::size_t i = 4; i < 64; ++i) chunks.push_back(i);
        for (auto chunk : chunks) {
            recorder rec;
            ASSERT_FALSE(feed(bytes, chunk, rec)) << "chunk " << chunk;
            EXPECT_EQ(rec.blocks, whole.blocks) << "chunk " << chunk;
            EXPECT_EQ(rec.roots, whole.roots);
        }
    }
}

TEST(CarReader, EverySplitPointOfSmallFiles) {
    for (auto file : {"arroba__snarfed2.car", "rsky__valid_repo.car", "repo-stream__tiny.car"}) {
        auto bytes = test::read_bytes(test::fixture(std::string("cars/") + file));
        recorder whole;
        ASSERT_FALSE(feed(bytes, bytes.size(), whole));
        for (std::size_t split = 0; split <= bytes.size(); ++split) {
            recorder rec;
            car::reader reader(rec);
            std::error_code ec;
            reader.put({bytes.data(), split}, ec);
            ASSERT_FALSE(ec) << file << " split " << split;
            reader.put({bytes.data() + split, bytes.size() - split}, ec);
            ASSERT_FALSE(ec) << file << " split " << split;
            ASSERT_FALSE(reader.finish());
            EXPECT_EQ(rec.blocks, whole.blocks) << file << " split " << split;
        }
    }
}

TEST(CarReader, EveryTruncationIsReported) {
    auto bytes = test::read_bytes(test::fixture("cars/arroba__snarfed2.car"));
    recorder whole;
    ASSERT_FALSE(feed(bytes, bytes.size(), whole));
    std::size_t clean_ends = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        recorder rec;
        car::reader reader(rec);
        std::error_code ec;
        reader.put({bytes.data(), n}, ec);
        ASSERT_FALSE(ec);
        auto end = reader.finish();
        // Only a cut exactly between sections is a well-formed (shorter) CAR.
        if (!end) {
            ++clean_ends;
            EXPECT_LT(rec.blocks.size(), whole.blocks.size());
        } else {
            EXPECT_EQ(end, car::error::truncated) << n;
        }
    }
    EXPECT_EQ(clean_ends, whole.blocks.size());  // after the header and after each block but the last
}

TEST(CarReader, HashMismatchNamesTheOffset) {
    auto bytes = test::read_bytes(test::fixture("cars/repo-stream__tiny.car"));
    bytes[bytes.size() - 5] ^= 0x01;
    recorder rec;
    car::reader reader(rec);
    std::error_code ec;
    reader.put(bytes, ec);
    EXPECT_EQ(ec, car::error::hash_mismatch);
    EXPECT_GT(reader.error_offset(), 0u);
    EXPECT_LT(reader.error_offset(), bytes.size());
    EXPECT_NE(reader.error_detail().find("not to their CID"), std::string::npos) << reader.error_detail();
    // Errors stick.
    reader.put(bytes, ec);
    EXPECT_EQ(ec, car::error::hash_mismatch);
}

TEST(CarReader, MalformedFilesAreRejected) {
    struct bad {
        const char* file;
        car::error expected;
    };
    const bad cases[] = {
        {"malformed/go-car__badheaderlength.car", car::error::header_too_large},
        {"malformed/go-car__badsectionlength.car", car::error::section_too_large},
        {"malformed/go-car__sample-corrupt-pragma.car", car::error::truncated},
        {"malformed/go-car__sample-rootless-v42.car", car::error::unsupported_version},
        {"malformed/go-car__sample-v1-tailing-corrupt-section.car", car::error::unsupported_cid},
        {"malformed/go-car__sample-v1-with-zero-len-section.car", car::error::unsupported_cid},
        {"malformed/go-car__simple-unixfs-missing-blocks.car", car::error::unsupported_cid},
        {"generic/go-car__sample-unixfs-v2.car", car::error::unsupported_version},
    };
    for (const auto& c : cases) {
        auto bytes = test::read_bytes(test::fixture(std::string("cars/") + c.file));
        recorder rec;
        EXPECT_EQ(feed(bytes, 1, rec), c.expected) << c.file;
        recorder rec2;
        EXPECT_EQ(feed(bytes, bytes.size(), rec2), c.expected) << c.file;
    }
}

TEST(CarReader, HashChecksCanBeTurnedOffForGenericCars) {
    // Without the sha2-256 rule, go-car's sample parses up to its corrupt tail.
    auto bytes = test::read_bytes(test::fixture("cars/malformed/go-car__sample-v1-tailing-corrupt-section.car"));
    recorder rec;
    car::reader reader(rec, {.verify_hashes = false});
    std::error_code ec;
    reader.put(bytes, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(reader.finish(), car::error::truncated);
    EXPECT_EQ(rec.blocks.size(), 1048u);

    auto zero = test::read_bytes(test::fixture("cars/malformed/go-car__sample-v1-with-zero-len-section2.car"));
    recorder rec2;
    car::reader reader2(rec2, {.verify_hashes = false});
    reader2.put(zero, ec);
    EXPECT_EQ(ec, car::error::zero_length_section);
    EXPECT_EQ(rec2.blocks.size(), 20u);
}

TEST(CarReader, FuzzRegressionsDoNotCrash) {
    int seen = 0;
    for (const auto& f : fs::directory_iterator(test::fixture("cars/malformed/go-car-fuzz"))) {
        if (f.path().extension() != ".bin") continue;
        ++seen;
        auto bytes = test::read_bytes(f.path());
        recorder rec;
        EXPECT_TRUE(feed(bytes, 1, rec)) << f.path().filename();
        recorder rec2;
        EXPECT_TRUE(feed(bytes, bytes.size(), rec2)) << f.path().filename();
    }
    EXPECT_GE(seen, 5);
}

TEST(CarReader, TwoRootsAndMixedCodecs) {
    auto bytes = test::read_bytes(test::fixture("cars/generic/laravel-bluesky__carv1-basic.car"));
    recorder rec;
    car::reader reader(rec, {.verify_hashes = false});
    std::error_code ec;
    reader.put(bytes, ec);
    ASSERT_FALSE(ec) << reader.error_detail();
    ASSERT_FALSE(reader.finish());
    EXPECT_EQ(rec.roots.size(), 2u);
    EXPECT_EQ(rec.blocks.size(), 8u);
}

TEST(CarReader, AtprotoWriterVector) {
    auto vectors = test::read_json(test::fixture("cars/atproto__car-file-fixtures.json"));
    for (const auto& v : vectors.as_array()) {
        auto car_bytes = *cid::base64_decode(v.at("car").as_string());
        recorder rec;
        ASSERT_FALSE(feed(car_bytes, 3, rec));
        ASSERT_EQ(rec.roots.size(), 1u);
        EXPECT_EQ(rec.roots[0].to_string(), v.at("root").as_string());
        const auto& blocks = v.at("blocks").as_array();
        ASSERT_EQ(rec.blocks.size(), blocks.size());
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            EXPECT_EQ(rec.blocks[i].first, blocks[i].at("cid").as_string());
            EXPECT_EQ(rec.blocks[i].second, *cid::base64_decode(blocks[i].at("bytes").as_string()));
        }
    }
}

TEST(CarReader, HandlerErrorStopsAtTheNthBlock) {
    auto bytes = test::read_bytes(test::fixture("cars/php-car__repo.car"));
    for (int n : {0, 1, 50, 116}) {
        recorder rec;
        rec.fail_at = n;
        EXPECT_EQ(feed(bytes, 777, rec), std::errc::operation_canceled);
        EXPECT_EQ(rec.blocks.size(), static_cast<std::size_t>(n));
    }
}

TEST(CarReader, TotalSizeLimit) {
    auto bytes = test::read_bytes(test::fixture("cars/php-car__repo.car"));
    recorder rec;
    car::reader reader(rec, {.max_total_bytes = 10000});
    std::error_code ec;
    for (std::size_t pos = 0; pos < bytes.size() && !ec; pos += 4096)
        reader.put({bytes.data() + pos, std::min<std::size_t>(4096, bytes.size() - pos)}, ec);
    EXPECT_EQ(ec, car::error::too_large);
}

}  // namespace
