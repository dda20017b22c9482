#pragma once
// A real HTTP/1.1 server on 127.0.0.1 (or ::1), port 0, plain or TLS, run on
// its own threads with blocking I/O so a test scripts each response byte by
// byte: delays, chunking, gzip, stalls, resets. Used only by tests.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_tls.hpp"

namespace bsky::test {

struct request_info {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  ///< lower-case names
    std::chrono::steady_clock::time_point received;
    int connection = 0;  ///< which accepted connection carried it
};

struct response_spec {
    unsigned status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool chunked = false;
    std::size_t chunk_size = 0;          ///< 0: one chunk / one write
    std::chrono::milliseconds delay{0};  ///< between chunks or writes
    bool gzip = false;
    bool close = false;                  ///< Connection: close, then close
};

class exchange {
public:
    virtual ~exchange() = default;
    virtual void respond(const response_spec& spec) = 0;
    virtual void write_raw(const std::string& bytes) = 0;
    /// Closes with a TCP reset (SO_LINGER 0).
    virtual void reset() = 0;
    /// Sleeps (stalling the response) without closing.
    void stall(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

class test_server {
public:
    using handler = std::function<void(const request_info&, exchange&)>;

    /// `tls`: serve HTTPS with this certificate. `address`: "127.0.0.1" or "::1".
    explicit test_server(handler h, std::optional<pem_pair> tls = std::nullopt, std::string address = "127.0.0.1");
    ~test_server();

    unsigned short port() const noexcept { return port_; }
    /// "http(s)://HOST:PORT" with HOST defaulting to the bound address.
    std::string origin(const std::string& host = "") const;
    std::vector<request_info> requests() const;
    int connections() const noexcept { return connections_; }
    void stop();

private:
    void accept_loop();
    void serve(int fd, int index);

    handler handler_;
    std::optional<pem_pair> tls_;
    std::string address_;
    int listen_fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0};
    std::thread acceptor_;
    mutable std::mutex mutex_;
    std::vector<std::thread> workers_;
    std::vector<int> open_fds_;
    std::vector<request_info> requests_;
    std::shared_ptr<void> ssl_context_;
};

/// gzip-compresses bytes (for scripted responses).
std::string gzip_bytes(const std::string& plain);

}  // namespace bsky::test
