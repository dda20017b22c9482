// did:plc resolution from a generated PLC /export file: every operation shape,
// supersession, nullified and malformed lines, rebuild on change, and the
// resolver asking the directory only for DIDs the export does not name.
#include "crypto/did_key.hpp"
#include "resolve/plc_export.hpp"
#include "resolve/resolver.hpp"
#include "support/fixtures.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <unistd.h>

namespace {

using namespace bsky;
namespace asio = boost::asio;
namespace json = boost::json;
using resolve::resolve_status;

// Two real signing keys (ES256, ES256K) from the interop vectors.
std::string fixture_key(std::size_t index) {
    return std::string(test::read_json(test::fixture("interop/crypto/signature-fixtures.json")).as_array().at(index).at("publicKeyDid").as_string());
}

const std::string updated = "did:plc:updatedtwiceupdatedtwice";
const std::string legacy = "did:plc:legacycreatelegacycreate";
const std::string tombstoned = "did:plc:tombstonedtombstonedtomb";
const std::string nullified = "did:plc:nullifiednullifiednullif";
const std::string bad_key = "did:plc:badkeybadkeybadkeybadkey";
const std::string absent = "did:plc:absentabsentabsentabsent";

std::string line(const std::string& did, json::object op, bool is_nullified = false) {
    return json::serialize(json::object{{"did", did}, {"operation", std::move(op)}, {"cid", "bafyreie"},
                                        {"nullified", is_nullified}, {"createdAt", "2024-01-01T00:00:00.000Z"}});
}

json::object plc_operation(const std::string& pds, const std::string& key, const std::string& handle) {
    return {{"type", "plc_operation"}, {"rotationKeys", json::array{key}},
            {"verificationMethods", {{"atproto", key}}}, {"alsoKnownAs", json::array{"at://" + handle}},
            {"services", {{"atproto_pds", {{"type", "AtprotoPersonalDataServer"}, {"endpoint", pds}}}}},
            {"prev", nullptr}, {"sig", "c2ln"}};
}

struct captured_log {
    std::mutex mutex;
    std::vector<std::string> warnings;
    log::logger logger{[this](log::level lvl, std::string_view message) {
        std::lock_guard lock(mutex);
        if (lvl == log::level::warn) warnings.emplace_back(message);
    }};
};

class PlcExport : public ::testing::Test {
protected:
    PlcExport() {
        std::filesystem::create_directories(dir_);
        key1_ = fixture_key(0), key2_ = fixture_key(1);
        lines_ = {
            line(updated, plc_operation("https://pds-one.example", key1_, "first.example")),
            "this is not JSON",
            line(legacy, {{"type", "create"}, {"signingKey", key1_}, {"recoveryKey", key2_}, {"handle", "legacy.example"},
                          {"service", "pds.legacy.example"}, {"prev", nullptr}, {"sig", "c2ln"}}),
            line(tombstoned, plc_operation("https://pds-one.example", key1_, "gone.example")),
            "",
            line(nullified, plc_operation("https://pds-kept.example", key1_, "kept.example")),
            R"({"did": "did:web:example.com", "operation": {"type": "plc_operation"}, "nullified": false})",
            line(updated, plc_operation("https://pds-two.example/", key2_, "second.example")),
            line(tombstoned, {{"type", "plc_tombstone"}, {"prev", "bafyreie"}, {"sig", "c2ln"}}),
            line(nullified, plc_operation("https://pds-forked.example", key2_, "forked.example"), true),
            R"({"did": "did:plc:updatedtwiceupdatedtwice", "operation": {"type": "plc_rotate"}, "nullified": false})",
            line(bad_key, plc_operation("https://pds-one.example", "did:key:zNotAKey", "bad.example")),
            R"({"did": "did:plc:updatedtwiceupdatedtwice", "operation": )",
        };
        write_export();
    }
    ~PlcExport() override { std::filesystem::remove_all(dir_); }

    void write_export() {
        std::ofstream out(export_file_, std::ios::trunc);
        for (const auto& l : lines_) out << l << "\n";
    }

