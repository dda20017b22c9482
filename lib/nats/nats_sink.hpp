#pragma once
// The `nats` sink: one JetStream message per record on {prefix}.{type}, with
// Nats-Msg-Id {uri}#{cid} (the server drops a copy it stored within the
// duplicate window) and Bsky-Did, Bsky-Collection, Bsky-Rev, Bsky-Record-Type
// headers. Publishes are asynchronous, at most output.nats.max_pending_acks in
// flight; commit() returns once every publish of the DID is acknowledged
// (failed or timed-out ones are sent again, up to publish_attempts), then
// publishes {prefix}.commits, the DID's completion message. A DID whose
// publishes cannot all be acknowledged throws from commit(): it stays not done
// and is redone (its acknowledged records are then dropped as duplicates).
// Consumers see records before their DID completes; those who need whole DIDs
// wait for its commits message (docs/output-format.md).
//
// @par Thread Safety
// Owned by the exporter thread like every sink; libnats's threads only record
// acknowledgements under the sink's lock.
#include <memory>

#include "config/config.hpp"
#include "export/sink.hpp"
#include "log/log.hpp"

namespace bsky::nats {

class nats_sink final : public exporter::sink {
public:
    /// Connects and creates (or checks) the stream; throws nats::error at start-up.
    nats_sink(const config::nats_params& params, log::logger& logger);
    ~nats_sink() override;

    void stage(const std::string& type, const std::string& did, const std::string& records, std::size_t count, std::size_t batch_size,
               const std::string& rev) override;
    void commit(const std::string& did, const std::set<std::string>& types) override;
    void discard(const std::string& did) override;
    void roll_forward(const std::string& did) override;
    void recover(const std::vector<std::string>& committing) override;
    bool wants_lines() const noexcept override { return true; }
    bool rolls_forward() const noexcept override { return false; }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::nats
