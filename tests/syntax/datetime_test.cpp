// createdAt forms seen in real repos, and the pipeline timestamp format.
#include "syntax/datetime.hpp"

#include <gtest/gtest.h>

namespace {

using bsky::syntax::format_pipeline_timestamp;
using bsky::syntax::parse_created_at;
using bsky::syntax::parse_pipeline_timestamp;

std::string created(std::string_view text) {
    auto t = parse_created_at(text);
    return t ? format_pipeline_timestamp(*t) : "invalid";
}

struct created_case {
    const char* input;
    const char* expected;
};

class CreatedAtForms : public ::testing::TestWithParam<created_case> {};

TEST_P(CreatedAtForms, ParsesToPipelineFormat) {
    EXPECT_EQ(created(GetParam().input), GetParam().expected) << GetParam().input;
}

INSTANTIATE_TEST_SUITE_P(RealWorld, CreatedAtForms, ::testing::Values(
    created_case{"2024-10-01T12:34:56.789Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.7Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.123456Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.1234567Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.123456789Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.1234567890123Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.000+00:00", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56+00:00", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.000-07:00", "2024-10-01-19:34:56"},
    created_case{"2024-10-01T01:00:00+09:00", "2024-09-30-16:00:00"},
    created_case{"2024-10-01T12:34:56+0530", "2024-10-01-07:04:56"},
    created_case{"2024-10-01T12:34:56+05", "2024-10-01-07:34:56"},
    created_case{"2024-10-01T12:34:56", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34:56.123", "2024-10-01-12:34:56"},
    created_case{"2024-10-01 12:34:56Z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01t12:34:56z", "2024-10-01-12:34:56"},
    created_case{"2024-10-01T12:34Z", "2024-10-01-12:34:00"},
    created_case{"2024-10-01", "2024-10-01-00:00:00"},
    created_case{"2024-02-29T23:59:59Z", "2024-02-29-23:59:59"},
    created_case{"2023-02-29T00:00:00Z", "invalid"},
    created_case{"2024-12-31T24:00:00Z", "2025-01-01-00:00:00"},
    created_case{"2024-12-31T24:00:01Z", "invalid"},
    created_case{"2016-12-31T23:59:60Z", "2016-12-31-23:59:59"},
    created_case{"2024-12-31T23:30:00-01:00", "2025-01-01-00:30:00"},
    created_case{"0001-01-01T00:00:00Z", "0001-01-01-00:00:00"},
    created_case{"9999-12-31T23:59:59Z", "9999-12-31-23:59:59"},
    created_case{"1970-01-01T00:00:00.000Z", "1970-01-01-00:00:00"},
    created_case{" 2024-10-01T12:34:56Z ", "2024-10-01-12:34:56"},
    created_case{"", "invalid"},
    created_case{"yesterday", "invalid"},
    created_case{"2024-13-01T00:00:00Z", "invalid"},
    created_case{"2024-10-32T00:00:00Z", "invalid"},
    created_case{"2024-10-01T25:00:00Z", "invalid"},
    created_case{"2024-10-01T12:60:00Z", "invalid"},
    created_case{"2024-10-01T12:34:56ZZ", "invalid"},
    created_case{"2024-10-01T12:34:56.Z", "invalid"},
    created_case{"+002024-10-01T12:34:56Z", "invalid"},
    created_case{"1728000000", "invalid"},
    created_case{"0000-01-01T00:00:00+01:00", "invalid"}));

TEST(PipelineTimestamp, RoundTrips) {
    auto t = parse_pipeline_timestamp("2024-09-27-00:00:00");
    ASSERT_TRUE(t);
    EXPECT_EQ(format_pipeline_timestamp(*t), "2024-09-27-00:00:00");
    EXPECT_FALSE(parse_pipeline_timestamp("2024-09-27T00:00:00"));
    EXPECT_FALSE(parse_pipeline_timestamp("2024-09-27-00:00"));
    EXPECT_FALSE(parse_pipeline_timestamp("2024-02-30-00:00:00"));
    EXPECT_FALSE(parse_pipeline_timestamp("2024-09-27-00:00:00 "));
}

TEST(PipelineTimestamp, FormatsEveryFieldAndTheYearEnds) {
    for (std::string_view text : {"0000-01-01-00:00:00", "0007-03-04-05:06:07", "1999-12-31-23:59:59", "9999-12-31-23:59:59"}) {
        auto t = parse_pipeline_timestamp(text);
        ASSERT_TRUE(t) << text;
        EXPECT_EQ(format_pipeline_timestamp(*t), text);
    }
    // The default synctimestamp of a late December 9999 record is in year 10000.
    auto last = parse_pipeline_timestamp("9999-12-31-23:59:59");
    ASSERT_TRUE(last);
    EXPECT_EQ(format_pipeline_timestamp(*last + std::chrono::seconds(1)), "10000-01-01-00:00:00");
}

}  // namespace
