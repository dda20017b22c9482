// The state store on real SQLite files.
#include "state/state_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace {

using namespace bsky::state;
namespace fs = std::filesystem;

class StateStore : public ::testing::Test {
protected:
    StateStore() : dir_(fs::path(::testing::TempDir()) / ("state-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
        fs::remove_all(dir_);
    }
    ~StateStore() override { fs::remove_all(dir_); }
    fs::path dir_;
    static inline int counter_ = 0;
};

TEST_F(StateStore, BatchesKeepInputOrderAndDropDuplicates) {
    state_store store(dir_);
    auto batch = store.begin_batch("list.txt");
    EXPECT_EQ(store.add_to_batch(batch, {"did:plc:b", "did:plc:a", "did:plc:b"}), 1u);
    EXPECT_EQ(store.add_to_batch(batch, {"did:plc:c", "did:plc:a"}), 1u);
    EXPECT_EQ(store.batch_count(batch), 3);
    std::vector<std::string> order;
    store.for_each_in_batch(batch, [&](const did_row& row) {
        order.push_back(row.did);
        EXPECT_EQ(row.status, did_status::pending);
    });
    EXPECT_EQ(order, (std::vector<std::string>{"did:plc:b", "did:plc:a", "did:plc:c"}));
    store.add_rejected(batch, {{"list.txt", 7, "nope", "not a DID"}});
    int rejected = 0;
    store.for_each_rejected(batch, [&](const rejected_input& r) {
        ++rejected;
        EXPECT_EQ(r.line, 7);
        EXPECT_EQ(r.reason, "not a DID");
    });
    EXPECT_EQ(rejected, 1);
}

TEST_F(StateStore, ALargeShuffledListKeepsInputOrderAcrossChunksAndRepeats) {
    // Inserted in DID order inside a chunk: the order read back must still be
    // the input's, with each DID at its first appearance.
    std::vector<std::string> input;
    std::uint32_t x = 12345;
    for (int i = 0; i < 3000; ++i) {
        x = x * 1103515245u + 12345u;
        input.push_back("did:plc:" + std::to_string((x >> 8) % 2000));  // about a third repeat
    }
    std::vector<std::string> expected;
    std::set<std::string> seen;
    for (const auto& d : input)
        if (seen.insert(d).second) expected.push_back(d);
    state_store store(dir_);
    auto batch = store.begin_batch("big.txt");
    std::size_t duplicates = 0;
    for (std::size_t at = 0; at < input.size(); at += 700)
        duplicates += store.add_to_batch(batch, {input.begin() + at, input.begin() + std::min(input.size(), at + 700)});
    EXPECT_EQ(duplicates, input.size() - expected.size());
    EXPECT_EQ(store.batch_count(batch), static_cast<std::int64_t>(expected.size()));
    std::vector<std::string> order;
    store.for_each_in_batch(batch, [&](const did_row& row) { order.push_back(row.did); });
    EXPECT_EQ(order, expected);
    std::vector<std::string> walked;
    std::int64_t after = 0;
    for (auto page = store.unfinished(batch, 0, 500); !page.empty(); page = store.unfinished(batch, after, 500))
        for (auto& [seq, did] : page) {
            EXPECT_GT(seq, after);
            after = seq;
            walked.push_back(did);
        }
    EXPECT_EQ(walked, expected) << "the work loop reads the input order by seq";
}

TEST_F(StateStore, AGroupIsMarkedCommittingThenDoneInOneTransaction) {
    {
        state_store store(dir_);
        store.add_batch("g", {"did:plc:a", "did:plc:b", "did:plc:c"});
        std::vector<state_store::final_mark> group{{"did:plc:a", {.pds = "https://a", .records = 3}},
                                                   {"did:plc:b", {.pds = "https://b", .records = 5}}};
        store.mark_group(did_status::committing, group);
        EXPECT_EQ(store.get("did:plc:a")->status, did_status::committing);
        EXPECT_EQ(store.get("did:plc:b")->result.records, 5);
        EXPECT_EQ(store.get("did:plc:c")->status, did_status::pending);
        store.mark_group(did_status::done, {group[0]});
    }  // a crash here: b's commit was under way
    state_store store(dir_);
    EXPECT_EQ(store.recover(), (std::vector<std::string>{"did:plc:b"}));
    EXPECT_EQ(store.get("did:plc:a")->status, did_status::done);
    EXPECT_EQ(store.get("did:plc:a")->result.pds, "https://a");
    EXPECT_EQ(store.get("did:plc:b")->result.pds, "https://b") << "the result survives for the roll-forward";
}

TEST_F(StateStore, UnfinishedWalksForwardAndSkipsFinalDids) {
    state_store store(dir_);
    auto batch = store.begin_batch("x");
    store.add_to_batch(batch, {"did:plc:1", "did:plc:2", "did:plc:3", "did:plc:4"});
    store.mark_done("did:plc:2", {});
    store.mark_final("did:plc:3", did_status::takendown, "RepoTakendown");
    auto first = store.unfinished(batch, 0, 1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].second, "did:plc:1");
    auto rest = store.unfinished(batch, first[0].first, 10);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].second, "did:plc:4");
}

