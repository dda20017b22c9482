#include "log/log.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

TEST(Logger, FiltersByLevelAndFormats) {
    std::vector<std::pair<bsky::log::level, std::string>> seen;
    bsky::log::logger logger([&](bsky::log::level l, std::string_view m) { seen.emplace_back(l, std::string(m)); },
                             bsky::log::level::info);
    logger.debug("hidden {}", 1);
    logger.info("did {} done with {} records", "did:plc:abc", 3);
    logger.set_level(bsky::log::level::error);
    logger.warn("hidden too");
    logger.error("boom");
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].second, "did did:plc:abc done with 3 records");
    EXPECT_EQ(seen[1].first, bsky::log::level::error);
}

TEST(Logger, ParsesLevelNames) {
    bsky::log::level l{};
    EXPECT_TRUE(bsky::log::parse_level("warning", l));
    EXPECT_EQ(l, bsky::log::level::warn);
    EXPECT_TRUE(bsky::log::parse_level("off", l));
    EXPECT_FALSE(bsky::log::parse_level("verbose", l));
    EXPECT_EQ(bsky::log::to_string(bsky::log::level::critical), "critical");
}

}  // namespace
