#include "net/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <zlib.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>

namespace bsky::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "net"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::bad_url: return "malformed URL";
            case error::unsupported_scheme: return "only http and https URLs are fetched";
            case error::private_address: return "host resolves to a private, loopback or link-local address";
            case error::too_many_redirects: return "too many redirects";
            case error::body_too_large: return "response body larger than the limit";
            case error::connect_timeout: return "connect timed out";
            case error::handshake_timeout: return "TLS handshake timed out";
            case error::headers_timeout: return "no response headers in time";
            case error::idle_timeout: return "the response body stalled";
            case error::bad_gzip: return "corrupt gzip body";
            case error::truncated_body: return "the connection closed before the body was complete";
            case error::consumer_failed: return "the body consumer rejected the data";
            case error::insecure_redirect: return "redirect from https to http refused";
            case error::fetch_timeout: return "the response took longer than the total fetch deadline";
        }
        return "unknown net error";
    }
};

constexpr std::size_t error_body_limit = 64 * 1024;

struct target {
    bool tls = false;
    std::string host;
    std::string port;
    std::string path_and_query;
    std::string key() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

std::optional<target> parse_target(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return std::nullopt;
    target t;
    auto scheme = parsed->scheme();
    if (scheme == "https") t.tls = true;
    else if (scheme != "http") return std::nullopt;
    t.host = std::string(parsed->encoded_host());
    if (parsed->host_type() == boost::urls::host_type::ipv6) {
        // "[::1]": keep the brackets out of resolution and SNI.
        t.host = t.host.substr(1, t.host.size() - 2);
    }
    if (t.host.empty()) return std::nullopt;
    t.port = parsed->has_port() ? std::string(parsed->port()) : (t.tls ? "443" : "80");
    t.path_and_query = std::string(parsed->encoded_path());
    if (t.path_and_query.empty()) t.path_and_query = "/";
    if (parsed->has_query()) t.path_and_query += "?" + std::string(parsed->encoded_query());
    return t;
}

struct connection {
    explicit connection(std::size_t& open_count) : open(open_count) { ++open; }
    ~connection() { --open; }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    std::size_t& open;  ///< the client's count of open connections
    std::chrono::steady_clock::time_point idle_since;
    std::string key;
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Streams gzip through zlib in fixed-size output pieces.
class gunzip {
public:
    gunzip() {
        stream_.zalloc = Z_NULL;
        stream_.zfree = Z_NULL;
        stream_.opaque = Z_NULL;
        ok_ = inflateInit2(&stream_, 16 + MAX_WBITS) == Z_OK;
    }
    ~gunzip() {
        if (ok_) inflateEnd(&stream_);
    }
    gunzip(const gunzip&) = delete;
    gunzip& operator=(const gunzip&) = delete;

    template <class Out>
    bool feed(std::span<const std::uint8_t> in, Out&& out) {
        if (!ok_) return false;
        stream_.next_in = const_cast<Bytef*>(in.data());
        stream_.avail_in = static_cast<uInt>(in.size());
        while (stream_.avail_in > 0 && !finished_) {
            stream_.next_out = buffer_;
            stream_.avail_out = sizeof buffer_;
            int rc = inflate(&stream_, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return false;
            auto produced = sizeof buffer_ - stream_.avail_out;
            if (produced && !out(std::span<const std::uint8_t>(buffer_, produced))) return false;
            if (rc == Z_STREAM_END) finished_ = true;
            if (rc == Z_BUF_ERROR && produced == 0) return false;
        }
        return true;
    }
    bool finished() const noexcept { return finished_; }

private:
    z_stream stream_{};
    bool ok_ = false;
    bool finished_ = false;
    Bytef buffer_[64 * 1024];
};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::error_code timeout_as(boost::system::error_code ec, error e) {
    return ec == beast::error::timeout ? make_error_code(e) : std::error_code(ec);
}

using time_point = std::chrono::steady_clock::time_point;

// A phase's own deadline, or the request's total one when that comes first.
void arm(beast::tcp_stream& stream, std::chrono::milliseconds phase, time_point total) {
    stream.expires_at(std::min(std::chrono::steady_clock::now() + phase, total));
}

std::error_code timeout_as(boost::system::error_code ec, error e, time_point total) {
    if (ec == beast::error::timeout && std::chrono::steady_clock::now() >= total) return make_error_code(error::fetch_timeout);
    return timeout_as(ec, e);
}

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view response::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

namespace {

bool is_private_v4(const asio::ip::address_v4::bytes_type& b) noexcept {
    return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 100 && (b[1] & 0xc0) == 64) ||  // this network, RFC 1918, loopback, CGNAT
           (b[0] == 169 && b[1] == 254) || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2)) ||          // IETF protocol assignments, TEST-NET-1
           (b[0] == 192 && b[1] == 88 && b[2] == 99) ||                      // 6to4 relay anycast
           (b[0] == 198 && (b[1] & 0xfe) == 18) ||                           // benchmarking 198.18.0.0/15
           (b[0] == 198 && b[1] == 51 && b[2] == 100) || (b[0] == 203 && b[1] == 0 && b[2] == 113) ||  // TEST-NET-2, -3
           b[0] >= 224;                                                      // multicast, 240/4 reserved, broadcast
}

asio::ip::address_v4::bytes_type v4_at(const asio::ip::address_v6::bytes_type& b, std::size_t offset) noexcept {
    return {b[offset], b[offset + 1], b[offset + 2], b[offset + 3]};
}

}  // namespace

