#pragma once
// The shared work stream of DIDs (intake.kind nats): a JetStream stream with
// WorkQueue retention on output.nats.work_subject, one durable pull consumer
// shared by every daemon (explicit ack, ack wait, max deliveries), and the
// dead-letter subject {work_subject}.dead for DIDs that failed on every
// delivery. `bsky-backfill enqueue` publishes into it, de-duplicated by
// Nats-Msg-Id = the DID.
//
// Blocking calls (libnats's own): the daemon runs fetch() off the event loop.
// Exceptions: nats::error, with the servers, stream or consumer named.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "log/log.hpp"

struct __natsMsg;

namespace bsky::nats {

/// One delivery of a DID; destroying it without ack() leaves it to be
/// redelivered after the ack wait (to this daemon or another).
class work_item {
public:
    work_item() = default;
    explicit work_item(__natsMsg* msg);
    work_item(work_item&&) noexcept;
    work_item& operator=(work_item&&) noexcept;
    ~work_item();

    const std::string& did() const noexcept { return did_; }
    std::uint64_t deliveries() const noexcept { return deliveries_; }  ///< 1 on the first
    bool ack();          ///< done with it: removed from the stream
    bool in_progress();  ///< still working: restarts the ack wait
    bool nak(double delay_seconds);  ///< give it back for another try (here or elsewhere)

private:
    __natsMsg* msg_ = nullptr;
    std::string did_;
    std::uint64_t deliveries_ = 0;
};

struct enqueue_result {
    std::size_t added = 0, duplicates = 0;
};

/// What to do with a delivery once its DID has ended (sans I/O).
enum class work_decision { ack, retry, dead };
work_decision decide(bool ended_for_good, std::uint64_t deliveries, std::uint32_t max_deliveries);

class work_stream {
public:
    /// Connects, creates the stream and the durable consumer if missing (or checks them).
    work_stream(const config::nats_params& params, log::logger& logger, bool consume);
    ~work_stream();

    /// Publishes DIDs with Nats-Msg-Id = DID: one already in the stream (within
    /// the duplicate window) is not added again.
    enqueue_result enqueue(const std::vector<std::string>& dids);
    /// Up to `max` deliveries, waiting at most `wait_ms` for the first.
    std::vector<work_item> fetch(int max, int wait_ms);
    /// {work_subject}.dead: the DID and why, for an operator to look at.
    void dead_letter(const work_item& item, const std::string& reason);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::nats
