// The whole per-DID path against a loopback PLC directory + PDS serving the
// real fixture CARs: resolve, fetch, verify, classify, stage, commit.
#include "backfill/pipeline.hpp"
#include "backfill/runner.hpp"
#include "backfill/settings.hpp"
#include "service/backfill_service.hpp"
#include "state/sqlite.hpp"
#include "support/fixtures.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <filesystem>

namespace {

using namespace bsky;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

struct fixture_repo {
    std::string did;
    std::string car;
    std::string key;  ///< did:key, empty when unknown
    std::size_t records;
};

// From fixtures/cars/INDEX.md; keys from fixtures/did.
const std::vector<fixture_repo> repos = {
    {"did:plc:5zspv27pk4iqtrl2ql2nykjh", "arroba__snarfed2.car", "zQ3shuteTZT6t9ek6UcKu7UfVES2AJgpadj2bT5zD8NHFqLce", 5},
    {"did:plc:kzcqyc3unb33eh5sxzsfs25z", "indigo__greenground.repo.car", "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", 2},
    {"did:plc:lulmyldiq4sb2ikags5sfb25", "repo-stream__little.car", "", 278},
    {"did:plc:rbkeag6b36ghkibhr6x235pm", "php-car__repo.car", "", 83},
    {"did:plc:tyme6enconikdp7rnxkywdcg", "dnproto__msttest-06-reply.car", "", 4},
    {"did:plc:mhkgaud2jb4rypzt4ph2a3co", "repo-stream__empty.car", "", 0},
};

class Backfill : public ::testing::Test {
protected:
    Backfill() {
        dir_ = fs::path(::testing::TempDir()) / ("backfill-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        fs::remove_all(dir_);
        for (const auto& r : repos) cars_[r.did] = test::read_text(test::fixture("cars/" + r.car));
        cars_["did:plc:garbagegarbagegarbagegar"] = std::string(5000, '\x42');
        cars_["did:plc:wrongrepowrongrepowrongr"] = cars_.at("did:plc:rbkeag6b36ghkibhr6x235pm");  // another account's repo
        server_ = std::make_unique<test::test_server>([this](const test::request_info& req, test::exchange& ex) { serve(req, ex); });
    }
    ~Backfill() override { fs::remove_all(dir_); }

    std::string doc_for(const std::string& did, const std::string& key, bool with_pds = true) {
        std::string doc = "{\"id\":\"" + did + "\",\"verificationMethod\":[";
        if (!key.empty())
            doc += "{\"id\":\"" + did + "#atproto\",\"type\":\"Multikey\",\"controller\":\"" + did + "\",\"publicKeyMultibase\":\"" + key + "\"}";
        doc += "],\"service\":[";
        if (with_pds) doc += "{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\",\"serviceEndpoint\":\"" + server_->origin() + "\"}";
        return doc + "]}";
    }

    void serve(const test::request_info& req, test::exchange& ex) {
        if (req.target.starts_with("/xrpc/com.atproto.sync.getRepo?did=")) {
            auto did = req.target.substr(std::string("/xrpc/com.atproto.sync.getRepo?did=").size());
            ++fetches_;
            if (did == "did:plc:takendowntakendowntakend")
                return ex.respond({.status = 400, .body = R"({"error":"RepoTakendown","message":"Repo has been takendown"})"});
            if (did == "did:plc:deactivateddeactivatedde")
                return ex.respond({.status = 400, .body = R"({"error":"RepoDeactivated","message":"Repo has been deactivated"})"});
            auto it = cars_.find(did);
            if (it == cars_.end()) return ex.respond({.status = 400, .body = R"({"error":"RepoNotFound","message":"Could not find repo"})"});
            return ex.respond({.body = it->second, .chunked = true, .chunk_size = 3000, .gzip = gzip_});
        }
        auto did = req.target.substr(1);
        for (const auto& r : repos)
            if (r.did == did) return ex.respond({.body = doc_for(did, r.key)});
        if (did == "did:plc:nopdsnopdsnopdsnopdsnopd") return ex.respond({.body = doc_for(did, "", false)});
        if (cars_.contains(did) || did == "did:plc:takendowntakendowntakend" || did == "did:plc:deactivateddeactivatedde" ||
            did == "did:plc:notonthepdsnotonthepdsno")
            return ex.respond({.body = doc_for(did, "")});
        ex.respond({.status = 404, .body = R"({"message":"DID not registered"})"});
    }

    config::config make_config(bool verify) {
        auto cfg = config::defaults();
        cfg.plc_url = server_->origin();
        cfg.allow_private_addresses = true;
        cfg.verify_signatures = verify;
        cfg.output.dir = dir_ / "out";
        cfg.state_dir = dir_ / "state";
        cfg.output.batch_size = 7;
        cfg.retries.backoff_base_seconds = 0.01;
        cfg.retries.backoff_cap_seconds = 0.05;
        cfg.record_types = {"post", "reply", "like", "repost", "follow", "block", "profile"};
        // A wide study range: every fixture record is "inside".
        cfg.time_range.start = "2000-01-01-00:00:00";
        cfg.time_range.end = "2100-01-01-00:00:00";
        config::validate(cfg);
        return cfg;
    }

    backfill::run_report run(const std::vector<std::string>& dids, bool verify = false, std::size_t per_batch = 50,
                             const std::function<void(config::config&)>& adjust = {}) {
        auto cfg = make_config(verify);
        if (adjust) {
            adjust(cfg);
            config::validate(cfg);
        }
        asio::io_context io;
        service::backfill_service backfill(io.get_executor(), cfg, log::null_logger());
        return test::run(io, backfill.run_dids(dids, per_batch, "test"));
    }

    // Every record in a type's queue: uri -> record (payload arrays flattened).
    std::map<std::string, boost::json::object> queue(const std::string& type, std::size_t* rows = nullptr) {
        std::map<std::string, boost::json::object> out;
        auto path = dir_ / "out" / "queue" / ("output_backfill_sync_" + type + ".db");
        if (!fs::exists(path)) return out;
        state::database db(path);
        auto st = db.prepare("SELECT payload, metadata, status, created_at FROM queue ORDER BY id");
        std::size_t n = 0;
        while (st.step()) {
            ++n;
            auto payload = boost::json::parse(st.column_text(0)).as_array();
            auto meta = boost::json::parse(st.column_text(1)).as_object();
            EXPECT_EQ(st.column_text(2), "pending");
            EXPECT_EQ(meta.at("actual_batch_size").as_int64(), static_cast<std::int64_t>(payload.size()));
            EXPECT_EQ(meta.at("batch_size").as_int64(), 7);
            EXPECT_LE(payload.size(), 7u);
            EXPECT_EQ(st.column_text(3).size(), 19u) << "created_at in %Y-%m-%d-%H:%M:%S";
            for (auto& r : payload) {
                auto uri = std::string(r.at("uri").as_string());
                EXPECT_FALSE(out.contains(uri)) << "duplicate " << uri;
                out[uri] = r.as_object();
            }
        }
        if (rows) *rows = n;
        return out;
    }

    std::size_t total_records() {
        std::size_t n = 0;
        for (auto t : {"post", "reply", "like", "repost", "follow", "block", "profile"}) n += queue(t).size();
        return n;
    }

    std::map<std::string, std::string> cars_;
    std::unique_ptr<test::test_server> server_;
    fs::path dir_;
    std::atomic<int> fetches_{0};
    bool gzip_ = false;
    static inline int counter_ = 0;
};

TEST_F(Backfill, DoBackfillForUser) {
    gzip_ = true;
    auto report = run({"did:plc:5zspv27pk4iqtrl2ql2nykjh"}, /*verify=*/true);
    ASSERT_EQ(report.outcomes.size(), 1u);
    const auto& o = report.outcomes[0];
    ASSERT_EQ(o.status, state::did_status::done) << o.error;
    // snarfed2: profile, like, 2 follows, and a chat declaration (not a configured type).
    EXPECT_EQ(o.counts.at("follow"), 2u);
    EXPECT_EQ(o.counts.at("like"), 1u);
    EXPECT_EQ(o.counts.at("profile"), 1u);
    EXPECT_EQ(o.skipped, 1u);
    auto follows = queue("follow");
    ASSERT_EQ(follows.size(), 2u);
    for (const auto& [uri, rec] : follows) {
        EXPECT_TRUE(uri.starts_with("at://did:plc:5zspv27pk4iqtrl2ql2nykjh/app.bsky.graph.follow/"));
        EXPECT_TRUE(rec.at("subject").as_string().starts_with("did:"));
        EXPECT_EQ(rec.at("record_type"), "follow");
        EXPECT_EQ(rec.at("author"), "did:plc:5zspv27pk4iqtrl2ql2nykjh");
    }
    auto likes = queue("like");
    ASSERT_EQ(likes.size(), 1u);
    EXPECT_TRUE(likes.begin()->second.at("subject").is_string()) << "like subjects become JSON strings";
}

TEST_F(Backfill, GetBskyRecordsForUser) {
    auto report = run({"did:plc:lulmyldiq4sb2ikags5sfb25"});
    ASSERT_EQ(report.outcomes[0].status, state::did_status::done) << report.outcomes[0].error;
    std::uint64_t exported = 0;
    for (const auto& [t, n] : report.outcomes[0].counts) exported += n;
    EXPECT_EQ(exported + report.outcomes[0].skipped + report.outcomes[0].invalid, 278u);
    EXPECT_EQ(total_records(), exported);
}

TEST_F(Backfill, DoBackfillForUsers) {
    std::vector<std::string> dids;
    for (const auto& r : repos) dids.push_back(r.did);
    auto report = run(dids);
    for (const auto& o : report.outcomes) EXPECT_EQ(o.status, state::did_status::done) << o.did << ": " << o.error;
    std::uint64_t exported = 0;
    for (const auto& o : report.outcomes)
        for (const auto& [t, n] : o.counts) exported += n;
    EXPECT_EQ(total_records(), exported);
}

TEST_F(Backfill, RunBatchedBackfill) {
    std::vector<std::string> dids;
    for (const auto& r : repos) dids.push_back(r.did);
    auto report = run(dids, false, 2);
    EXPECT_EQ(report.total_batches, 3u);
    // A second run finds every DID finished and fetches nothing again.
    auto before = fetches_.load();
    auto again = run(dids, false, 2);
    EXPECT_EQ(fetches_.load(), before);
    for (std::size_t i = 0; i < dids.size(); ++i) {
        EXPECT_EQ(again.outcomes[i].status, state::did_status::done);
        EXPECT_EQ(again.outcomes[i].counts, report.outcomes[i].counts);
    }
    auto summary = boost::json::parse(backfill::summary_json(again, {})).as_object();
    EXPECT_EQ(summary.at("total_batches"), 3);
    EXPECT_EQ(summary.at("did_to_backfill_counts_map").as_object().size(), dids.size());
    EXPECT_TRUE(summary.at("failed").as_object().empty());
}

TEST_F(Backfill, BadInputsFailAloneAndLeaveNoRows) {
    // little.car cut short: the PDS sends a well-formed HTTP body that is a broken CAR.
    cars_["did:plc:lulmyldiq4sb2ikags5sfb25"] = cars_.at("did:plc:lulmyldiq4sb2ikags5sfb25").substr(0, 100'000);
    std::vector<std::string> dids = {"did:plc:5zspv27pk4iqtrl2ql2nykjh", "did:plc:lulmyldiq4sb2ikags5sfb25", "did:plc:garbagegarbagegarbagegar",
                                     "did:plc:nopdsnopdsnopdsnopdsnopd", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:plc:takendowntakendowntakend",
                                     "did:plc:deactivateddeactivatedde", "did:plc:notonthepdsnotonthepdsno", "did:plc:wrongrepowrongrepowrongr",
                                     "did:plc:kzcqyc3unb33eh5sxzsfs25z"};
    auto report = run(dids);
    std::map<std::string, backfill::did_outcome> by;
    for (const auto& o : report.outcomes) by[o.did] = o;
    EXPECT_EQ(by["did:plc:5zspv27pk4iqtrl2ql2nykjh"].status, state::did_status::done);
    EXPECT_EQ(by["did:plc:kzcqyc3unb33eh5sxzsfs25z"].status, state::did_status::done);
    EXPECT_EQ(by["did:plc:lulmyldiq4sb2ikags5sfb25"].status, state::did_status::failed);
    EXPECT_NE(by["did:plc:lulmyldiq4sb2ikags5sfb25"].error.find("the stream ends inside a section"), std::string::npos)
        << by["did:plc:lulmyldiq4sb2ikags5sfb25"].error;
    EXPECT_EQ(by["did:plc:garbagegarbagegarbagegar"].status, state::did_status::failed);
    EXPECT_NE(by["did:plc:garbagegarbagegarbagegar"].error.find("offset 0"), std::string::npos) << by["did:plc:garbagegarbagegarbagegar"].error;
    EXPECT_EQ(by["did:plc:nopdsnopdsnopdsnopdsnopd"].status, state::did_status::failed);
    EXPECT_NE(by["did:plc:nopdsnopdsnopdsnopdsnopd"].error.find("no #atproto_pds"), std::string::npos);
    EXPECT_EQ(by["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"].status, state::did_status::not_found);
    EXPECT_EQ(by["did:plc:takendowntakendowntakend"].status, state::did_status::takendown);
    EXPECT_EQ(by["did:plc:deactivateddeactivatedde"].status, state::did_status::deactivated);
    EXPECT_EQ(by["did:plc:notonthepdsnotonthepdsno"].status, state::did_status::not_found);
    EXPECT_EQ(by["did:plc:wrongrepowrongrepowrongr"].status, state::did_status::failed);
    EXPECT_NE(by["did:plc:wrongrepowrongrepowrongr"].error.find("the commit is for did:plc:rbkeag6b36ghkibhr6x235pm"), std::string::npos);
    // Only the two good DIDs' records are in the queues: nothing from the failed ones.
    for (auto t : {"post", "reply", "like", "repost", "follow", "block", "profile"})
        for (const auto& [uri, rec] : queue(t))
            EXPECT_TRUE(uri.starts_with("at://did:plc:5zspv27pk4iqtrl2ql2nykjh/") || uri.starts_with("at://did:plc:kzcqyc3unb33eh5sxzsfs25z/")) << uri;
    auto summary = boost::json::parse(backfill::summary_json(report, {{"list.txt", 3, "bogus", "not a DID"}, {"list.txt", 9, "bogus", "not a DID"}})).as_object();
    EXPECT_EQ(summary.at("failed").as_object().size(), 6u) << "two bad lines with the same text are two entries";
    EXPECT_EQ(summary.at("failed").at("list.txt:9"), "'bogus': not a DID");
    EXPECT_EQ(summary.at("account_states").at("did:plc:takendowntakendowntakend"), "takendown");
}

TEST_F(Backfill, SignatureChecksUseTheDocumentKey) {
    // little.car's DID document here carries no key: with verification on, that is a failure.
    auto report = run({"did:plc:lulmyldiq4sb2ikags5sfb25", "did:plc:kzcqyc3unb33eh5sxzsfs25z"}, /*verify=*/true);
    EXPECT_EQ(report.outcomes[0].status, state::did_status::failed);
    EXPECT_NE(report.outcomes[0].error.find("no #atproto signing key"), std::string::npos);
    EXPECT_EQ(report.outcomes[1].status, state::did_status::done) << report.outcomes[1].error;
}

TEST_F(Backfill, ValidateRecordTimestamp) {
    // dnproto's records were made on 2025-12-22; little.car's span years. In filter
    // mode a range that excludes them drops everything but follows.
    auto tag = run({"did:plc:lulmyldiq4sb2ikags5sfb25"});
    auto tagged = tag.outcomes[0];
    ASSERT_EQ(tagged.status, state::did_status::done) << tagged.error;
    fs::remove_all(dir_);
    auto filtered = run({"did:plc:lulmyldiq4sb2ikags5sfb25"}, false, 50, [](config::config& cfg) {
        cfg.time_range.start = "1990-01-01-00:00:00";
        cfg.time_range.end = "1990-12-31-00:00:00";
        cfg.time_range.mode = config::time_range_mode::filter;
    }).outcomes[0];
    ASSERT_EQ(filtered.status, state::did_status::done) << filtered.error;
    EXPECT_EQ(filtered.counts.count("like"), 0u);
    EXPECT_EQ(filtered.counts.count("post"), 0u);
    EXPECT_EQ(filtered.counts["follow"], tagged.counts["follow"]) << "follows are kept in both modes";
    EXPECT_GT(filtered.filtered, 0u);
    // Tag mode keeps the same records with the standardised synctimestamp.
    fs::remove_all(dir_);
    run({"did:plc:lulmyldiq4sb2ikags5sfb25"}, false, 50, [](config::config& cfg) {
        cfg.time_range.start = "1990-01-01-00:00:00";
        cfg.time_range.end = "1990-12-31-00:00:00";
    });
    for (const auto& [uri, rec] : queue("like")) {
        auto sync = std::string(rec.at("synctimestamp").as_string());
        EXPECT_TRUE(sync.ends_with("-15-00:00:00") || sync.ends_with("-01-00:00:00")) << sync;
    }
}

TEST_F(Backfill, DoBackfillForUsersIsRateLimitedPerHost) {
    std::vector<std::string> dids;
    for (const auto& r : repos) dids.push_back(r.did);
    // 10 getRepo requests per second with a burst of 1: five repos take at least 0.4 s.
    auto report = run(dids, false, 50, [](config::config& cfg) {
        cfg.rate_limits.pds = {.requests = 10, .window_seconds = 1, .burst = 1};
    });
    for (const auto& o : report.outcomes) EXPECT_EQ(o.status, state::did_status::done) << o.error;
    std::vector<std::chrono::steady_clock::time_point> fetch_times;
    for (const auto& req : server_->requests())
        if (req.target.starts_with("/xrpc/")) fetch_times.push_back(req.received);
    ASSERT_EQ(fetch_times.size(), dids.size());
    // At 10/s with a burst of 1 the five requests span at least 400 ms at the
    // client; the server's clock sees them late by its own scheduling, so
    // only the span is checked, with room for that (unlimited, they span ~1 ms).
    EXPECT_GE(fetch_times.back() - fetch_times.front(), 300ms) << "requests came faster than the bucket allows";
}

TEST_F(Backfill, NewParametersApplyToTheNextDidWithoutARestart) {
    auto cfg = make_config(false);
    asio::io_context io;
    net::http_client client(io.get_executor(), backfill::client_settings(cfg));
    rate::host_limiter limiter(io.get_executor(), backfill::pds_limiter_settings(cfg));
    net::fetcher fetcher(client, limiter, backfill::retry_settings(cfg));
    resolve::resolver resolver(fetcher, backfill::resolver_settings(cfg));
    exporter::exporter exp(backfill::make_sink(cfg, log::null_logger()), cfg.state_dir);
    backfill::pipeline p(fetcher, resolver, exp, backfill::pipeline_settings(cfg), log::null_logger());
    auto task = [&]() -> asio::awaitable<std::pair<backfill::did_outcome, backfill::did_outcome>> {
        std::vector<std::string> dids = {"did:plc:5zspv27pk4iqtrl2ql2nykjh", "did:plc:kzcqyc3unb33eh5sxzsfs25z"};
        std::string source = "test";
        co_await exp.add_batch(source, dids);
        auto first = co_await p.backfill("did:plc:5zspv27pk4iqtrl2ql2nykjh");
        // As a SIGHUP would: only likes from now on, and a new pause for 429s.
        auto reloaded = cfg;
        reloaded.record_types = {"like"};
        reloaded.rate_limits.default_pause_seconds = 5;
        p.set_params(backfill::pipeline_settings(reloaded));
        limiter.set_params(backfill::pds_limiter_settings(reloaded));
        auto second = co_await p.backfill("did:plc:kzcqyc3unb33eh5sxzsfs25z");
        // The limiter the pipeline fetches through now pauses a header-less 429 for 5 s, not 60.
        limiter.observe("probe.example:443", 429, {});
        std::pair<backfill::did_outcome, backfill::did_outcome> both{first, second};
        co_return both;
    };
    auto [first, second] = test::run(io, task());
    EXPECT_EQ(first.counts.at("follow"), 2u);
    EXPECT_EQ(second.counts.count("follow"), 0u) << "greenground's two follows are skipped under the new types";
    EXPECT_EQ(second.skipped, 2u);
    auto probe = limiter.snapshot()["probe.example:443"];
    EXPECT_GT(probe.paused_for_seconds, 4.0) << "the reloaded default_pause_seconds";
    EXPECT_LE(probe.paused_for_seconds, 5.0) << "the reloaded default_pause_seconds, not the old 60";
}

TEST_F(Backfill, EmptyRepoCommitsIntoEitherSink) {
    // Found by the reference-PDS e2e test: an empty repo stages nothing, and committing nothing must work.
    for (auto kind : {config::output_kind::sqlite, config::output_kind::jsonl}) {
        fs::remove_all(dir_);
        auto report = run({"did:plc:mhkgaud2jb4rypzt4ph2a3co"}, false, 50, [kind](config::config& cfg) { cfg.output.kind = kind; });
        EXPECT_EQ(report.outcomes[0].status, state::did_status::done) << report.outcomes[0].error;
        EXPECT_TRUE(report.outcomes[0].counts.empty());
    }
}

TEST(ValidateRecordType, ConfiguredTypesOnly) {
    auto defaults = backfill::pipeline_settings(config::defaults());
    EXPECT_EQ(defaults.record_types, (std::set<std::string>{"block", "follow", "like", "post", "reply", "repost"}));
    // A configured set replaces the default one, entry for entry: short names and collection NSIDs.
    auto cfg = config::load_string("record_types: [profile, app.bsky.feed.like, reply]\n", "test.yaml");
    auto params = backfill::pipeline_settings(cfg);
    EXPECT_EQ(params.record_types, (std::set<std::string>{"profile", "app.bsky.feed.like", "reply"}));
    EXPECT_FALSE(params.record_types.contains("post")) << "a default type stayed in a configured set";
}

}  // namespace
