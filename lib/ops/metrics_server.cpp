#include "ops/metrics_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <charconv>
#include <chrono>
#include <stdexcept>

namespace bsky::ops {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

bool split_host_port(const std::string& text, std::string& host, unsigned short& port) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
    host = text.substr(0, colon);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return false;
        host = host.substr(1, host.size() - 2);
    }
    auto digits = std::string_view(text).substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    return ec == std::errc{} && end == digits.data() + digits.size();
}

struct metrics_server::impl {
    impl(asio::any_io_executor ex, metrics::registry& r) : acceptor(ex), registry(r) {}
    tcp::acceptor acceptor;
    metrics::registry& registry;
    std::function<std::string()> unhealthy;
    std::function<std::string()> status_json;
    bool stopped = false;
};

metrics_server::metrics_server(asio::any_io_executor executor, const std::string& listen, metrics::registry& registry)
    : impl_(std::make_unique<impl>(std::move(executor), registry)) {
    std::string host;
    unsigned short port = 0;
    if (!split_host_port(listen, host, port)) throw std::runtime_error("metrics.listen: expected HOST:PORT, got '" + listen + "'");
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw std::runtime_error("metrics.listen: '" + host + "' is not an IP address (use 127.0.0.1, ::1 or 0.0.0.0)");
    tcp::endpoint endpoint(address, port);
    auto& a = impl_->acceptor;
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("metrics: cannot listen on " + listen + ": " + ec.message());
}

metrics_server::~metrics_server() = default;

std::string metrics_server::local_address() const {
    auto ep = impl_->acceptor.local_endpoint();
    auto host = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

void metrics_server::stop() {
    impl_->stopped = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
}

void metrics_server::set_health_check(std::function<std::string()> unhealthy_reason) { impl_->unhealthy = std::move(unhealthy_reason); }
void metrics_server::set_status_source(std::function<std::string()> status_json) { impl_->status_json = std::move(status_json); }

asio::awaitable<void> metrics_server::run() {
    auto& self = *impl_;
    while (!self.stopped) {
        auto [accept_ec, socket] = co_await self.acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (accept_ec) {
            if (accept_ec == asio::error::operation_aborted || self.stopped) co_return;
            continue;  // e.g. too many open files: the next accept may work
        }
        boost::beast::tcp_stream stream(std::move(socket));
        stream.expires_after(std::chrono::seconds(2));
        boost::beast::flat_buffer buffer(16 * 1024);
        http::request_parser<http::string_body> parser;
        parser.header_limit(8 * 1024);
        parser.body_limit(0);
        auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (read_ec) continue;
        const auto& req = parser.get();

        http::response<http::string_body> res;
        res.version(11);
        res.keep_alive(false);
        res.set(http::field::server, "bsky-backfill");
        auto target = std::string_view(req.target().data(), req.target().size());
        target = target.substr(0, target.find('?'));
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.body() = "only GET and HEAD\n";
        } else if (target == "/metrics") {
            res.result(http::status::ok);
            res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            res.body() = self.registry.render();
        } else if (target == "/healthz") {
            auto reason = self.unhealthy ? self.unhealthy() : std::string{};
            res.result(reason.empty() ? http::status::ok : http::status::service_unavailable);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = reason.empty() ? "ok\n" : reason + "\n";
        } else if (self.status_json && (target == "/" || target == "/status.json")) {
            res.result(http::status::ok);
            res.set(http::field::cache_control, "no-store");
            res.set(http::field::content_type, target == "/" ? "text/html; charset=utf-8" : "application/json");
            res.body() = target == "/" ? std::string(status_page_html) : self.status_json();
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = self.status_json ? "not found: try /, /status.json, /metrics or /healthz\n" : "not found: try /metrics or /healthz\n";
        }
        res.prepare_payload();
        if (req.method() == http::verb::head) res.body().clear();
        auto [write_ec, written] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        (void)written;
        (void)write_ec;
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
}

}  // namespace bsky::ops
