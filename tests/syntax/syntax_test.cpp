// The atproto interop syntax vectors, read from the files as they are.
#include "support/fixtures.hpp"
#include "syntax/syntax.hpp"

#include <gtest/gtest.h>

namespace {

using check_fn = bool (*)(std::string_view) noexcept;

struct vector_case {
    const char* name;
    check_fn check;
};

class SyntaxVectors : public ::testing::TestWithParam<vector_case> {};

TEST_P(SyntaxVectors, ValidAccepted) {
    auto [name, check] = GetParam();
    auto lines = bsky::test::vector_lines(bsky::test::fixture(std::string("interop/syntax/") + name + "_syntax_valid.txt"));
    ASSERT_FALSE(lines.empty());
    for (const auto& line : lines) EXPECT_TRUE(check(line)) << name << " should accept: '" << line << "'";
}

TEST_P(SyntaxVectors, InvalidRejected) {
    auto [name, check] = GetParam();
    auto lines = bsky::test::vector_lines(bsky::test::fixture(std::string("interop/syntax/") + name + "_syntax_invalid.txt"));
    ASSERT_FALSE(lines.empty());
    for (const auto& line : lines) EXPECT_FALSE(check(line)) << name << " should reject: '" << line << "'";
}

INSTANTIATE_TEST_SUITE_P(Interop, SyntaxVectors,
                         ::testing::Values(vector_case{"did", bsky::syntax::is_did}, vector_case{"handle", bsky::syntax::is_handle},
                                           vector_case{"nsid", bsky::syntax::is_nsid},
                                           vector_case{"recordkey", bsky::syntax::is_record_key},
                                           vector_case{"tid", bsky::syntax::is_tid}, vector_case{"aturi", bsky::syntax::is_at_uri},
                                           vector_case{"datetime", bsky::syntax::is_datetime},
                                           vector_case{"atidentifier", bsky::syntax::is_at_identifier},
                                           vector_case{"cid", bsky::syntax::is_cid_syntax}),
                         [](const ::testing::TestParamInfo<vector_case>& p) { return std::string(p.param.name); });

TEST(Syntax, DatetimeParseInvalidVectorsRejected) {
    for (const auto& line : bsky::test::vector_lines(bsky::test::fixture("interop/syntax/datetime_parse_invalid.txt")))
        EXPECT_FALSE(bsky::syntax::is_datetime(line)) << line;
}

TEST(Syntax, SupportedDids) {
    EXPECT_TRUE(bsky::syntax::is_did_plc("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
    EXPECT_FALSE(bsky::syntax::is_did_plc("did:plc:ewvi7nxzyoun6zhxrhs64oi"));   // 23 chars
    EXPECT_FALSE(bsky::syntax::is_did_plc("did:plc:ewvi7nxzyoun6zhxrhs64oiz1"));  // 25 chars, and '1' is not base32
    EXPECT_FALSE(bsky::syntax::is_did_plc("did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ"));
    EXPECT_TRUE(bsky::syntax::is_did_web("did:web:discover.bsky.social"));
    EXPECT_TRUE(bsky::syntax::is_did_web("did:web:localhost%3A8080"));
    EXPECT_FALSE(bsky::syntax::is_did_web("did:web:example.com:path"));
    EXPECT_FALSE(bsky::syntax::is_did_web("did:web:localhost%3Aabc"));
    EXPECT_FALSE(bsky::syntax::is_supported_did("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"));
}

TEST(Syntax, RepoPaths) {
    EXPECT_TRUE(bsky::syntax::is_repo_path("app.bsky.feed.post/3jzfcijpj2z2a"));
    EXPECT_TRUE(bsky::syntax::is_repo_path("app.bsky.actor.profile/self"));
    EXPECT_FALSE(bsky::syntax::is_repo_path("app.bsky.feed.post"));
    EXPECT_FALSE(bsky::syntax::is_repo_path("app.bsky.feed.post/"));
    EXPECT_FALSE(bsky::syntax::is_repo_path("app.bsky.feed.post/a/b"));
}

TEST(Syntax, OutputNamesAreLettersAndDigits) {
    for (auto ok : {"post", "like", "threadgate", "listItem", "a", "v2"})
        EXPECT_TRUE(bsky::syntax::is_output_name(ok)) << ok;
    for (auto bad : {"", "/tmp/evil", "..", ".", "a.b", "a b", "a\nb", "a-b", "a_b", "2post", "post/", "caf\xc3\xa9"})
        EXPECT_FALSE(bsky::syntax::is_output_name(bad)) << bad;
    EXPECT_FALSE(bsky::syntax::is_output_name(std::string("a\0b", 3)));
    EXPECT_TRUE(bsky::syntax::is_output_name(std::string(63, 'x')));
    EXPECT_FALSE(bsky::syntax::is_output_name(std::string(64, 'x')));
}

}  // namespace