bool is_private_address(std::string_view text) noexcept {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(text), ec);
    if (ec) return true;  // not an address: refuse rather than guess
    if (address.is_v4()) return is_private_v4(address.to_v4().to_bytes());
    auto v6 = address.to_v6();
    auto b = v6.to_bytes();
    auto starts = [&](std::initializer_list<unsigned char> prefix) { return std::equal(prefix.begin(), prefix.end(), b.begin()); };
    bool zero_to_10 = std::all_of(b.begin(), b.begin() + 10, [](unsigned char x) { return x == 0; });
    if (zero_to_10 && b[10] == 0xff && b[11] == 0xff) return is_private_v4(v4_at(b, 12));  // IPv4-mapped
    // IPv4-compatible ::a.b.c.d (deprecated, never a real host) also covers :: and ::1.
    if (zero_to_10 && b[10] == 0 && b[11] == 0) return true;
    // Addresses that carry an IPv4 address the network will reach for us:
    // 6to4 2002:V4::/48 and the well-known NAT64 prefix 64:ff9b::/96.
    if (starts({0x20, 0x02})) return is_private_v4(v4_at(b, 2));
    if (starts({0x00, 0x64, 0xff, 0x9b})) {
        bool well_known = std::all_of(b.begin() + 4, b.begin() + 12, [](unsigned char x) { return x == 0; });
        // 64:ff9b:1::/48 is for local translators, whose embedding we cannot know; other 64:ff9b::/32 is unassigned.
        return !well_known || is_private_v4(v4_at(b, 12));
    }
    return v6.is_multicast() || v6.is_link_local() || (b[0] & 0xfe) == 0xfc /* ULA fc00::/7 */ ||
           (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* site-local */ ||
           starts({0x20, 0x01, 0x0d, 0xb8}) /* documentation */ ||
           (starts({0x01, 0x00, 0, 0, 0, 0, 0, 0})) /* discard-only 100::/64 */;
}

struct http_client::impl {
    asio::any_io_executor executor;
    client_params params;
    asio::ssl::context ssl{asio::ssl::context::tls_client};
    std::size_t open_count = 0;  ///< before `idle`: connections decrement it as they close
    std::size_t idle_count = 0;
    /// Per host, oldest first; a host with none has no entry, so the map holds only what is open.
    std::map<std::string, std::deque<std::unique_ptr<connection>>> idle;
    client_stats stats;

    impl(asio::any_io_executor ex, client_params p) : executor(std::move(ex)), params(std::move(p)) {
        ssl.set_default_verify_paths();
        ssl.set_verify_mode(asio::ssl::verify_peer);
        ssl.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
        if (!params.ca_file.empty()) {
            boost::system::error_code ec;
            ssl.load_verify_file(params.ca_file.string(), ec);
            if (ec) throw std::runtime_error("tls.ca_file " + params.ca_file.string() + ": cannot load: " + ec.message());
        }
    }

    std::unique_ptr<connection> take_idle(const std::string& key) {
        expire_idle();
        auto it = idle.find(key);
        if (it == idle.end()) return nullptr;
        auto conn = std::move(it->second.back());  // the most recently used: least likely closed by the server
        it->second.pop_back();
        --idle_count;
        if (it->second.empty()) idle.erase(it);
        return conn;
    }