TEST_F(StateStore, RecoveryAfterACrash) {
    {
        state_store store(dir_);
        store.add_batch("x", {"did:plc:run", "did:plc:commit", "did:plc:done"});
        store.mark_running("did:plc:run");
        store.mark_running("did:plc:commit");
        store.mark_final("did:plc:commit", did_status::committing, "", {.pds = "https://pds", .rev = "3l", .counts_json = "{\"post\":2}"});
        store.mark_done("did:plc:done", {});
    }  // the process "dies"; the lock goes with it
    state_store store(dir_);
    EXPECT_EQ(store.recover(), (std::vector<std::string>{"did:plc:commit"}));
    EXPECT_EQ(store.get("did:plc:run")->status, did_status::pending);
    EXPECT_EQ(store.get("did:plc:run")->attempts, 1);
    auto committing = store.get("did:plc:commit");
    EXPECT_EQ(committing->result.counts_json, "{\"post\":2}") << "the counts survive for the roll-forward";
    EXPECT_EQ(store.get("did:plc:done")->status, did_status::done);
    auto counts = store.status_counts();
    EXPECT_EQ(counts[did_status::pending], 1);
}

TEST_F(StateStore, AWriteErrorMakesTheDidPendingAgainWithTheReason) {
    state_store store(dir_);
    auto batch = store.add_batch("t", {"did:plc:a", "did:plc:b"});
    store.mark_running("did:plc:a");
    store.mark_retryable("did:plc:a", "post.db: database or disk is full");
    auto row = store.get("did:plc:a");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, did_status::pending);
    EXPECT_EQ(row->last_error, "post.db: database or disk is full");
    EXPECT_EQ(row->attempts, 1);
    EXPECT_EQ(store.unfinished(batch, 0, 10).size(), 2u);  // the next run redoes it

    store.mark_final("did:plc:b", did_status::committing, "");
    store.note_error("did:plc:b", "moving failed");
    row = store.get("did:plc:b");
    EXPECT_EQ(row->status, did_status::committing);
    EXPECT_EQ(row->last_error, "moving failed");
}

TEST_F(StateStore, ASecondUserOfTheSameStateIsRefused) {
    state_store first(dir_);
    try {
        state_store second(dir_);
        FAIL() << "two stores on one directory";
    } catch (const sqlite_error& e) {
        EXPECT_NE(std::string(e.what()).find("in use by another bsky-backfill process"), std::string::npos) << e.what();
    }
}

TEST_F(StateStore, StatusNames) {
    for (auto s : {did_status::pending, did_status::running, did_status::committing, did_status::done, did_status::failed,
                   did_status::not_found, did_status::takendown, did_status::deactivated, did_status::suspended})
        EXPECT_EQ(parse_status(to_string(s)), s);
    EXPECT_FALSE(parse_status("bogus"));
    EXPECT_TRUE(is_success(did_status::takendown));
    EXPECT_FALSE(is_success(did_status::failed));
    EXPECT_FALSE(is_final(did_status::committing));
}

}  // namespace
