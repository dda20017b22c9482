#pragma once
// A JetStream connection made from output.nats.*: servers (one or a cluster,
// fail-over and reconnects are the client's), credentials and TLS. Start-up
// waits up to connect_timeout_seconds for a server; after that a lost server is
// reconnected in the background and publishes wait for it.
//
// Exceptions: the constructor and ensure_stream() throw nats::error (start-up
// errors: what() names the servers or the stream and what to do).
//
// @par Thread Safety
// The libnats handles are thread-safe; this wrapper is owned by one thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "log/log.hpp"

struct __natsConnection;
struct __jsCtx;
struct __natsMsg;

namespace bsky::nats {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// How a stream must look; an existing stream that does not fit is an error.
struct stream_spec {
    std::string name;
    std::vector<std::string> subjects;
    std::uint32_t replicas = 1;
    double duplicate_window_seconds = 120;
    bool work_queue = false;  ///< WorkQueue retention (each message consumed once), else Limits
};

/// Each asynchronous publish's result. libnats calls it on its own thread: it
/// must only record (under its own lock) and hand back; `msg` is the handler's
/// to keep (for a resend) or to destroy.
struct ack_callbacks {
    void (*on_ack)(void* closure, __natsMsg* msg, bool ok, const char* why) = nullptr;
    void* closure = nullptr;
};

class connection {
public:
    /// `acks`, when set, receives every asynchronous publish's result.
    connection(const config::nats_params& params, log::logger& logger, ack_callbacks acks = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void ensure_stream(const stream_spec& spec);
    __natsConnection* raw() const noexcept { return nc_; }
    __jsCtx* jetstream() const noexcept { return js_; }
    const std::string& servers() const noexcept { return servers_; }

    /// Lost/regained server connections since the last call (counted on libnats's threads).
    struct link_events {
        std::uint64_t disconnects = 0, reconnects = 0;
    };
    link_events take_link_events();
    /// How long no server has been connected (zero while connected).
    double seconds_down() const;

    struct events;  ///< what libnats's callbacks touch (connection.cpp)

private:
    std::shared_ptr<events> events_;
    std::string servers_;
    __natsConnection* nc_ = nullptr;
    __jsCtx* js_ = nullptr;
};

/// "what: <status text> (<last error detail>)" for a failed libnats call.
std::string describe(int status, const char* what);

}  // namespace bsky::nats