    void put_idle(std::unique_ptr<connection> conn) {
        auto& pool = idle[conn->key];
        if (pool.size() >= params.max_idle_per_host) {
            pool.pop_front();
            --idle_count;
        }
        conn->idle_since = std::chrono::steady_clock::now();
        pool.push_back(std::move(conn));
        ++idle_count;
    }

    // Closes idle connections older than idle_connection_timeout, for every host.
    // Done on every request rather than on a timer: a timer would keep the
    // event loop of a one-shot run alive, and with no requests at all the
    // connections left open are still under max_open_connections.
    void expire_idle() {
        auto oldest_allowed = std::chrono::steady_clock::now() - params.idle_connection_timeout;
        for (auto it = idle.begin(); it != idle.end();) {
            auto& pool = it->second;
            while (!pool.empty() && pool.front()->idle_since <= oldest_allowed) {
                pool.pop_front();
                --idle_count;
                ++stats.connections_expired;
            }
            it = pool.empty() ? idle.erase(it) : std::next(it);
        }
    }

    // Before opening one more: close the oldest idle connections (any host) while at the cap.
    void make_room() {
        expire_idle();
        while (open_count >= params.max_open_connections && idle_count > 0) {
            auto oldest = idle.begin();
            for (auto it = idle.begin(); it != idle.end(); ++it)
                if (it->second.front()->idle_since < oldest->second.front()->idle_since) oldest = it;
            oldest->second.pop_front();
            --idle_count;
            ++stats.connections_evicted;
            if (oldest->second.empty()) idle.erase(oldest);
        }
    }

