// The spool protocol's decisions, as tables.
#include "spool/decisions.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace bsky::spool;
using bsky::state::file_identity;
using bsky::state::spool_file_row;
using bsky::state::spool_state;

TEST(SpoolDecisions, OnlyDidListsThatProducersFinishedAreRead) {
    for (const char* name : {"list.txt", "people.csv", "export.jsonl", "a.b.txt"})
        EXPECT_EQ(classify_entry(name), entry_kind::did_list) << name;
    for (const char* name : {".list.txt", "list.txt.tmp", "list.tmp", ".txt", "accepted", "finished", "rejected", "notes.md",
                             "list.txt.part", "list", ""})
        EXPECT_EQ(classify_entry(name), entry_kind::ignored) << name;
}

TEST(SpoolDecisions, ARepeatedNameGetsTheNextFreeNumber) {
    std::set<std::string> taken;
    auto is_taken = [&](std::string_view n) { return taken.count(std::string(n)) > 0; };
    EXPECT_EQ(stored_name("list.txt", is_taken), "list.txt");
    taken = {"list.txt"};
    EXPECT_EQ(stored_name("list.txt", is_taken), "list~2.txt");
    taken = {"list.txt", "list~2.txt", "list~3.txt"};
    EXPECT_EQ(stored_name("list.txt", is_taken), "list~4.txt");
    taken = {"a.b.jsonl"};
    EXPECT_EQ(stored_name("a.b.jsonl", is_taken), "a.b~2.jsonl");
}

TEST(SpoolDecisions, RecoveryMovesOnlyTheFileItRecorded) {
    file_identity recorded{1, 42, 100, 5}, newer{1, 43, 100, 5};
    auto row = [&](spool_state s) {
        spool_file_row r;
        r.state = s;
        r.identity = recorded;
        return r;
    };
    EXPECT_EQ(next_recovery_step(row(spool_state::recording), {false, recorded}), recovery_step::roll_back);
    EXPECT_EQ(next_recovery_step(row(spool_state::recorded), {false, recorded}), recovery_step::move);
    // Moved before the crash; or replaced by a newer drop of the same name; or withdrawn.
    EXPECT_EQ(next_recovery_step(row(spool_state::recorded), {true, std::nullopt}), recovery_step::write_report);
    EXPECT_EQ(next_recovery_step(row(spool_state::recorded), {true, newer}), recovery_step::write_report);
    EXPECT_EQ(next_recovery_step(row(spool_state::recorded), {false, newer}), recovery_step::write_report);
    EXPECT_EQ(next_recovery_step(row(spool_state::recorded), {false, std::nullopt}), recovery_step::write_report);
    EXPECT_EQ(next_recovery_step(row(spool_state::accepted), {true, std::nullopt}), recovery_step::check_finished);
    EXPECT_EQ(next_recovery_step(row(spool_state::finished), {true, std::nullopt}), recovery_step::none);
}

}  // namespace
