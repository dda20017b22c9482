#include "report/report.hpp"
#include "state/state_store.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace bsky {
namespace {

namespace json = boost::json;

struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("report-test-" + std::to_string(::getpid()));
    temp_dir() { std::filesystem::remove_all(path); }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

std::string did(int i) {
    auto s = std::to_string(i);
    return "did:plc:" + std::string(24 - s.size(), 'a') + s;
}

TEST(Report, SummaryCountsStatesRecordsFilesAndHostsFromTheStore) {
    temp_dir dir;
    state::state_store store(dir.path);
    store.add_batch("--dids", {did(1), did(2), did(3), did(4)});
    auto file = store.begin_spool_file("list.txt", "list.txt", {});
    store.add_to_batch(file.batch, {did(5), did(6)});
    store.complete_spool_file(file.id, 0);
    store.mark_done(did(1), {"https://pds.one/", "r1", R"({"post":3,"like":2})", 5, 0, 0, 100, 1});
    store.mark_done(did(2), {"https://pds.two", "r2", R"({"post":1})", 1, 0, 0, 50, 1});
    store.mark_final(did(3), state::did_status::failed, "stream ends early", {"https://pds.one", "", "{}", 0, 0, 0, 7, 1});
    store.mark_final(did(5), state::did_status::not_found, "RepoNotFound");
    store.mark_done(did(6), {"https://pds.one", "r6", R"({"follow":4})", 4, 0, 0, 10, 1});

    auto s = report::summarize(store.db(), {.spool_files = 10, .hosts = 1});
    EXPECT_EQ(s.total, 6);
    EXPECT_EQ(s.ended, 5);
    EXPECT_EQ(s.dids["done"], 3);
    EXPECT_EQ(s.dids["failed"], 1);
    EXPECT_EQ(s.dids["pending"], 1);
    EXPECT_EQ(s.dids["suspended"], 0) << "every status is present";
    EXPECT_EQ(s.records, (report::counts{{"follow", 4}, {"like", 2}, {"post", 4}}));
    EXPECT_EQ(s.records_total, 10);
    EXPECT_EQ(s.bytes, 167);
    ASSERT_EQ(s.spool_files.size(), 1u);
    EXPECT_EQ(s.spool_files[0].name, "list.txt");
    EXPECT_EQ(s.spool_files[0].state, "recorded");
    EXPECT_EQ(s.spool_files[0].total, 2);
    EXPECT_EQ(s.spool_files[0].dids["done"], 1);
    EXPECT_EQ(s.spool_files[0].dids["not_found"], 1);
    EXPECT_EQ(s.spool_files[0].records, 4);
    EXPECT_EQ(s.spool_files_by_state["recorded"], 1);
    // Bounded to one host plus "other"; hosts are named without scheme or path.
    ASSERT_EQ(s.hosts.size(), 2u);
    EXPECT_EQ(s.hosts[0].host, "pds.one");
    EXPECT_EQ(s.hosts[0].dids["done"], 2);
    EXPECT_EQ(s.hosts[0].dids["failed"], 1);
    EXPECT_EQ(s.hosts[1].host, "other");
    EXPECT_EQ(s.hosts[1].total, 1);

    auto f = report::failures(store.db());
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].did, did(3));
    EXPECT_EQ(f[0].reason, "stream ends early");
    EXPECT_EQ(f[0].pds, "pds.one");
}

TEST(Report, RequeueFailedMakesThemPendingWithFreshAttempts) {
    temp_dir dir;
    state::state_store store(dir.path);
    store.add_batch("--dids", {did(1), did(2)});
    store.mark_running(did(1));
    store.mark_running(did(1));
    store.mark_final(did(1), state::did_status::failed, "boom");
    store.mark_done(did(2), {});
    EXPECT_EQ(store.requeue_failed(), std::vector<std::string>{did(1)});
    auto row = store.get(did(1));
    EXPECT_EQ(row->status, state::did_status::pending);
    EXPECT_EQ(row->attempts, 0);
    EXPECT_EQ(store.get(did(2))->status, state::did_status::done);
}

TEST(Report, StatusJsonJoinsStoreAndLiveHostFigures) {
    report::store_summary s;
    s.dids = {{"done", 3}, {"pending", 1}, {"failed", 0}};
    s.total = 4;
    s.ended = 3;
    s.records = {{"post", 7}};
    s.hosts.push_back({"pds.one", {{"done", 3}}, 3, 7});
    report::live_status live;
    live.now_ms = 1'000'000;
    live.version = "1.2.3";
    live.hosts.push_back({"pds.one", 5, 30, 2, 4});
    live.hosts.push_back({"pds.new", 1, 0, 1, 0});
    live.throughput = {{940'000, 0, 0}, {1'000'000, 70, 3}};
    auto v = json::parse(report::to_json(s, {{"did:plc:x", "boom", "pds.one", 2, 999'000}}, &live)).as_object();
    EXPECT_EQ(v.at("total").as_int64(), 4);
    EXPECT_EQ(v.at("records").at("post").as_int64(), 7);
    auto& hosts = v.at("hosts").as_array();
    ASSERT_EQ(hosts.size(), 2u);
    EXPECT_EQ(hosts[0].at("host").as_string(), "pds.one");
    EXPECT_EQ(hosts[0].at("dids").at("done").as_int64(), 3);
    EXPECT_EQ(hosts[0].at("rate_limited").as_double(), 4);
    EXPECT_EQ(hosts[0].at("paused_until").as_string(), "1970-01-01T00:17:10Z");
    EXPECT_EQ(hosts[1].at("host").as_string(), "pds.new");
    EXPECT_TRUE(hosts[1].at("paused_until").is_null());
    EXPECT_EQ(v.at("failures").at(0).at("reason").as_string(), "boom");
    auto& l = v.at("live").as_object();
    EXPECT_DOUBLE_EQ(l.at("dids_per_second").as_double(), 0.05);
    EXPECT_DOUBLE_EQ(l.at("eta_seconds").as_double(), 20.0);
    EXPECT_EQ(l.at("throughput").as_array().size(), 2u);
    EXPECT_FALSE(json::parse(report::to_json(s, {})).as_object().contains("live"));
}

TEST(Report, RateUsesOnlyTheRecentWindow) {
    std::vector<report::sample> samples{{0, 0, 0}, {600'000, 0, 600}, {900'000, 0, 660}};
    EXPECT_DOUBLE_EQ(report::dids_per_second(samples, 300'000), 0.2);
    EXPECT_DOUBLE_EQ(report::dids_per_second({{0, 0, 5}}), 0);
}

TEST(Report, TablesNameEveryFigure) {
    report::store_summary s;
    s.dids = {{"done", 2}, {"failed", 1}, {"pending", 0}};
    s.total = 3;
    s.ended = 3;
    auto text = report::format_status(s);
    EXPECT_NE(text.find("DIDs: 3 total, 3 ended (100.0%)\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("pending"), std::string::npos) << "zero states are left out: " << text;
    EXPECT_NE(text.find("bsky-backfill failures"), std::string::npos);
    EXPECT_EQ(report::format_failures({}), "no failed DIDs\n");
}

}  // namespace
}  // namespace bsky
