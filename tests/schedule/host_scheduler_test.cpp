// The work loop's decision core with a simulated clock: paused and capped
// hosts yield, hosts take turns, the look-ahead is bounded, reloads apply.
#include "schedule/host_scheduler.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace {

using namespace bsky::schedule;
using namespace std::chrono_literals;

struct simulated_hosts {
    clock::time_point now{};  // the simulated clock
    std::map<std::string, clock::time_point> open_at;
    host_gate gate() {
        return [this](const std::string& host, clock::time_point t) {
            auto it = open_at.find(host);
            return it == open_at.end() ? t : std::max(t, it->second);
        };
    }
};

void fill(host_scheduler& s, const std::string& host, int n) {
    for (int i = 0; i < n; ++i) s.enqueue({host + "-did" + std::to_string(i), host});
}

std::vector<work_item> start_all(host_scheduler& s, simulated_hosts& hosts) {
    std::vector<work_item> started;
    for (;;) {
        auto d = s.next(hosts.now, hosts.gate());
        if (!d.start) return started;
        started.push_back(*d.start);
    }
}

TEST(HostScheduler, APausedHostDoesNotBlockTheOthers) {
    host_scheduler s({.max_in_flight = 100, .max_in_flight_per_host = 100});
    simulated_hosts hosts;
    fill(s, "paused", 5);
    fill(s, "open", 3);
    hosts.open_at["paused"] = hosts.now + 60s;
    auto started = start_all(s, hosts);
    ASSERT_EQ(started.size(), 3u);
    for (const auto& w : started) EXPECT_EQ(w.host, "open");
    auto d = s.next(hosts.now, hosts.gate());
    EXPECT_FALSE(d.start);
    EXPECT_EQ(d.retry_at, hosts.now + 60s) << "the caller must learn when the paused host reopens";
    hosts.now += 60s;
    EXPECT_EQ(start_all(s, hosts).size(), 5u);
}

TEST(HostScheduler, AHostAtItsCapYieldsUntilOneOfItsDidsFinishes) {
    host_scheduler s({.max_in_flight = 100, .max_in_flight_per_host = 2});
    simulated_hosts hosts;
    fill(s, "a", 5);
    fill(s, "b", 1);
    auto started = start_all(s, hosts);
    ASSERT_EQ(started.size(), 3u);
    EXPECT_EQ(std::count_if(started.begin(), started.end(), [](auto& w) { return w.host == "a"; }), 2);
    auto d = s.next(hosts.now, hosts.gate());
    EXPECT_FALSE(d.start);
    EXPECT_EQ(d.retry_at, clock::time_point::max()) << "only a finishing DID can reopen a host at its cap";
    s.finished("a");
    d = s.next(hosts.now, hosts.gate());
    ASSERT_TRUE(d.start);
    EXPECT_EQ(d.start->host, "a");
}

TEST(HostScheduler, TheGlobalCapHoldsEveryHost) {
    host_scheduler s({.max_in_flight = 3, .max_in_flight_per_host = 10});
    simulated_hosts hosts;
    fill(s, "a", 5);
    fill(s, "b", 5);
    EXPECT_EQ(start_all(s, hosts).size(), 3u);
    EXPECT_EQ(s.in_flight(), 3u);
    s.finished("b");
    EXPECT_EQ(start_all(s, hosts).size(), 1u);
}

TEST(HostScheduler, TenDidsOfOneHostAreNotStarvedByTenThousandOfAnother) {
    host_scheduler s({.max_in_flight = 1, .max_in_flight_per_host = 1});
    simulated_hosts hosts;
    fill(s, "big", 10'000);
    fill(s, "small", 10);
    // One slot: each start is followed by its finish, as a real run does.
    std::vector<std::string> order;
    for (int i = 0; i < 20; ++i) {
        auto d = s.next(hosts.now, hosts.gate());
        ASSERT_TRUE(d.start);
        order.push_back(d.start->host);
        s.finished(d.start->host);
    }
    EXPECT_EQ(std::count(order.begin(), order.end(), "small"), 10) << "hosts must take turns";
    EXPECT_EQ(s.waiting_for("small"), 0u);
    EXPECT_EQ(s.waiting_for("big"), 10'000u - 10);
}

TEST(HostScheduler, TheLookAheadIsBounded) {
    host_scheduler s({.max_waiting = 4});
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(s.has_room());
        s.enqueue({"did" + std::to_string(i), "h" + std::to_string(i % 2)});
    }
    EXPECT_FALSE(s.has_room());
    simulated_hosts hosts;
    ASSERT_TRUE(s.next(hosts.now, hosts.gate()).start);
    EXPECT_TRUE(s.has_room()) << "a started DID leaves the look-ahead";
}

TEST(HostScheduler, AReloadChangesDecisionsFromTheNextOneOn) {
    host_scheduler s({.max_in_flight = 100, .max_in_flight_per_host = 1});
    simulated_hosts hosts;
    fill(s, "a", 10);
    EXPECT_EQ(start_all(s, hosts).size(), 1u);
    s.set_params({.max_in_flight = 100, .max_in_flight_per_host = 4});
    EXPECT_EQ(start_all(s, hosts).size(), 3u);
    s.set_params({.max_in_flight = 4, .max_in_flight_per_host = 4, .max_waiting = 2});
    EXPECT_FALSE(s.has_room()) << "6 waiting, look-ahead now 2";
}

TEST(HostScheduler, ThrottledHostsReportTheEarliestReopening) {
    host_scheduler s({});
    simulated_hosts hosts;
    fill(s, "a", 1);
    fill(s, "b", 1);
    hosts.open_at["a"] = hosts.now + 5s;
    hosts.open_at["b"] = hosts.now + 2s;
    auto d = s.next(hosts.now, hosts.gate());
    EXPECT_FALSE(d.start);
    EXPECT_EQ(d.retry_at, hosts.now + 2s);
    hosts.now += 2s;
    d = s.next(hosts.now, hosts.gate());
    ASSERT_TRUE(d.start);
    EXPECT_EQ(d.start->host, "b");
}

TEST(HostScheduler, IdleHostsAreForgotten) {
    host_scheduler s({});
    simulated_hosts hosts;
    for (int i = 0; i < 1000; ++i) s.enqueue({"did" + std::to_string(i), "host" + std::to_string(i)});
    EXPECT_EQ(s.hosts(), 1000u);
    std::set<std::string> running;
    for (;;) {
        auto d = s.next(hosts.now, hosts.gate());
        if (!d.start) break;
        s.finished(d.start->host);
    }
    EXPECT_EQ(s.waiting(), 0u);
    EXPECT_EQ(s.hosts(), 0u) << "memory must not grow with the number of hosts seen";
}

}  // namespace
