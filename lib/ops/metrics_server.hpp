#pragma once
// GET /metrics (Prometheus text), GET /healthz, and the status page (GET /,
// GET /status.json) on one loopback-friendly
// listening socket, served from the event loop that does the work: a scrape
// that answers is itself proof that the loop is not stuck.
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "metrics/registry.hpp"

namespace bsky::ops {

/// @par Thread Safety
/// Not thread-safe: construct, run and stop it on the event loop thread.
class metrics_server {
public:
    /// Binds `listen` ("HOST:PORT", "[v6]:PORT"; port 0 picks one) at once.
    /// Throws std::runtime_error naming the address when it cannot.
    metrics_server(boost::asio::any_io_executor executor, const std::string& listen, metrics::registry& registry);
    ~metrics_server();

    /// The address actually bound, "HOST:PORT".
    std::string local_address() const;

    /// Answers requests until stop(); one connection at a time, each with a
    /// short deadline, so a slow client cannot hold the loop or pile up work.
    boost::asio::awaitable<void> run();
    void stop();

    /// /healthz answers 503 with the returned text when it is not empty.
    void set_health_check(std::function<std::string()> unhealthy_reason);
    /// GET /status.json answers with the returned JSON, and GET / with the
    /// status page that shows it (404 for both until this is set).
    void set_status_source(std::function<std::string()> status_json);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Splits "HOST:PORT" / "[v6]:PORT"; false when malformed.
bool split_host_port(const std::string& text, std::string& host, unsigned short& port);

/// The status page: one self-contained HTML document (inline CSS and script,
/// no external assets) that refreshes itself from /status.json.
extern const char* const status_page_html;

}  // namespace bsky::ops