    std::unique_ptr<resolve::plc_export_index> open_index() {
        return std::make_unique<resolve::plc_export_index>(export_file_, dir_ / "state" / "plc-export.db", log_.logger);
    }
    std::optional<resolve::resolution> lookup(resolve::plc_export_index& index, const std::string& did) {
        return test::run(io_, index.lookup(did));
    }

    std::filesystem::path dir_ = std::filesystem::temp_directory_path() / ("plc-export-test-" + std::to_string(::getpid()));
    std::filesystem::path export_file_ = dir_ / "export.jsonl";
    std::string key1_, key2_;
    std::vector<std::string> lines_;
    captured_log log_;
    asio::io_context io_;
};

TEST_F(PlcExport, LaterOperationSupersedesEarlier) {
    auto index = open_index();
    auto r = lookup(*index, updated);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, resolve_status::ok) << r->detail;
    EXPECT_EQ(r->document->did, updated);
    EXPECT_EQ(r->document->pds_endpoint, "https://pds-two.example");  // trailing '/' trimmed, as in a fetched document
    EXPECT_EQ(r->document->handle, "second.example");
    ASSERT_TRUE(r->document->signing_key);
    EXPECT_EQ(crypto::to_did_key(*r->document->signing_key), key2_);
}

TEST_F(PlcExport, LegacyCreateGetsHttpsAndItsSigningKey) {
    auto index = open_index();
    auto r = lookup(*index, legacy);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, resolve_status::ok) << r->detail;
    EXPECT_EQ(r->document->pds_endpoint, "https://pds.legacy.example");
    EXPECT_EQ(r->document->handle, "legacy.example");
    ASSERT_TRUE(r->document->signing_key);
    EXPECT_EQ(crypto::to_did_key(*r->document->signing_key), key1_);
}

TEST_F(PlcExport, TombstoneIsNotFoundNullifiedIsIgnoredAbsentMisses) {
    auto index = open_index();
    auto gone = lookup(*index, tombstoned);
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->status, resolve_status::not_found) << gone->detail;
    auto kept = lookup(*index, nullified);
    ASSERT_TRUE(kept);
    ASSERT_EQ(kept->status, resolve_status::ok) << kept->detail;
    EXPECT_EQ(kept->document->pds_endpoint, "https://pds-kept.example");
    EXPECT_FALSE(lookup(*index, absent));
}

TEST_F(PlcExport, UndecodableKeyFailsLikeAFetchedDocument) {
    auto index = open_index();
    auto r = lookup(*index, bad_key);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, resolve_status::failed);
    EXPECT_NE(r->detail.find("cannot be decoded"), std::string::npos) << r->detail;
    EXPECT_NE(r->detail.find(bad_key), std::string::npos) << r->detail;
}

TEST_F(PlcExport, MalformedLinesAreCountedAndNamedByLineNumber) {
    auto index = open_index();
    auto s = test::run(io_, index->summary());
    ASSERT_TRUE(s.usable) << s.error;
    EXPECT_TRUE(s.rebuilt);
    EXPECT_EQ(s.lines, lines_.size());
    EXPECT_EQ(s.malformed, 4u);  // not JSON, a did:web, an unknown op type, a truncated line
    EXPECT_EQ(s.nullified, 1u);
    EXPECT_EQ(s.operations, 7u);
    EXPECT_EQ(s.dids, 5u);
    std::lock_guard lock(log_.mutex);
    ASSERT_EQ(log_.warnings.size(), 4u);
    EXPECT_NE(log_.warnings[0].find("export.jsonl:2:"), std::string::npos) << log_.warnings[0];
    EXPECT_NE(log_.warnings[3].find("export.jsonl:13:"), std::string::npos) << log_.warnings[3];
}

