#include "ops/metrics_server.hpp"
#include "ops/status_monitor.hpp"
#include "export/exporter.hpp"
#include "export/sqlite_queues.hpp"
#include "state/state_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <unistd.h>
#include <thread>

namespace bsky {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A blocking HTTP/1.0-style exchange on its own thread: send `request`, read to EOF.
std::future<std::string> http_exchange(const std::string& address, std::string request) {
    return std::async(std::launch::async, [address, request] {
        std::string host;
        unsigned short port = 0;
        ops::split_host_port(address, host, port);
        asio::io_context io;
        tcp::socket socket(io);
        socket.connect({asio::ip::make_address(host), port});
        asio::write(socket, asio::buffer(request));
        std::string reply;
        boost::system::error_code ec;
        asio::read(socket, asio::dynamic_buffer(reply), ec);
        return reply;
    });
}

// Serves on the test thread until every exchange has its answer.
std::vector<std::string> serve(ops::metrics_server& server, asio::io_context& io, std::vector<std::future<std::string>> pending) {
    auto runner = [&]() -> asio::awaitable<void> { co_await server.run(); };
    io.restart();
    asio::co_spawn(io, runner(), asio::detached);
    std::vector<std::string> out;
    for (auto& f : pending) {
        while (f.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) io.run_one_for(std::chrono::milliseconds(50));
        out.push_back(f.get());
    }
    server.stop();
    io.run_for(std::chrono::milliseconds(200));
    return out;
}

TEST(MetricsServer, MetricsHealthAndErrors) {
    asio::io_context io;
    metrics::registry registry;
    registry.counter("bsky_dids_total", "DIDs by state", "state").add("done", 7);
    ops::metrics_server server(io.get_executor(), "127.0.0.1:0", registry);
    auto address = server.local_address();
    ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;
    std::string unhealthy;
    server.set_health_check([&] { return unhealthy; });

    std::vector<std::future<std::string>> pending;
    pending.push_back(http_exchange(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto replies = serve(server, io, std::move(pending));
    EXPECT_TRUE(replies[0].starts_with("HTTP/1.1 200 OK\r\n")) << replies[0];
    EXPECT_NE(replies[0].find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << replies[0];
    EXPECT_NE(replies[0].find("\r\n\r\n# HELP bsky_dids_total DIDs by state\n"), std::string::npos) << replies[0];
    EXPECT_NE(replies[0].find("bsky_dids_total{state=\"done\"} 7\n"), std::string::npos) << replies[0];
}

TEST(MetricsServer, HealthNotFoundAndMethods) {
    asio::io_context io;
    metrics::registry registry;
    ops::metrics_server server(io.get_executor(), "127.0.0.1:0", registry);
    auto address = server.local_address();
    std::string unhealthy;
    server.set_health_check([&] { return unhealthy; });

    std::vector<std::future<std::string>> first;
    first.push_back(http_exchange(address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto ok = serve(server, io, std::move(first));
    EXPECT_TRUE(ok[0].starts_with("HTTP/1.1 200 OK\r\n")) << ok[0];
    EXPECT_TRUE(ok[0].ends_with("\r\n\r\nok\n")) << ok[0];

    ops::metrics_server again(io.get_executor(), "127.0.0.1:0", registry);
    address = again.local_address();
    again.set_health_check([] { return std::string("the state store is not writable"); });
    std::vector<std::future<std::string>> more;
    more.push_back(http_exchange(address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    more.push_back(http_exchange(address, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));
    more.push_back(http_exchange(address, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    more.push_back(http_exchange(address, "not http at all\r\n\r\n"));
    more.push_back(http_exchange(address, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto replies = serve(again, io, std::move(more));
    EXPECT_TRUE(replies[0].starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << replies[0];
    EXPECT_TRUE(replies[0].ends_with("the state store is not writable\n")) << replies[0];
    EXPECT_TRUE(replies[1].starts_with("HTTP/1.1 404 Not Found\r\n")) << replies[1];
    EXPECT_TRUE(replies[2].starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << replies[2];
    EXPECT_EQ(replies[3], "") << "a request that is not HTTP gets the connection closed";
    EXPECT_TRUE(replies[4].starts_with("HTTP/1.1 200 OK\r\n")) << replies[4];
    EXPECT_TRUE(replies[4].ends_with("\r\n\r\n")) << "HEAD has no body: " << replies[4];
}

TEST(MetricsServer, BadOrBusyAddressesAreStartUpErrorsNamingThem) {
    asio::io_context io;
    metrics::registry registry;
    try {
        ops::metrics_server bad(io.get_executor(), "localhost-ish", registry);
        FAIL() << "accepted a listen address without a port";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("localhost-ish"), std::string::npos) << e.what();
    }
    ops::metrics_server first(io.get_executor(), "127.0.0.1:0", registry);
    try {
        ops::metrics_server second(io.get_executor(), first.local_address(), registry);
        FAIL() << "bound a port that is taken";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(first.local_address()), std::string::npos) << e.what();
    }
}

TEST(MetricsServer, SplitsHostAndPort) {
    std::string host;
    unsigned short port = 0;
    ASSERT_TRUE(ops::split_host_port("[::1]:9464", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 9464);
    EXPECT_FALSE(ops::split_host_port("127.0.0.1:99999", host, port));
    EXPECT_FALSE(ops::split_host_port(":80", host, port));
    EXPECT_FALSE(ops::split_host_port("127.0.0.1:", host, port));
}

TEST(MetricsServer, StatusPageAndJsonOnlyWithASource) {
    asio::io_context io;
    metrics::registry registry;
    ops::metrics_server server(io.get_executor(), "127.0.0.1:0", registry);
    auto address = server.local_address();
    std::vector<std::future<std::string>> before;
    before.push_back(http_exchange(address, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto replies = serve(server, io, std::move(before));
    EXPECT_TRUE(replies[0].starts_with("HTTP/1.1 404")) << replies[0];

    ops::metrics_server with_page(io.get_executor(), "127.0.0.1:0", registry);
    address = with_page.local_address();
    with_page.set_status_source([] { return std::string(R"({"total":3})"); });
    std::vector<std::future<std::string>> pending;
    pending.push_back(http_exchange(address, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    pending.push_back(http_exchange(address, "GET /status.json?t=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    replies = serve(with_page, io, std::move(pending));
    EXPECT_TRUE(replies[0].starts_with("HTTP/1.1 200 OK\r\n")) << replies[0];
    EXPECT_NE(replies[0].find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(replies[0].find("fetch(\"status.json\""), std::string::npos) << "the page refreshes itself";
    EXPECT_EQ(replies[0].find("src=\"http"), std::string::npos) << "no external assets";
    EXPECT_TRUE(replies[1].starts_with("HTTP/1.1 200 OK\r\n")) << replies[1];
    EXPECT_NE(replies[1].find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_TRUE(replies[1].ends_with("\r\n\r\n{\"total\":3}")) << replies[1];
}

TEST(StatusMonitor, ProbeFailsWhereNoFileCanBeCreated) {
    auto dir = std::filesystem::temp_directory_path() / ("probe-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    EXPECT_EQ(ops::probe_writable(dir), "");
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "the probe file is removed";
    // A file where the directory should be: fails for root too.
    auto file = dir / "not-a-dir";
    { std::ofstream(file) << "x"; }
    auto why = ops::probe_writable(file);
    EXPECT_NE(why.find(file.string() + " does not take new files (Not a directory)"), std::string::npos) << why;
    std::filesystem::remove_all(dir);
}

// The value of an unlabelled series in a Prometheus text rendering (-1 when absent).
double scraped(const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST(StatusMonitor, ExporterWaitIsTheBacklogAheadOfTheRead) {
    auto dir = std::filesystem::temp_directory_path() / ("monitor-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    asio::io_context io;
    metrics::registry registry;
    {
        exporter::exporter ex(std::make_unique<exporter::sqlite_queues>(dir / "out"), dir / "state");
        ops::status_monitor monitor(ex, registry, {}, [] { return report::sample{}; }, [] { return std::vector<report::live_host>{}; });
        auto read = [&]() -> asio::awaitable<void> { co_await monitor.refresh(); };
        io.restart();
        asio::co_spawn(io, read(), asio::detached);
        io.run();
        auto idle = scraped(registry.render(), "bsky_exporter_wait_seconds");
        EXPECT_GE(idle, 0.0);
        EXPECT_LT(idle, 0.2) << "nothing else was queued";

        // Work handed to the exporter first (a slow commit, say) holds the read back.
        std::function<void(state::state_store&)> slow = [](state::state_store&) { std::this_thread::sleep_for(std::chrono::milliseconds(400)); };
        auto busy = [&]() -> asio::awaitable<void> { co_await ex.visit(slow); };
        io.restart();
        asio::co_spawn(io, busy(), asio::detached);
        asio::co_spawn(io, read(), asio::detached);
        io.run();
        auto text = registry.render();
        EXPECT_GE(scraped(text, "bsky_exporter_wait_seconds"), 0.35) << text;
        EXPECT_LT(scraped(text, "bsky_exporter_wait_seconds"), scraped(text, "bsky_state_read_seconds") + 1e-9) << text;
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bsky
