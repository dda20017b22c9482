#pragma once
// An HTTP/1.1 client for fetching from PDSes and directories: HTTPS with SNI
// and certificate + host-name verification, keep-alive connections reused per
// host, deadlines on every phase, gzip inflated as it streams, redirects, a
// size cap, and a guard against hosts on private networks. Bodies are handed
// to the caller chunk by chunk, never buffered whole.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace bsky::net {

enum class error {
    bad_url = 1,
    unsupported_scheme,
    private_address,
    too_many_redirects,
    body_too_large,
    connect_timeout,
    handshake_timeout,
    headers_timeout,
    idle_timeout,
    bad_gzip,
    truncated_body,
    consumer_failed,
    insecure_redirect,
    fetch_timeout,
};
const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

struct client_params {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds handshake_timeout{10'000};
    std::chrono::milliseconds headers_timeout{30'000};
    std::chrono::milliseconds idle_body_timeout{60'000};  ///< no body bytes for this long fails the fetch
    std::uint64_t max_body_bytes = 0;                      ///< decoded and on the wire; 0: no cap
    unsigned max_redirects = 3;
    bool allow_private_addresses = false;
    bool allow_insecure_http = false;  ///< follow a redirect from https to http
    std::size_t max_idle_per_host = 4;
    /// Open connections (idle and in use) at most: idle ones close, oldest
    /// first, to make room. Requests in flight are bounded by the rate
    /// limiter's concurrency caps, which must not exceed this.
    std::size_t max_open_connections = 64;
    std::chrono::milliseconds idle_connection_timeout{30'000};  ///< an unused keep-alive connection closes after this
    /// One get(), from the request to the last body byte, redirects included.
    std::chrono::milliseconds total_timeout{3'600'000};
    std::string user_agent = "bsky-backfill";
    std::filesystem::path ca_file;  ///< trusted in addition to the system store
    /// host -> address to connect to instead of resolving it (like curl --resolve);
    /// the host name is still used for SNI, certificate checks and Host. The
    /// operator chose these addresses, so the private-address guard, which is
    /// there against what DNS and hostile documents point at, lets them through.
    std::map<std::string, std::string> resolve_overrides;
};

struct response {
    unsigned status = 0;
    std::string final_url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string error_body;          ///< non-2xx bodies, decoded, first 64 KiB
    std::uint64_t body_bytes = 0;    ///< decoded bytes handed to the consumer
    std::uint64_t wire_bytes = 0;    ///< body bytes as received
    unsigned redirects = 0;
    bool reused_connection = false;
    std::string detail;              ///< a sentence about the failure, when there is one

    /// First value of a header, case-insensitively; empty when absent.
    std::string_view header(std::string_view name) const noexcept;
};

/// Receives 2xx body bytes (inflated). An error stops the transfer.
using body_handler = std::function<std::error_code(std::span<const std::uint8_t>)>;
/// Awaited after each delivered piece: lets a consumer write out what it
/// produced before more is read (backpressure). An error stops the transfer.
using drain_handler = std::function<boost::asio::awaitable<std::error_code>()>;

struct body_sink {
    body_sink() = default;
    body_sink(body_handler data, drain_handler after = {}) : on_data(std::move(data)), drain(std::move(after)) {}
    /// Any callable that takes the bytes (the common case: no drain).
    template <class F, class = std::enable_if_t<std::is_constructible_v<body_handler, F> && !std::is_same_v<std::decay_t<F>, body_sink> &&
                                                !std::is_same_v<std::decay_t<F>, body_handler>>>
    body_sink(F&& data) : on_data(std::forward<F>(data)) {}
    body_handler on_data;
    drain_handler drain;
};

/// Called around each hop of a get() (the first request and every redirect
/// followed), so a caller can be polite to the host that actually answers.
struct hop_hooks {
    /// Awaited before the hop's request is sent (e.g. to wait for that host's rate-limit permit).
    std::function<boost::asio::awaitable<void>(unsigned hop, const std::string& url)> before;
    /// Called once the hop's response headers (and, for a final answer, its body) are in.
    std::function<void(unsigned hop, const std::string& url, const response& resp)> after;
};

struct client_stats {
    std::uint64_t requests = 0;
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_reused = 0;
    std::uint64_t connections_expired = 0;  ///< idle past idle_connection_timeout
    std::uint64_t connections_evicted = 0;  ///< idle, closed to stay under max_open_connections
    std::size_t open_connections = 0;       ///< now, idle and in use
    std::size_t idle_connections = 0;       ///< now
};

/// @par Thread Safety
/// Not thread-safe: use it from the event loop thread (or one strand).
class http_client {
public:
    /// Throws std::runtime_error at start-up when the CA file cannot be loaded.
    http_client(boost::asio::any_io_executor executor, client_params params);
    ~http_client();

    /// GETs `url`, following redirects. 2xx bodies stream to `on_body`; other
    /// bodies land in `out.error_body`. The returned error covers transport
    /// failures only: an HTTP status is not an error here.
    boost::asio::awaitable<std::error_code> get(std::string url, response& out, body_sink sink,
                                                std::vector<std::pair<std::string, std::string>> extra_headers = {},
                                                hop_hooks hooks = {});

    /// A reloaded configuration for the requests that start after it. The CA
    /// file, the pinned hosts and the connection cap stay as they started
    /// (they need a restart).
    void set_params(client_params params);

    client_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// True for loopback, RFC 1918, CGNAT, link-local, ULA, multicast, unspecified,
/// broadcast, documentation, benchmarking and reserved addresses, and for IPv6
/// addresses that embed a private IPv4 one (IPv4-mapped, 6to4, NAT64; every
/// IPv4-compatible ::a.b.c.d and the local-use NAT64 64:ff9b:1::/48).
bool is_private_address(std::string_view address) noexcept;

}  // namespace bsky::net

template <>
struct std::is_error_code_enum<bsky::net::error> : std::true_type {};
