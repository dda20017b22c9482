// Record type and synctimestamp rules (SPEC §2.5).
#include "backfill/classify.hpp"
#include "cbor/decoder.hpp"
#include "support/fixtures.hpp"
#include "syntax/datetime.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace {

using namespace bsky;

struct decoded {
    std::vector<std::uint8_t> bytes;
    cbor::document doc;
};

std::unique_ptr<decoded> from_json(const char* json) {
    auto d = std::make_unique<decoded>();
    d->bytes = test::json_to_dag_cbor(boost::json::parse(json), test::link_style::atproto);
    EXPECT_FALSE(cbor::decode(d->bytes, d->doc));
    return d;
}

std::string sync_of(const char* created_at, const char* start = "2024-09-27-00:00:00", const char* end = "2024-12-02-00:00:00") {
    auto d = from_json((std::string("{\"createdAt\":\"") + created_at + "\"}").c_str());
    backfill::time_range range{*syntax::parse_pipeline_timestamp(start), *syntax::parse_pipeline_timestamp(end)};
    auto s = backfill::compute_synctimestamp(d->doc.root()["createdAt"], range);
    return s.value ? std::string(s.value->view()) : "invalid: " + s.invalid_reason;
}

std::string type_of(const char* collection, const char* json) {
    auto d = from_json(json);
    auto kind = backfill::record_type(collection, d->doc.root());
    return kind.invalid_reason.empty() ? kind.type : "invalid: " + kind.invalid_reason;
}

TEST(IdentifyRecordType, LastSegmentOfTheCollection) {
    EXPECT_EQ(type_of("app.bsky.feed.like", R"({"$type":"app.bsky.feed.like","createdAt":"2024-10-01T00:00:00Z"})"), "like");
    EXPECT_EQ(type_of("app.bsky.graph.follow", R"({"$type":"app.bsky.graph.follow"})"), "follow");
    EXPECT_EQ(type_of("com.example.thing", R"({"text":"x"})"), "thing");
}

TEST(IdentifyPostType, ReplyFieldMakesAReply) {
    EXPECT_EQ(type_of("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"hi"})"), "post");
    EXPECT_EQ(type_of("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"hi","reply":{"root":{},"parent":{}}})"),
              "reply");
    EXPECT_EQ(type_of("app.bsky.feed.post", R"({"text":"hi","reply":{}})"), "reply");
}

TEST(IdentifyRecordType, TypeThatDisagreesWithTheCollectionIsInvalid) {
    // The record's own $type chose the file name once: "/tmp/evil" escaped the output directory.
    EXPECT_EQ(type_of("app.bsky.feed.like", R"({"$type":"x./tmp/evil"})"),
              "invalid: $type 'x./tmp/evil' does not match its collection app.bsky.feed.like");
    EXPECT_EQ(type_of("app.bsky.feed.like", R"({"$type":"app.bsky.feed.post"})"),
              "invalid: $type 'app.bsky.feed.post' does not match its collection app.bsky.feed.like");
    EXPECT_EQ(type_of("app.bsky.feed.like", R"({"$type":"x.evil type\n"})"),
              "invalid: $type 'x.evil type?' does not match its collection app.bsky.feed.like");
    EXPECT_EQ(type_of("app.bsky.feed.like", R"({"$type":7})"), "invalid: $type is not a string");
    // A reply is still a reply, and still has to be a post.
    EXPECT_EQ(type_of("app.bsky.feed.post", R"({"$type":"app.bsky.feed.like","reply":{}})"),
              "invalid: $type 'app.bsky.feed.like' does not match its collection app.bsky.feed.post");
    // The type is still known, so a record of an unwanted collection counts as skipped, not invalid.
    auto d = from_json(R"({"$type":"x./tmp/evil"})");
    EXPECT_EQ(backfill::record_type("app.bsky.feed.like", d->doc.root()).type, "like");
}

TEST(IdentifyRecordType, CollectionThatIsNotAnNsidIsInvalid) {
    EXPECT_EQ(type_of("x./tmp/evil", R"({"$type":"x./tmp/evil"})"), "invalid: collection 'x./tmp/evil' is not an NSID");
    EXPECT_EQ(type_of("like", R"({})"), "invalid: collection 'like' is not an NSID");
    auto d = from_json(R"({})");
    EXPECT_EQ(backfill::record_type("a.b.c-d", d->doc.root()).type, "");
}

TEST(AssignDefaultBackfillSynctimestamp, Rules) {
    EXPECT_EQ(sync_of("2024-10-05T10:00:00Z"), "2024-10-05-10:00:00");       // inside
    EXPECT_EQ(sync_of("2024-09-27T00:00:00Z"), "2024-09-27-00:00:00");       // start is inclusive
    EXPECT_EQ(sync_of("2024-12-02T00:00:00Z"), "2024-12-02-00:00:00");       // end is inclusive
    EXPECT_EQ(sync_of("2024-12-02T00:00:01Z"), "2024-12-15-00:00:00");       // day 2 -> 15th
    EXPECT_EQ(sync_of("2024-09-26T23:59:59Z"), "2024-10-01-00:00:00");       // day 26 -> 1st of next month
    EXPECT_EQ(sync_of("2023-12-20T08:00:00Z"), "2024-01-01-00:00:00");       // December -> next January
    EXPECT_EQ(sync_of("2023-12-15T23:59:59Z"), "2023-12-15-00:00:00");       // day 15 stays in the month
    EXPECT_EQ(sync_of("2023-12-16T00:00:00Z"), "2024-01-01-00:00:00");
    EXPECT_EQ(sync_of("2020-02-29T12:00:00Z"), "2020-03-01-00:00:00");
    EXPECT_EQ(sync_of("not a date"), "invalid: unparseable createdAt 'not a date'");
}

}  // namespace
