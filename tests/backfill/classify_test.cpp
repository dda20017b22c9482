// Record type and synctimestamp rules (SPEC §2.5).
#include "backfill/classify.hpp"
#include "service/backfill_service.hpp"
#include "backfill/pipeline.hpp"
#include "backfill/runner.hpp"
#include "backfill/settings.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"
#include "export/jsonl_files.hpp"
#include "export/sqlite_queues.hpp"
#include "mst/mst.hpp"
#include "support/fixtures.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"
#include "syntax/datetime.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

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

// ---------------------------------------------------------------------------
// Hostile records through the real path: a hand-built repo served over
// loopback, the pipeline, and the JSONL sink writing real files.

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

cid::cid cid_of(const bytes& b) { return cid::cid::make_v1_sha256(cid::codec_dag_cbor, crypto::sha256(b)); }

bytes like_record(std::string_view type) {
    bytes out;
    cbor::encoder e(out);
    e.map_header(3);  // canonical key order: length, then bytes
    e.text("$type");
    e.text(type);
    e.text("subject");
    e.text("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    e.text("createdAt");
    e.text("2024-10-01T00:00:00.000Z");
    return out;
}

// A one-node MST of height 0 over `entries` (sorted, all of height 0), under
// an unsigned commit for `did`, as a CAR.
std::string one_node_repo(const std::string& did, const std::vector<std::pair<std::string, bytes>>& entries) {
    std::vector<std::pair<cid::cid, bytes>> blocks;
    bytes node;
    cbor::encoder n(node);
    n.map_header(2);
    n.text("e");
    n.array_header(entries.size());
    std::string previous;
    for (const auto& [key, record] : entries) {
        blocks.emplace_back(cid_of(record), record);
        auto prefix = mst::common_prefix_length(previous, key);
        n.map_header(4);
        n.text("k");
        n.bytes({reinterpret_cast<const std::uint8_t*>(key.data()) + prefix, key.size() - prefix});
        n.text("p");
        n.unsigned_int(prefix);
        n.text("t");
        n.null();
        n.text("v");
        n.link(blocks.back().first);
        previous = key;
    }
    n.text("l");
    n.null();
    blocks.emplace_back(cid_of(node), node);
    bytes commit;
    cbor::encoder c(commit);
    c.map_header(6);
    c.text("did");
    c.text(did);
    c.text("rev");
    c.text("3l3qo2vutsw2b");
    c.text("sig");
    c.bytes(bytes(64, 0));
    c.text("data");
    c.link(cid_of(node));
    c.text("prev");
    c.null();
    c.text("version");
    c.unsigned_int(3);
    auto root = cid_of(commit);
    blocks.emplace_back(root, commit);
    bytes header;
    cbor::encoder h(header);
    h.map_header(2);
    h.text("roots");
    h.array_header(1);
    h.link(root);
    h.text("version");
    h.unsigned_int(1);
    std::string car;
    auto section = [&](std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
        std::uint8_t length[10];
        car.append(reinterpret_cast<const char*>(length), cid::write_varint(a.size() + b.size(), length));
        car.append(reinterpret_cast<const char*>(a.data()), a.size());
        car.append(reinterpret_cast<const char*>(b.data()), b.size());
    };
    section({}, header);
    for (const auto& [id, b] : blocks) section(id.bytes(), b);
    return car;
}

// Keys of height 0 in `collection`, in key order.
std::vector<std::string> height_zero_keys(const std::string& collection, std::size_t count) {
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < count; ++i) {
        auto key = collection + "/3kaaaa" + std::to_string(1000 + i);
        if (mst::key_height(key) == 0) keys.push_back(key);
    }
    return keys;
}

