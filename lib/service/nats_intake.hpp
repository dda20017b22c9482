#pragma once
// intake.kind nats: the daemon takes DIDs from the shared NATS work stream
// instead of its spool directory. It holds at most `capacity` deliveries at a
// time (so the other daemons get the rest), records them in the local state
// store as they arrive, and hands the work loop only the DIDs it holds. A DID
// that ends is acknowledged (removed from the stream); a failed one is given
// back for another delivery, or after output.nats.work_max_deliveries goes to
// {work_subject}.dead with the reason. While a DID is worked on, its delivery
// is kept alive (in-progress acks); one this daemon never finished (a crash, a
// stop) is redelivered after the ack wait, here or to another daemon.
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "backfill/runner.hpp"
#include "config/config.hpp"
#include "log/log.hpp"
#include "schedule/work_loop.hpp"

namespace bsky::exporter {
class exporter;
}

namespace bsky::service {

/// @par Thread Safety
/// Not thread-safe: used on the event loop's thread (libnats's blocking fetch runs on its own thread).
class nats_intake {
public:
    /// Connects and opens the stream and consumer: throws nats::error at start-up.
    nats_intake(boost::asio::any_io_executor executor, exporter::exporter& exporter, const config::nats_params& params,
                std::size_t capacity, log::logger& logger);
    ~nats_intake();

    /// Fetches deliveries until stop(); gives back what it still holds when it returns.
    boost::asio::awaitable<void> run();
    void stop();
    /// The DIDs held, in arrival order, for the work loop.
    schedule::did_source source();
    /// A DID ended: acknowledge, retry or dead-letter its delivery.
    void on_outcome(const backfill::did_outcome& outcome);
    /// New DIDs were recorded (wake the work loop).
    std::function<void()> on_recorded;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::service
