// The pipeline and raw record formats (SPEC §6).
#include "backfill/classify.hpp"
#include "backfill/transform.hpp"
#include "cbor/decoder.hpp"
#include "support/fixtures.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace {

using namespace bsky;

boost::json::object pipeline_of(const char* json, const char* collection) {
    auto bytes = test::json_to_dag_cbor(boost::json::parse(json), test::link_style::atproto);
    cbor::document doc;
    EXPECT_FALSE(cbor::decode(bytes, doc));
    auto kind = backfill::record_type(collection, doc.root());
    EXPECT_EQ(kind.invalid_reason, "");
    auto type = kind.type;
    backfill::record_meta meta{"at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/x/3k", "bafyx", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
                               collection, "3k", type, std::string_view("2024-10-01-00:00:00"), "3lrev"};
    std::string out;
    backfill::write_pipeline_record(doc.root(), meta, out);
    return boost::json::parse(out).as_object();
}

TEST(TransformBackfilledRecord, Post) {
    auto p = pipeline_of(R"({"$type":"app.bsky.feed.post","text":"hi","createdAt":"2024-10-01T00:00:00Z","langs":["en","de"],
        "facets":[{"index":{"byteStart":0,"byteEnd":2},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"x"}]}],
        "embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{"$type":"blob","ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"mimeType":"image/jpeg","size":5}}]}})",
                         "app.bsky.feed.post");
    EXPECT_EQ(p.at("record_type"), "post");
    EXPECT_EQ(p.at("text"), "hi");
    EXPECT_EQ(p.at("langs"), "en,de");
    EXPECT_TRUE(p.at("tags").is_null());
    EXPECT_TRUE(p.at("entities").is_null());
    ASSERT_TRUE(p.at("facets").is_string());
    EXPECT_EQ(boost::json::parse(p.at("facets").as_string()).as_array()[0].at("index").at("byteEnd"), 2);
    ASSERT_TRUE(p.at("embed").is_string());
    auto embed = boost::json::parse(p.at("embed").as_string());
    EXPECT_EQ(embed.at("images").as_array()[0].at("image").at("ref").at("$link"),
              "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity");
    EXPECT_EQ(p.at("synctimestamp"), "2024-10-01-00:00:00");
    EXPECT_EQ(p.at("uri"), "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/x/3k");
    EXPECT_EQ(p.at("cid"), "bafyx");
    EXPECT_EQ(p.at("author"), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT_EQ(p.at("$type"), "app.bsky.feed.post");
}

TEST(TransformBackfilledRecord, ReplyKeepsItsReplyAsJsonString) {
    auto p = pipeline_of(R"({"$type":"app.bsky.feed.post","text":"re","createdAt":"2024-10-01T00:00:00Z","tags":["a","b"],
        "reply":{"root":{"uri":"at://did:plc:r/app.bsky.feed.post/1","cid":"bafyr"},"parent":{"uri":"at://did:plc:p/app.bsky.feed.post/2","cid":"bafyp"}}})",
                         "app.bsky.feed.post");
    EXPECT_EQ(p.at("record_type"), "reply");
    ASSERT_TRUE(p.at("reply").is_string());
    EXPECT_EQ(boost::json::parse(p.at("reply").as_string()).at("parent").at("cid"), "bafyp");
    EXPECT_EQ(p.at("tags"), "a,b");
    EXPECT_TRUE(p.at("langs").is_null());
    EXPECT_TRUE(p.at("embed").is_null());
}

TEST(TransformBackfilledRecord, LikeAndRepostSubjectsAreJsonStrings) {
    for (auto [json, collection, type] :
         {std::tuple{R"({"$type":"app.bsky.feed.like","subject":{"uri":"at://did:plc:x/app.bsky.feed.post/1","cid":"bafyz"},"createdAt":"2024-10-01T00:00:00Z"})",
                     "app.bsky.feed.like", "like"},
          std::tuple{R"({"$type":"app.bsky.feed.repost","subject":{"uri":"at://did:plc:x/app.bsky.feed.post/1","cid":"bafyz"},"createdAt":"2024-10-01T00:00:00Z"})",
                     "app.bsky.feed.repost", "repost"}}) {
        auto p = pipeline_of(json, collection);
        EXPECT_EQ(p.at("record_type"), type);
        ASSERT_TRUE(p.at("subject").is_string());
        EXPECT_EQ(boost::json::parse(p.at("subject").as_string()).at("cid"), "bafyz");
        EXPECT_FALSE(p.contains("embed")) << "post fields only on posts";
    }
}

TEST(TransformBackfilledRecord, FollowAndBlockSubjectStaysTheDid) {
    for (auto [json, collection] :
         {std::pair{R"({"$type":"app.bsky.graph.follow","subject":"did:plc:bbbbbbbbbbbbbbbbbbbbbbbb","createdAt":"2024-10-01T00:00:00Z"})",
                    "app.bsky.graph.follow"},
          std::pair{R"({"$type":"app.bsky.graph.block","subject":"did:plc:bbbbbbbbbbbbbbbbbbbbbbbb","createdAt":"2024-10-01T00:00:00Z"})",
                    "app.bsky.graph.block"}}) {
        auto p = pipeline_of(json, collection);
        EXPECT_EQ(p.at("subject"), "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb");
    }
}

TEST(TransformBackfilledRecord, OurFieldsWinOverSameNamedRecordFields) {
    auto p = pipeline_of(R"({"$type":"com.example.thing","uri":"spoofed","author":"spoofed","createdAt":"2024-10-01T00:00:00Z"})",
                         "com.example.thing");
    EXPECT_EQ(p.at("uri"), "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/x/3k");
    EXPECT_EQ(p.at("author"), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT_EQ(p.at("record_type"), "thing");
}

TEST(TransformBackfilledRecord, RawShape) {
    auto bytes = test::json_to_dag_cbor(boost::json::parse(R"({"$type":"app.bsky.feed.like","createdAt":"x"})"), test::link_style::atproto);
    cbor::document doc;
    ASSERT_FALSE(cbor::decode(bytes, doc));
    backfill::record_meta meta{"at://d/app.bsky.feed.like/1", "bafy", "d", "app.bsky.feed.like", "1", "like", std::nullopt, "rev"};
    std::string out;
    backfill::write_raw_record(doc.root(), meta, out);
    EXPECT_EQ(out, R"({"uri":"at://d/app.bsky.feed.like/1","cid":"bafy","author":"d","collection":"app.bsky.feed.like","rkey":"1","record_type":"like","synctimestamp":null,"rev":"rev","record":{"$type":"app.bsky.feed.like","createdAt":"x"}})");
}

}  // namespace