TEST_F(PlcExport, RebuiltOnlyWhenTheExportChanges) {
    EXPECT_TRUE(test::run(io_, open_index()->summary()).rebuilt);
    auto same = test::run(io_, open_index()->summary());
    EXPECT_FALSE(same.rebuilt);
    EXPECT_EQ(same.dids, 5u);

    lines_.push_back(line(absent, plc_operation("https://pds-late.example", key1_, "late.example")));
    write_export();
    auto grown = open_index();
    EXPECT_TRUE(test::run(io_, grown->summary()).rebuilt);
    auto late = lookup(*grown, absent);
    ASSERT_TRUE(late);
    EXPECT_EQ(late->document->pds_endpoint, "https://pds-late.example");
    grown.reset();

    // Same size, new mtime (a re-downloaded dump): rebuilt too.
    std::filesystem::last_write_time(export_file_, std::filesystem::last_write_time(export_file_) + std::chrono::seconds(5));
    EXPECT_TRUE(test::run(io_, open_index()->summary()).rebuilt);
}

TEST_F(PlcExport, MissingExportIsAStartupError) {
    EXPECT_THROW(resolve::plc_export_index(dir_ / "nope.jsonl", dir_ / "plc-export.db", log_.logger), std::runtime_error);
}

TEST(PlcExportLine, ReadsEveryShape) {
    std::string why;
    auto op = resolve::parse_plc_export_line(
        R"({"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","operation":{"type":"plc_operation","verificationMethods":{"atproto":"did:key:zX"},)"
        R"("alsoKnownAs":["https://x","at://a.example"],"services":{"atproto_pds":{"type":"AtprotoPersonalDataServer","endpoint":"https://p"}}},"nullified":false})",
        why);
    ASSERT_TRUE(op) << why;
    EXPECT_EQ(op->pds_endpoint, "https://p");
    EXPECT_EQ(op->signing_key, "did:key:zX");
    EXPECT_EQ(op->handle, "a.example");
    auto other_type = resolve::parse_plc_export_line(
        R"({"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","operation":{"type":"plc_operation","services":{"atproto_pds":{"type":"Other","endpoint":"https://p"}}}})", why);
    ASSERT_TRUE(other_type) << why;
    EXPECT_TRUE(other_type->pds_endpoint.empty());
    auto tomb = resolve::parse_plc_export_line(R"({"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","operation":{"type":"plc_tombstone"},"nullified":true})", why);
    ASSERT_TRUE(tomb) << why;
    EXPECT_TRUE(tomb->tombstone);
    EXPECT_TRUE(tomb->nullified);
    for (const char* bad : {"[]", "{}", R"({"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","nullified":"no","operation":{"type":"create"}})",
                            R"({"did":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","operation":{"type":"plc_operation","services":{"atproto_pds":{"endpoint":7}}}})"}) {
        EXPECT_FALSE(resolve::parse_plc_export_line(bad, why)) << bad;
        EXPECT_FALSE(why.empty());
    }
}

// The resolver asks the export first and the directory only for what it lacks.
TEST_F(PlcExport, ResolverFetchesOnlyDidsTheExportLacks) {
    test::test_server plc([](const test::request_info&, test::exchange& ex) {
        ex.respond({.status = 404, .body = "{\"message\":\"DID not registered\"}"});
    });
    net::client_params client_params;
    client_params.allow_private_addresses = true;
    net::http_client client(io_.get_executor(), client_params);
    rate::host_limiter limiter(io_.get_executor(), {});
    net::fetcher fetcher(client, limiter, {.max_attempts = 1}, 1);
    resolve::resolver resolver(fetcher, {.plc_url = plc.origin()});
    auto index = open_index();
    resolver.use_plc_export(index.get());

    auto hit = test::run(io_, resolver.resolve(updated));
    ASSERT_EQ(hit.status, resolve_status::ok) << hit.detail;
    EXPECT_EQ(hit.document->pds_endpoint, "https://pds-two.example");
    EXPECT_EQ(test::run(io_, resolver.resolve(tombstoned)).status, resolve_status::not_found);
    EXPECT_TRUE(plc.requests().empty());
    EXPECT_TRUE(test::run(io_, resolver.resolve(updated)).from_cache);

    auto miss = test::run(io_, resolver.resolve(absent));
    EXPECT_EQ(miss.status, resolve_status::not_found);
    ASSERT_EQ(plc.requests().size(), 1u);
    EXPECT_EQ(plc.requests()[0].target, "/" + absent);
}

}  // namespace
