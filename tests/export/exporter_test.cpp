// The exporter's group commit on real SQLite queue files and a real state store.
#include "export/exporter.hpp"
#include "export/sqlite_queues.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <future>
#include <map>

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace bsky;

class Exporter : public ::testing::Test {
protected:
    Exporter() : dir_(fs::path(::testing::TempDir()) / ("exporter-" + std::to_string(::getpid()))) { fs::remove_all(dir_); }
    ~Exporter() override { fs::remove_all(dir_); }
    std::map<std::string, int> queue_rows_by_did(const std::string& type) {
        state::database db(dir_ / "out" / "queue" / ("output_backfill_sync_" + type + ".db"));
        std::map<std::string, int> out;
        auto st = db.prepare("SELECT json_extract(metadata, '$.did') FROM queue");
        while (st.step()) ++out[st.column_text(0)];
        auto staged = db.prepare("SELECT COUNT(*) FROM staging");
        staged.step();
        EXPECT_EQ(staged.column_int(0), 0) << "nothing left staged in " << type;
        return out;
    }
    fs::path dir_;
};

TEST_F(Exporter, CommitsThatArriveWhileItIsBusyShareOneGroup) {
    constexpr int n = 40;
    std::vector<std::string> dids;
    for (int i = 0; i < n; ++i) dids.push_back("did:plc:group" + std::to_string(i));
    asio::io_context io;
    exporter::exporter exp(std::make_unique<exporter::sqlite_queues>(dir_ / "out"), dir_ / "out" / "state");
    bool staged = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await exp.add_batch("t", dids);
        for (int i = 0; i < n; ++i) {
            co_await exp.mark_running(dids[i]);
            co_await exp.stage("post", dids[i], "[{\"i\":" + std::to_string(i) + "}]", 1, 10, "rev");
            // Every third DID has a second type: a group spans files unevenly.
            if (i % 3 == 0) co_await exp.stage("like", dids[i], "[{}]", 1, 10, "rev");
        }
        staged = true;
    }, asio::detached);
    io.run();
    io.restart();
    ASSERT_TRUE(staged);

    // The exporter thread is held busy while every DID asks to commit.
    std::promise<void> gate;
    asio::co_spawn(io, exp.visit([f = gate.get_future().share()](state::state_store&) { f.wait(); }), asio::detached);
    int asked = 0, committed = 0;
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
            ++asked;
            std::set<std::string> types{"post"};
            if (i % 3 == 0) types.insert("like");
            state::did_result result{.pds = "https://pds", .records = 1 + (i % 3 == 0)};
            co_await exp.commit(dids[i], types, result);
            ++committed;
        }, asio::detached);
    }
    while (asked < n) io.poll();
    EXPECT_EQ(exp.queue_depth(), static_cast<std::size_t>(n + 1)) << "the held visit and every commit behind it";
    gate.set_value();
    io.run();
    EXPECT_EQ(committed, n);
    EXPECT_EQ(exp.queue_depth(), 0u);
    EXPECT_EQ(exp.commit_groups(), 1u) << "all " << n << " commits waited behind one busy moment";

    auto posts = queue_rows_by_did("post");
    auto likes = queue_rows_by_did("like");
    EXPECT_EQ(posts.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        EXPECT_EQ(posts[dids[i]], 1) << dids[i];
        EXPECT_EQ(likes.count(dids[i]) ? likes[dids[i]] : 0, i % 3 == 0 ? 1 : 0) << dids[i];
    }
    io.restart();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (const auto& did : dids) {
            auto row = co_await exp.get(did);
            EXPECT_TRUE(row && row->status == state::did_status::done) << did;
            if (row) {
                EXPECT_EQ(row->result.pds, "https://pds");
            }
        }
    }, asio::detached);
    io.run();
}

TEST_F(Exporter, OneCommitAtATimeIsAGroupOfOne) {
    asio::io_context io;
    exporter::exporter exp(std::make_unique<exporter::sqlite_queues>(dir_ / "out"), dir_ / "out" / "state");
    // (Named values: GCC 12 cannot brace-initialise temporaries inside a lambda coroutine.)
    const std::vector<std::string> dids{"did:plc:a", "did:plc:b"};
    const std::set<std::string> types{"post"};
    const state::did_result result;  // (named: GCC 12 destroys a by-value temporary argument of a coroutine twice)
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await exp.add_batch("t", dids);
        for (const auto& did : dids) {
            co_await exp.stage("post", did, "[{}]", 1, 10, "rev");
            co_await exp.commit(did, types, result);
        }
    }, asio::detached);
    io.run();
    EXPECT_EQ(exp.commit_groups(), 2u);
    EXPECT_EQ(queue_rows_by_did("post"), (std::map<std::string, int>{{"did:plc:a", 1}, {"did:plc:b", 1}}));
}

}  // namespace
