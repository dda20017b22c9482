// The spool directory through real files, a real inotify watch on an
// io_context, and a real exporter + state store in a temporary directory.
#include "spool/spool.hpp"

#include "export/exporter.hpp"
#include "export/sqlite_queues.hpp"
#include "support/run.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

using namespace bsky;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using state::did_status;
using state::spool_state;

// A valid did:plc for every index: 24 base32 characters.
std::string did_number(std::size_t n) {
    std::string tail(24, 'a');
    for (std::size_t i = 0; i < tail.size() && n; ++i, n /= 32) tail[tail.size() - 1 - i] = "abcdefghijklmnopqrstuvwxyz234567"[n % 32];
    return "did:plc:" + tail;
}

std::string lines_of(std::size_t first, std::size_t count) {
    std::string out;
    for (std::size_t i = first; i < first + count; ++i) out += did_number(i) + "\n";
    return out;
}

void write_file(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

boost::json::value read_json(const fs::path& path) { return boost::json::parse(read_file(path)); }

// A producer's atomic drop: write a hidden temporary, then rename it in.
void drop(const fs::path& dir, const std::string& name, std::string_view text) {
    write_file(dir / (name + ".tmp"), text);
    fs::rename(dir / (name + ".tmp"), dir / name);
}

class Spool : public ::testing::Test {
protected:
    Spool() : root_(fs::path(::testing::TempDir()) / ("spool-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
        fs::remove_all(root_);
        fs::create_directories(spool_);
        start();
    }
    ~Spool() override {
        stop();
        fs::remove_all(root_);
    }

    spool::spool_params params() const { return {spool_, 2, 5}; }

    void start() {
        exporter_ = std::make_unique<exporter::exporter>(std::make_unique<exporter::sqlite_queues>(root_ / "output"), root_ / "state");
        intake_ = std::make_unique<spool::spool_intake>(io_.get_executor(), *exporter_, params(), logger_);
        intake_->on_recorded = [this] { ++recorded_; };
    }
    // As a crash leaves things: the objects go, the files stay.
    void stop() {
        intake_.reset();
        exporter_.reset();
    }
    void restart() {
        stop();
        start();
    }

    // Runs the intake until `done()` holds (checked every 10 ms); `produce`
    // runs once the start-up scan is over and the watch is up. The minute's limit only stops a hung test.
    void run_until(const std::function<bool()>& done, const std::function<void()>& produce = {}) {
        log_.clear();
        std::exception_ptr failure;
        bool ended = false;
        asio::co_spawn(io_, intake_->run(), [&](std::exception_ptr e) {
            failure = e;
            ended = true;
        });
        auto watcher = [&]() -> asio::awaitable<void> {
            asio::steady_timer timer(io_);
            auto give_up = std::chrono::steady_clock::now() + 60s;
            bool produced = false;
            while (!ended) {
                timer.expires_after(10ms);
                co_await timer.async_wait(asio::use_awaitable);
                // After the start-up scan, so that only the watch sees what is produced.
                if (!produced && logged("spool: watching")) {
                    if (produce) produce();
                    produced = true;
                }
                if (done() || std::chrono::steady_clock::now() > give_up) break;
            }
            intake_->stop();
        };
        asio::co_spawn(io_, watcher(), asio::detached);
        io_.restart();
        io_.run();
        if (failure) std::rethrow_exception(failure);
        ASSERT_TRUE(done()) << "the spool did not get there within a minute";
    }

    template <class T>
    T on_store(std::function<T(state::state_store&)> f) {
        T out{};
        auto visit = [&]() -> asio::awaitable<void> {
            std::function<void(state::state_store&)> work = [&](state::state_store& s) { out = f(s); };
            co_await exporter_->visit(work);
        };
        test::run(io_, visit());
        return out;
    }
    std::vector<std::string> batch_dids(std::int64_t batch) {
        return on_store<std::vector<std::string>>([&](state::state_store& s) {
            std::vector<std::string> dids;
            s.for_each_in_batch(batch, [&](const state::did_row& r) { dids.push_back(r.did); });
            return dids;
        });
    }
    std::vector<state::spool_file_row> rows(spool_state st) {
        return on_store<std::vector<state::spool_file_row>>([&](state::state_store& s) { return s.spool_files(st); });
    }
    std::size_t all_rows() {
        std::size_t n = 0;
        for (auto st : {spool_state::recording, spool_state::recorded, spool_state::accepted, spool_state::finished}) n += rows(st).size();
        return n;
    }
    std::int64_t known_dids() {
        return on_store<std::int64_t>([](state::state_store& s) {
            std::int64_t n = 0;
            for (auto& [status, count] : s.status_counts()) n += count;
            return n;
        });
    }
    void end_all(std::int64_t batch, did_status status, const std::string& error = "") {
        for (const auto& did : batch_dids(batch)) {
            // Named arguments: GCC 12 destroys a temporary argument of a coroutine twice.
            auto finish = [&]() -> asio::awaitable<void> {
                state::did_result none;
                co_await exporter_->finish(did, status, error, none);
            };
            test::run(io_, finish());
        }
    }
    void check_finished() {
        auto work = [&]() -> asio::awaitable<void> { co_await intake_->check_finished(); };
        test::run(io_, work());
    }
    bool exists(const std::string& relative) const { return fs::exists(spool_ / relative); }
    bool logged(std::string_view part) const {
        return std::any_of(log_.begin(), log_.end(), [&](const std::string& line) { return line.find(part) != std::string::npos; });
    }

    fs::path root_;
    fs::path spool_ = root_ / "spool";
    asio::io_context io_;
    std::unique_ptr<exporter::exporter> exporter_;
    std::unique_ptr<spool::spool_intake> intake_;
    int recorded_ = 0;
    std::vector<std::string> log_;
    log::logger logger_{[this](log::level, std::string_view line) { log_.emplace_back(line); }, log::level::debug};
    static inline int counter_ = 0;
};

TEST_F(Spool, AnAtomicDropIsRecordedMovedReportedAndAnsweredWhenItsDidsEnd) {
    run_until([&] { return exists("accepted/list.txt.report.json"); }, [&] { drop(spool_, "list.txt", lines_of(0, 3)); });
    EXPECT_FALSE(exists("list.txt"));
    EXPECT_EQ(read_file(spool_ / "accepted/list.txt"), lines_of(0, 3));
    EXPECT_EQ(recorded_, 1);
    auto accepted = rows(spool_state::accepted);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(batch_dids(accepted[0].batch), (std::vector<std::string>{did_number(0), did_number(1), did_number(2)}));
    auto report = read_json(spool_ / "accepted/list.txt.report.json").as_object();
    EXPECT_EQ(report.at("file"), "list.txt");
    EXPECT_EQ(report.at("dids"), 3);
    EXPECT_EQ(report.at("rejected").as_array().size(), 0u);

    // Not before every DID has ended.
    auto first = did_number(0);
    auto finish_one = [&]() -> asio::awaitable<void> {
        state::did_result none;
        std::string reason = "PDS gone";
        co_await exporter_->finish(first, did_status::failed, reason, none);
    };
    test::run(io_, finish_one());
    check_finished();
    EXPECT_FALSE(exists("finished/list.txt.result.json"));
    end_all(accepted[0].batch, did_status::not_found);
    check_finished();
    auto result = read_json(spool_ / "finished/list.txt.result.json").as_object();
    EXPECT_EQ(result.at("total_batches"), 2);  // ceil(3 DIDs / batch_size 2)
    EXPECT_EQ(result.at("account_states").as_object().size(), 3u);
    EXPECT_EQ(rows(spool_state::finished).size(), 1u);
}

TEST_F(Spool, ASlowWriterIsReadOnlyOnceItClosesTheFile) {
    auto text = lines_of(0, 400);
    std::thread writer;
    run_until([&] { return exists("accepted/slow.txt.report.json"); },
              [&] {
                  writer = std::thread([&] {
                      std::ofstream out(spool_ / "slow.txt", std::ios::binary);
                      out << text.substr(0, text.size() / 2 + 7) << std::flush;  // mid-line
                      std::this_thread::sleep_for(300ms);
                      out << text.substr(text.size() / 2 + 7) << std::flush;
                  });
              });
    writer.join();
    EXPECT_EQ(read_json(spool_ / "accepted/slow.txt.report.json").at("dids"), 400);
    EXPECT_EQ(read_json(spool_ / "accepted/slow.txt.report.json").at("rejected").as_array().size(), 0u);
    EXPECT_EQ(batch_dids(rows(spool_state::accepted).at(0).batch).size(), 400u);
}

TEST_F(Spool, FiftyFilesAtOnceAreFiftyBatches) {
    auto all_reported = [&] {
        for (int i = 0; i < 50; ++i)
            if (!exists("accepted/f" + std::to_string(i) + ".txt.report.json")) return false;
        return true;
    };
    run_until(all_reported, [&] {
        for (int i = 0; i < 50; ++i) write_file(spool_ / (".f" + std::to_string(i) + ".txt"), lines_of(i * 20, 20));
        for (int i = 0; i < 50; ++i) fs::rename(spool_ / (".f" + std::to_string(i) + ".txt"), spool_ / ("f" + std::to_string(i) + ".txt"));
    });
    auto accepted = rows(spool_state::accepted);
    ASSERT_EQ(accepted.size(), 50u);
    for (const auto& row : accepted) {
        auto i = std::stoul(row.name.substr(1));
        EXPECT_EQ(batch_dids(row.batch).size(), 20u) << row.name;
        EXPECT_EQ(batch_dids(row.batch).front(), did_number(i * 20)) << row.name;
    }
    EXPECT_EQ(known_dids(), 1000);
}

TEST_F(Spool, EveryInvalidLineIsInTheReport) {
    std::string text = "# participants\n\n" + did_number(1) + "\nnot-a-did\n" + did_number(1) + "\ndid:key:zQ3sh\r\n" + did_number(2);
    run_until([&] { return exists("accepted/mixed.txt.report.json") && exists("accepted/people.csv.report.json"); }, [&] {
        drop(spool_, "mixed.txt", text);
        drop(spool_, "people.csv", "handle,did\nalice," + did_number(7) + "\nbob,nope\n");
    });
    auto report = read_json(spool_ / "accepted/mixed.txt.report.json").as_object();
    EXPECT_EQ(report.at("dids"), 2);
    EXPECT_EQ(report.at("duplicates"), 1);
    auto& rejected = report.at("rejected").as_array();
    ASSERT_EQ(rejected.size(), 2u);
    EXPECT_EQ(rejected[0].at("line"), 4);
    EXPECT_EQ(rejected[0].at("text"), "not-a-did");
    EXPECT_NE(std::string(rejected[0].at("reason").as_string()).find("not a DID"), std::string::npos);
    EXPECT_EQ(rejected[1].at("line"), 6);
    EXPECT_EQ(rejected[1].at("text"), "did:key:zQ3sh");
    auto csv = read_json(spool_ / "accepted/people.csv.report.json").as_object();
    EXPECT_EQ(csv.at("dids"), 1);
    ASSERT_EQ(csv.at("rejected").as_array().size(), 1u);
    EXPECT_EQ(csv.at("rejected").as_array()[0].at("line"), 3);
}

TEST_F(Spool, FilesThatAreNotTextAreRejectedWithTheReasonAndLeaveNothingBehind) {
    fs::create_directory(spool_ / "dir.txt");
    write_file(spool_ / "binary.txt", lines_of(0, 3) + std::string("\x1f\x8b\x08\0\0", 5));
    write_file(spool_ / "latin1.txt", lines_of(0, 3) + "# caf\xe9\n");
    // Past the first read and several chunks: the recorded part must be rolled back.
    write_file(spool_ / "late.txt", lines_of(100, 40000) + std::string(1, '\0'));
    run_until([&] { return exists("rejected/late.txt.error"); });
    for (const char* name : {"dir.txt", "binary.txt", "latin1.txt", "late.txt"}) {
        EXPECT_TRUE(exists(std::string("rejected/") + name)) << name;
        EXPECT_FALSE(exists(name)) << name;
    }
    EXPECT_NE(read_file(spool_ / "rejected/dir.txt.error").find("not a regular file"), std::string::npos);
    EXPECT_NE(read_file(spool_ / "rejected/binary.txt.error").find("byte offset 102 is a NUL byte"), std::string::npos);
    EXPECT_NE(read_file(spool_ / "rejected/latin1.txt.error").find("line 4 is not UTF-8"), std::string::npos);
    EXPECT_NE(read_file(spool_ / "rejected/late.txt.error").find("byte offset 1320000 is a NUL byte"), std::string::npos);
    EXPECT_EQ(all_rows(), 0u);
    EXPECT_EQ(known_dids(), 0);
}

// The reason is durable before the move: a crash between the two leaves the
// file in spool_dir, and the next start rejects it once, under the same name.
TEST_F(Spool, ACrashBetweenARejectionsReasonAndItsMoveRejectsTheFileOnceAtTheNextStart) {
    bool crashed = false;
    intake_->after_step = [&](spool::step s, const fs::path&) { return !(crashed = s == spool::step::error_written); };
    write_file(spool_ / "binary.txt", lines_of(0, 3) + std::string(1, '\0'));
    run_until([&] { return crashed; });
    EXPECT_TRUE(exists("binary.txt"));
    EXPECT_TRUE(exists("rejected/binary.txt.error"));
    EXPECT_FALSE(exists("rejected/binary.txt"));
    restart();
    run_until([&] { return exists("rejected/binary.txt"); });
    EXPECT_FALSE(exists("binary.txt"));
    EXPECT_FALSE(exists("rejected/binary~2.txt"));
    EXPECT_NE(read_file(spool_ / "rejected/binary.txt.error").find("byte offset 99 is a NUL byte"), std::string::npos);
    EXPECT_EQ(all_rows(), 0u);
}

// An .error whose file never moved (the file was fixed meanwhile, and accepted)
// is removed; a rejected file without its .error (moved by an older build just
// before a crash) gets one that says the reason was lost.
TEST_F(Spool, StartUpLeavesEveryRejectedFileWithItsErrorAndNoErrorWithoutItsFile) {
    fs::create_directories(spool_ / "rejected");
    write_file(spool_ / "rejected/orphan.txt.error", "orphan.txt: cannot be read as a DID list: line 1 is not UTF-8 text\n");
    write_file(spool_ / "rejected/old.txt", "\xff\n");
    write_file(spool_ / "fixed.txt", lines_of(0, 2));
    run_until([&] { return exists("accepted/fixed.txt.report.json"); });
    EXPECT_FALSE(exists("rejected/orphan.txt.error"));
    EXPECT_TRUE(exists("rejected/old.txt"));
    EXPECT_NE(read_file(spool_ / "rejected/old.txt.error").find("old.txt: rejected before a restart; the reason was lost"),
              std::string::npos);
}

TEST_F(Spool, FilesWaitingAtStartUpAreReadAndOthersAreLeftAlone) {
    write_file(spool_ / "waiting.jsonl", "{\"did\":\"" + did_number(5) + "\"}\n");
    write_file(spool_ / ".hidden.txt", lines_of(0, 1));
    write_file(spool_ / "partial.txt.tmp", lines_of(0, 1));
    write_file(spool_ / "notes.md", lines_of(0, 1));
    run_until([&] { return exists("accepted/waiting.jsonl.report.json"); });
    for (const char* name : {".hidden.txt", "partial.txt.tmp", "notes.md"}) EXPECT_TRUE(exists(name)) << name;
    EXPECT_EQ(all_rows(), 1u);
    EXPECT_EQ(known_dids(), 1);
}

TEST_F(Spool, TheSameNameDroppedAgainIsANewBatchUnderANewName) {
    run_until([&] { return exists("accepted/list.txt.report.json"); }, [&] { drop(spool_, "list.txt", lines_of(0, 2)); });
    run_until([&] { return exists("accepted/list~2.txt.report.json"); }, [&] { drop(spool_, "list.txt", lines_of(10, 3)); });
    EXPECT_EQ(read_file(spool_ / "accepted/list.txt"), lines_of(0, 2));
    EXPECT_EQ(read_file(spool_ / "accepted/list~2.txt"), lines_of(10, 3));
    EXPECT_EQ(read_json(spool_ / "accepted/list~2.txt.report.json").at("file"), "list.txt");
    auto accepted = rows(spool_state::accepted);
    ASSERT_EQ(accepted.size(), 2u);
    for (const auto& row : accepted) end_all(row.batch, did_status::done);
    check_finished();
    EXPECT_EQ(read_json(spool_ / "finished/list.txt.result.json").at("did_to_backfill_counts_map").as_object().size(), 2u);
    EXPECT_EQ(read_json(spool_ / "finished/list~2.txt.result.json").at("did_to_backfill_counts_map").as_object().size(), 3u);
}

// A crash after each step: the objects are dropped where the hook stops the
// file, a fresh intake on the same directories must finish the protocol.
class SpoolCrash : public Spool, public ::testing::WithParamInterface<spool::step> {};

TEST_P(SpoolCrash, AFreshIntakeFinishesTheFileOnceWithEveryDid) {
    auto crash_at = GetParam();
    bool crashed = false;
    auto crash_hook = [&](spool::step s, const fs::path&) {
        if (s == crash_at) crashed = true;
        return s != crash_at;
    };
    intake_->after_step = crash_hook;
    auto text = lines_of(0, 12);
    run_until([&] { return crashed; }, [&] { drop(spool_, "list.txt", text); });
    restart();
    run_until([&] { return logged("list.txt: accepted as batch"); });
    EXPECT_FALSE(exists("list.txt"));
    EXPECT_EQ(read_file(spool_ / "accepted/list.txt"), text);
    EXPECT_EQ(all_rows(), 1u);
    auto row = rows(spool_state::accepted).at(0);
    EXPECT_EQ(batch_dids(row.batch).size(), 12u);
    EXPECT_EQ(read_json(spool_ / "accepted/list.txt.report.json").at("dids"), 12);
    EXPECT_FALSE(exists("accepted/list~2.txt"));
}

INSTANTIATE_TEST_SUITE_P(AfterEachStep, SpoolCrash, ::testing::Values(spool::step::recorded, spool::step::moved, spool::step::reported));

TEST_F(Spool, ACrashBetweenTheLastDidAndItsResultIsAnsweredAtStart) {
    run_until([&] { return exists("accepted/list.txt.report.json"); }, [&] { drop(spool_, "list.txt", lines_of(0, 3)); });
    auto batch = rows(spool_state::accepted).at(0).batch;
    end_all(batch, did_status::done);
    // The DIDs ended, but the daemon died before it answered.
    restart();
    bool crashed = false;
    intake_->after_step = [&](spool::step s, const fs::path&) { return !(crashed = s == spool::step::result_written); };
    check_finished();
    ASSERT_TRUE(crashed);
    EXPECT_TRUE(rows(spool_state::finished).empty());
    restart();
    run_until([&] { return logged("list.txt: all 3 DIDs ended"); });
    auto result = read_json(spool_ / "finished/list.txt.result.json").as_object();
    EXPECT_EQ(result.at("did_to_backfill_counts_map").as_object().size(), 3u);
    EXPECT_EQ(all_rows(), 1u);
}

TEST_F(Spool, AHalfRecordedFileIsRolledBackAndReadAgain) {
    write_file(spool_ / "list.txt", lines_of(0, 12));
    // As a crash mid-file leaves the store: the row still recording, one chunk in.
    auto identity = on_store<state::file_identity>([&](state::state_store&) {
        struct stat st {};
        ::stat((spool_ / "list.txt").c_str(), &st);
        return state::file_identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), st.st_size,
                                    st.st_mtim.tv_sec * 1'000'000'000 + st.st_mtim.tv_nsec};
    });
    auto partial = on_store<std::int64_t>([&](state::state_store& s) {
        auto row = s.begin_spool_file("list.txt", "list.txt", identity);
        s.add_to_batch(row.batch, {did_number(0), did_number(1), did_number(99)});
        return row.batch;
    });
    run_until([&] { return exists("accepted/list.txt.report.json"); });
    EXPECT_TRUE(batch_dids(partial).empty());
    EXPECT_EQ(all_rows(), 1u);
    EXPECT_EQ(batch_dids(rows(spool_state::accepted).at(0).batch).size(), 12u);
    EXPECT_EQ(known_dids(), 12);  // did_number(99) was only in the partial batch
}

TEST_F(Spool, AFileReplacedBeforeItsMoveIsBothBatches) {
    bool crashed = false;
    intake_->after_step = [&](spool::step s, const fs::path&) { return !(crashed = s == spool::step::recorded); };
    run_until([&] { return crashed; }, [&] { drop(spool_, "list.txt", lines_of(0, 2)); });
    restart();
    drop(spool_, "list.txt", lines_of(10, 3));  // renamed over the recorded, unmoved file
    run_until([&] { return exists("accepted/list~2.txt.report.json"); });
    EXPECT_FALSE(exists("accepted/list.txt"));  // that file is gone, its DIDs are not
    EXPECT_EQ(read_json(spool_ / "accepted/list.txt.report.json").at("dids"), 2);
    EXPECT_EQ(read_file(spool_ / "accepted/list~2.txt"), lines_of(10, 3));
    EXPECT_EQ(known_dids(), 5);
}

}  // namespace