    asio::awaitable<std::error_code> connect(const target& t, std::unique_ptr<connection>& out, std::string& detail) {
        tcp::resolver resolver(executor);
        std::string host = t.host;
        bool pinned = false;
        if (auto it = params.resolve_overrides.find(t.host); it != params.resolve_overrides.end()) {
            host = it->second;
            pinned = true;
        }
        auto [rec, results] = co_await resolver.async_resolve(host, t.port, asio::as_tuple(asio::use_awaitable));
        if (rec) {
            detail = "resolving " + t.host + ": " + rec.message();
            co_return rec;
        }
        // Every answer must be public: a host with one private answer could be
        // steered at an internal service.
        if (!params.allow_private_addresses && !pinned) {
            for (const auto& entry : results) {
                auto address = entry.endpoint().address().to_string();
                if (is_private_address(address)) {
                    detail = t.host + " resolves to " + address + ", a non-public address (allow_private_addresses is off)";
                    co_return make_error_code(error::private_address);
                }
            }
        }
        make_room();
        auto conn = std::make_unique<connection>(open_count);
        conn->key = t.key();
        conn->plain = std::make_unique<beast::tcp_stream>(executor);
        conn->plain->expires_after(params.connect_timeout);
        auto [cec, endpoint] = co_await conn->plain->async_connect(results, asio::as_tuple(asio::use_awaitable));
        if (cec) {
            detail = "connecting to " + t.host + ":" + t.port + ": " + cec.message();
            co_return timeout_as(cec, error::connect_timeout);
        }
        ++stats.connections_opened;
        if (t.tls) {
            conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*conn->plain), ssl);
            conn->plain.reset();
            if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str())) {
                detail = "setting SNI for " + t.host;
                co_return std::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
            }
            conn->tls->set_verify_callback(asio::ssl::host_name_verification(t.host));
            conn->lowest().expires_after(params.handshake_timeout);
            auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
            if (hec) {
                detail = "TLS handshake with " + t.host + ": " + hec.message();
                co_return timeout_as(hec, error::handshake_timeout);
            }
        }
        out = std::move(conn);
        co_return std::error_code{};
    }

    template <class Stream>
    asio::awaitable<std::error_code> exchange(Stream& stream, connection& conn, const target& t, const std::string& url,
                                              response& out, const body_sink& sink,
                                              const std::vector<std::pair<std::string, std::string>>& extra,
                                              bool& keep_alive, bool& nothing_received, time_point deadline) {
        http::request<http::empty_body> req{http::verb::get, t.path_and_query, 11};
        bool default_port = (t.tls && t.port == "443") || (!t.tls && t.port == "80");
        std::string host_header = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
        req.set(http::field::host, default_port ? host_header : host_header + ":" + t.port);
        req.set(http::field::user_agent, params.user_agent);
        req.set(http::field::accept_encoding, "gzip");
        req.keep_alive(true);
        for (const auto& [k, v] : extra) req.set(k, v);

        arm(conn.lowest(), params.headers_timeout, deadline);
        auto [wec, written] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
        if (wec) {
            out.detail = "sending the request to " + t.host + ": " + wec.message();
            co_return timeout_as(wec, error::headers_timeout, deadline);
        }
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        parser.header_limit(64 * 1024);
        auto [hec, header_bytes] = co_await http::async_read_header(stream, conn.buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (hec) {
            nothing_received = header_bytes == 0;
            out.detail = "reading the response headers from " + t.host + ": " + hec.message();
            co_return timeout_as(hec, error::headers_timeout, deadline);
        }
        const auto& head = parser.get();
        out.status = head.result_int();
        out.final_url = url;
        out.headers.clear();
        for (const auto& field : head) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        bool gzip = iequals(out.header("Content-Encoding"), "gzip");
        bool success = out.status >= 200 && out.status < 300;
        bool redirect = out.status >= 300 && out.status < 400 && !out.header("Location").empty();
        if (redirect || parser.is_done()) {
            keep_alive = parser.is_done() && parser.keep_alive();
            co_return std::error_code{};
        }

        std::optional<gunzip> inflater;
        if (gzip) inflater.emplace();
        std::error_code consumer_error;
        auto deliver = [&](std::span<const std::uint8_t> bytes) -> bool {
            out.body_bytes += bytes.size();
            if (params.max_body_bytes && out.body_bytes > params.max_body_bytes) {
                consumer_error = make_error_code(error::body_too_large);
                return false;
            }
            if (!success) {
                auto room = error_body_limit - std::min(error_body_limit, out.error_body.size());
                out.error_body.append(reinterpret_cast<const char*>(bytes.data()), std::min(room, bytes.size()));
                return true;
            }
            if (auto ec = sink.on_data ? sink.on_data(bytes) : std::error_code{}) {
                consumer_error = ec;
                return false;
            }
            return true;
        };

        std::vector<std::uint8_t> chunk(64 * 1024);
        while (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            arm(conn.lowest(), params.idle_body_timeout, deadline);
            auto [rec, n] = co_await http::async_read_some(stream, conn.buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (rec == http::error::need_buffer) rec = {};
            if (rec) {
                if (rec == http::error::partial_message || rec == asio::error::eof || rec == asio::ssl::error::stream_truncated) {
                    out.detail = "the connection to " + t.host + " closed after " + std::to_string(out.wire_bytes) + " body bytes";
                    co_return make_error_code(error::truncated_body);
                }
                auto ec = timeout_as(rec, error::idle_timeout, deadline);
                out.detail = "reading the body from " + t.host + " after " + std::to_string(out.wire_bytes) + " bytes: " +
                             (ec == error::fetch_timeout ? "still not complete after timeouts.total_fetch_seconds (" +
                                                               std::to_string(params.total_timeout.count() / 1000) + " s)"
                                                         : rec.message());
                co_return ec;
            }
            std::size_t got = chunk.size() - parser.get().body().size;
            if (got == 0) continue;
            out.wire_bytes += got;
            if (params.max_body_bytes && out.wire_bytes > params.max_body_bytes) {
                out.detail = "the body from " + t.host + " exceeds " + std::to_string(params.max_body_bytes) + " bytes";
                co_return make_error_code(error::body_too_large);
            }
            std::span<const std::uint8_t> piece(chunk.data(), got);
            bool ok = inflater ? inflater->feed(piece, deliver) : deliver(piece);
            if (!ok) {
                if (consumer_error == error::body_too_large) {
                    out.detail = "the body from " + t.host + " exceeds " + std::to_string(params.max_body_bytes) + " bytes";
                    co_return consumer_error;
                }
                if (consumer_error) {
                    out.detail = "the body consumer stopped after " + std::to_string(out.body_bytes) + " bytes: " + consumer_error.message();
                    co_return consumer_error;
                }
                out.detail = "corrupt gzip data from " + t.host + " after " + std::to_string(out.wire_bytes) + " bytes";
                co_return make_error_code(error::bad_gzip);
            }
            if (success && sink.drain) {
                if (auto ec = co_await sink.drain()) {
                    out.detail = "the body consumer stopped after " + std::to_string(out.body_bytes) + " bytes: " + ec.message();
                    co_return ec;
                }
            }
            if (!success && out.error_body.size() >= error_body_limit) {
                keep_alive = false;  // stop reading a large error body; drop the connection
                co_return std::error_code{};
            }
        }
        if (inflater && !inflater->finished()) {
            out.detail = "the gzip stream from " + t.host + " ended early";
            co_return make_error_code(error::bad_gzip);
        }
        keep_alive = parser.keep_alive();
        co_return std::error_code{};
    }

    asio::awaitable<std::error_code> get(std::string url, response& out, const body_sink& sink,
                                         const std::vector<std::pair<std::string, std::string>>& extra, const hop_hooks& hooks) {
        out = response{};
        const auto deadline = std::chrono::steady_clock::now() + params.total_timeout;
        for (unsigned hop = 0;; ++hop) {
            auto t = parse_target(url);
            if (!t) {
                out.detail = "cannot fetch '" + url.substr(0, 200) + "': not an http(s) URL";
                co_return make_error_code(url.starts_with("http") ? error::bad_url : error::unsupported_scheme);
            }
            if (hooks.before) co_await hooks.before(hop, url);
            ++stats.requests;
            std::error_code ec;
            bool keep_alive = false;
            // A pooled connection may have been closed by the server while idle:
            // if it fails before any response byte, try once more on a new one.
            for (int attempt = 0; attempt < 2; ++attempt) {
                std::unique_ptr<connection> conn = attempt == 0 ? take_idle(t->key()) : nullptr;
                bool reused = conn != nullptr;
                if (reused) {
                    ++stats.connections_reused;
                } else {
                    std::string detail;
                    if ((ec = co_await connect(*t, conn, detail))) {
                        out.detail = detail;
                        co_return ec;
                    }
                }
                out.reused_connection = reused;
                bool nothing = false;
                keep_alive = false;
                if (conn->tls) ec = co_await exchange(*conn->tls, *conn, *t, url, out, sink, extra, keep_alive, nothing, deadline);
                else ec = co_await exchange(*conn->plain, *conn, *t, url, out, sink, extra, keep_alive, nothing, deadline);
                if (ec && reused && nothing && out.body_bytes == 0) continue;
                if (!ec && keep_alive) {
                    conn->lowest().expires_never();
                    put_idle(std::move(conn));
                }
                break;
            }
            if (ec) co_return ec;
            if (hooks.after) hooks.after(hop, url, out);
            auto location = out.header("Location");
            if (out.status >= 300 && out.status < 400 && !location.empty()) {
                if (hop >= params.max_redirects) {
                    out.detail = "more than " + std::to_string(params.max_redirects) + " redirects, the last to " + std::string(location);
                    co_return make_error_code(error::too_many_redirects);
                }
                auto base = boost::urls::parse_uri(url);
                auto ref = boost::urls::parse_uri_reference(location);
                if (!base || !ref) {
                    out.detail = "redirect to a malformed location: " + std::string(location).substr(0, 200);
                    co_return make_error_code(error::bad_url);
                }
                boost::urls::url next;
                auto resolved = boost::urls::resolve(*base, *ref, next);
                if (!resolved) {
                    out.detail = "cannot resolve redirect location " + std::string(location).substr(0, 200);
                    co_return make_error_code(error::bad_url);
                }
                if (t->tls && next.scheme() != "https" && !params.allow_insecure_http) {
                    out.detail = "redirect from " + t->host + " over https to " + std::string(next.buffer()).substr(0, 200) +
                                 ", which is not https (allow_insecure_http is off)";
                    co_return make_error_code(error::insecure_redirect);
                }
                url = std::string(next.buffer());
                out.redirects = hop + 1;
                auto redirects = out.redirects;
                out = response{};
                out.redirects = redirects;
                continue;
            }
            co_return std::error_code{};
        }
    }
};

http_client::http_client(asio::any_io_executor executor, client_params params)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(params))) {}
http_client::~http_client() = default;

asio::awaitable<std::error_code> http_client::get(std::string url, response& out, body_sink sink,
                                                  std::vector<std::pair<std::string, std::string>> extra_headers, hop_hooks hooks) {
    co_return co_await impl_->get(std::move(url), out, sink, extra_headers, hooks);
}

void http_client::set_params(client_params params) {
    auto& running = impl_->params;
    params.ca_file = running.ca_file;
    params.resolve_overrides = running.resolve_overrides;
    params.max_open_connections = running.max_open_connections;
    running = std::move(params);
}

client_stats http_client::stats() const noexcept {
    auto s = impl_->stats;
    s.open_connections = impl_->open_count;
    s.idle_connections = impl_->idle_count;
    return s;
}

}  // namespace bsky::net
