// Loopback fetch benchmark: many repo-sized GETs from a local server through
// the real client, limiter and fetcher, with and without TLS.
//   fetch_bench [REQUESTS] [BODY_BYTES] [CONCURRENCY]
// Prints one JSON line per mode.
#include "net/fetcher.hpp"
#include "net/http_client.hpp"
#include "support/test_server.hpp"
#include "support/test_tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

using namespace bsky;
namespace asio = boost::asio;

int main(int argc, char** argv) {
    int requests = argc > 1 ? std::atoi(argv[1]) : 2000;
    std::size_t body_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64 * 1024;
    int concurrency = argc > 3 ? std::atoi(argv[3]) : 8;
    std::string body(body_bytes, 'r');
    test::test_ca ca;
    auto ca_file = ca.write_certificate(std::filesystem::temp_directory_path());
    for (bool tls : {false, true}) {
        test::test_server server([&](const test::request_info&, test::exchange& ex) { ex.respond({.body = body}); },
                                 tls ? std::optional(ca.issue({"localhost"}, {"127.0.0.1"})) : std::nullopt);
        asio::io_context io;
        net::client_params params;
        params.allow_private_addresses = true;
        params.ca_file = ca_file;
        params.max_idle_per_host = static_cast<std::size_t>(concurrency);
        net::http_client client(io.get_executor(), params);
        rate::host_limiter limiter(io.get_executor(), {.requests_per_window = 1e9, .window_seconds = 1, .burst = 1e9,
                                                        .max_concurrent_per_host = static_cast<std::uint32_t>(concurrency),
                                                        .max_concurrent_total = static_cast<std::uint32_t>(concurrency)});
        net::fetcher fetcher(client, limiter, {});
        std::uint64_t bytes = 0;
        int failures = 0, remaining = requests;
        auto url = server.origin("localhost") + "/xrpc/com.atproto.sync.getRepo?did=did:plc:bench";
        auto start = std::chrono::steady_clock::now();
        auto worker = [&]() -> asio::awaitable<void> {
                while (remaining > 0) {
                    --remaining;
                    auto r = co_await fetcher.get(url, "bench", [&]() -> net::body_handler {
                        return [&](std::span<const std::uint8_t> b) {
                            bytes += b.size();
                            return std::error_code{};
                        };
                    });
                    if (r.ec || r.resp.status != 200) ++failures;
                }
        };
        for (int w = 0; w < concurrency; ++w) asio::co_spawn(io, worker(), asio::detached);
        io.run();
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        auto stats = client.stats();
        std::printf("{\"tls\":%s,\"requests\":%d,\"body_bytes\":%zu,\"concurrency\":%d,\"seconds\":%.3f,\"requests_per_s\":%.0f,"
                    "\"MBps\":%.1f,\"connections_opened\":%llu,\"reuse_rate\":%.3f,\"failures\":%d}\n",
                    tls ? "true" : "false", requests, body_bytes, concurrency, seconds, requests / seconds,
                    static_cast<double>(bytes) / 1e6 / seconds, static_cast<unsigned long long>(stats.connections_opened),
                    1.0 - static_cast<double>(stats.connections_opened) / requests, failures);
    }
    return 0;
}