class HostileRecords : public ::testing::Test {
protected:
    HostileRecords() {
        dir_ = fs::path(::testing::TempDir()) / ("hostile-" + std::to_string(::getpid()));
        outside_ = fs::path(::testing::TempDir()) / ("hostile-outside-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::remove_all(outside_);
        fs::create_directories(outside_);  // exists, like /tmp would
    }
    ~HostileRecords() override {
        fs::remove_all(dir_);
        fs::remove_all(outside_);
    }
    // What a record's $type once made the JSONL directory: an absolute path outside the output.
    std::string escaping_type() const { return "x." + (outside_ / "evil").string(); }

    // Names below `root`, relative, depth first.
    static std::set<std::string> tree(const fs::path& root) {
        std::set<std::string> names;
        if (!fs::exists(root)) return names;
        for (const auto& e : fs::recursive_directory_iterator(root)) names.insert(fs::relative(e.path(), root).string());
        return names;
    }

    fs::path dir_, outside_;
};

TEST_F(HostileRecords, PipelineCountsATypeThatIsNotItsCollectionAsInvalidAndWritesNothingOutside) {
    const std::string did = "did:plc:hostilehostilehostilehos";
    auto keys = height_zero_keys("app.bsky.feed.like", 2);
    auto car = one_node_repo(did, {{keys[0], like_record(escaping_type())}, {keys[1], like_record("app.bsky.feed.like")}});
    test::test_server server([&](const test::request_info& req, test::exchange& ex) {
        if (req.target.starts_with("/xrpc/com.atproto.sync.getRepo")) return ex.respond({.body = car});
        ex.respond({.body = "{\"id\":\"" + did + "\",\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\","
                                                 "\"serviceEndpoint\":\"" + server.origin() + "\"}]}"});
    });
    auto cfg = config::defaults();
    cfg.plc_url = server.origin();
    cfg.allow_private_addresses = true;
    cfg.verify_signatures = false;
    cfg.output.kind = config::output_kind::jsonl;
    cfg.output.dir = dir_ / "out";
    cfg.state_dir = dir_ / "state";
    cfg.record_types = {"app.bsky.feed.like"};  // the collection is wanted: only the $type is hostile
    config::validate(cfg);

    std::vector<std::string> logged;
    log::logger logger([&](log::level, std::string_view m) { logged.emplace_back(m); }, log::level::debug);
    boost::asio::io_context io;
    service::backfill_service backfill(io.get_executor(), cfg, logger);
    auto report = test::run(io, backfill.run_dids({did}, 10, "test"));

    ASSERT_EQ(report.outcomes.size(), 1u);
    const auto& o = report.outcomes[0];
    ASSERT_EQ(o.status, state::did_status::done) << o.error;
    EXPECT_EQ(o.invalid, 1u);
    EXPECT_EQ(o.counts, (std::map<std::string, std::uint64_t>{{"like", 1}}));
    auto reason = keys[0] + ": $type 'x." + (outside_ / "evil").string().substr(0, 62);
    EXPECT_TRUE(std::any_of(logged.begin(), logged.end(), [&](const std::string& line) {
        return line.find("invalid record " + reason) != std::string::npos &&
               line.find("does not match its collection app.bsky.feed.like") != std::string::npos;
    })) << "no log line names the invalid record and why";
    EXPECT_EQ(tree(outside_), std::set<std::string>{}) << "a record's $type wrote outside the output directory";
    EXPECT_EQ(tree(dir_ / "out"), (std::set<std::string>{".staging", "like", "like/part-000000.jsonl"}));
    auto line = test::read_text(dir_ / "out" / "like" / "part-000000.jsonl");
    EXPECT_NE(line.find(keys[1]), std::string::npos) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST_F(HostileRecords, SinksRefuseANameThatIsNotLettersAndDigits) {
    // The last line of defence, should a bad name ever get past classification.
    const std::string did = "did:plc:hostilehostilehostilehos";
    for (const auto& bad : {escaping_type().substr(2), std::string("../escape"), std::string("evil type"), std::string("")}) {
        exporter::jsonl_files jsonl(dir_ / "jsonl", 1 << 20);
        EXPECT_THROW(jsonl.stage(bad, did, "{}\n", 1, 1, "rev"), std::invalid_argument) << bad;
        jsonl.stage("like", did, "{}\n", 1, 1, "rev");
        EXPECT_THROW(jsonl.commit(did, {"like", bad}), std::invalid_argument) << bad;
        exporter::sqlite_queues sqlite(dir_ / "sqlite");
        EXPECT_THROW(sqlite.stage(bad, did, "[{}]", 1, 1, "rev"), std::invalid_argument) << bad;
    }
    EXPECT_EQ(tree(outside_), std::set<std::string>{});
    EXPECT_FALSE(fs::exists(dir_ / "escape"));
    for (const auto& name : tree(dir_)) EXPECT_EQ(name.find(' '), std::string::npos) << name;
    // A good name still goes through, even into an output directory with a space in it.
    exporter::jsonl_files spaced(dir_ / "with space", 1 << 20);
    spaced.stage("like", did, "{\"a\":1}\n", 1, 1, "rev");
    spaced.commit(did, {"like"});
    EXPECT_EQ(test::read_text(dir_ / "with space" / "like" / "part-000000.jsonl"), "{\"a\":1}\n");
}

}  // namespace
