#pragma once
// The exporter: one thread that owns the queues and the state store, so
// blocking SQLite calls never run on the event loop. DID tasks await its
// operations (which is also their backpressure when the sink is slow).
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "state/state_store.hpp"

namespace bsky::exporter {

class sink;

/// A write to the queues or the state store failed (a full disk, an I/O
/// error, a read-only directory). what() names the DID, the file and the
/// system's reason, and says what happens next: the DID is pending again (or,
/// if its commit had begun, stays `committing` and is finished later), or,
/// when the state store itself cannot be written, the run must stop: every
/// later operation throws the same error.
class storage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// @par Thread Safety
/// The awaitables may be awaited from any coroutine; all work runs on the exporter thread.
class exporter {
public:
    exporter(std::unique_ptr<sink> queues, std::filesystem::path state_dir);
    ~exporter();

    /// Records the DIDs durably as one batch (begin_batch + add_to_batch); returns its id.
    boost::asio::awaitable<std::int64_t> add_batch(std::string source, std::vector<std::string> dids);
    boost::asio::awaitable<void> recover();
    boost::asio::awaitable<std::optional<state::did_row>> get(std::string did);
    boost::asio::awaitable<void> mark_running(std::string did);
    /// Whether stage() takes JSON lines (jsonl) rather than a JSON array (sqlite).
    bool wants_lines() const noexcept;
    boost::asio::awaitable<void> stage(std::string type, std::string did, std::string payload, std::size_t records,
                                       std::size_t batch_size, std::string rev);
    boost::asio::awaitable<void> discard(std::string did);
    /// The DID's commit: committing -> rows moved into the queues -> done.
    boost::asio::awaitable<void> commit(std::string did, std::set<std::string> types, state::did_result result);
    /// A final state other than done (failed, not_found, ...): staged rows are discarded first.
    boost::asio::awaitable<void> finish(std::string did, state::did_status status, std::string error, state::did_result result);

    /// Batches filled in chunks, for DID lists too large to hold in memory.
    boost::asio::awaitable<std::int64_t> begin_batch(std::string source);
    /// Returns how many of `dids` were already in the batch.
    boost::asio::awaitable<std::size_t> add_to_batch(std::int64_t batch, std::vector<std::string> dids);
    boost::asio::awaitable<void> add_rejected(std::int64_t batch, std::vector<state::rejected_input> lines);
    boost::asio::awaitable<std::vector<std::pair<std::int64_t, std::string>>> unfinished(std::int64_t batch, std::int64_t after_seq,
                                                                                          std::size_t limit);
    /// Unfinished DIDs of every batch after a position (the daemon's work loop).
    boost::asio::awaitable<std::vector<state::queued_did>> unfinished_after(std::int64_t after_batch, std::int64_t after_seq,
                                                                            std::size_t limit);
    boost::asio::awaitable<std::int64_t> batch_count(std::int64_t batch);
    /// How many group commits have run (each of one or more DIDs), for the log and tests.
    std::uint64_t commit_groups() const noexcept;
    /// Operations queued for or running on the exporter thread now (its backlog:
    /// DIDs waiting for the sink or the state store).
    std::size_t queue_depth() const noexcept;
    /// Runs `visit(state_store&)` on the exporter thread (reports that read many rows).
    boost::asio::awaitable<void> visit(std::function<void(state::state_store&)> visit);

private:
    template <class F>
    auto on_thread(F&& f) -> boost::asio::awaitable<decltype(f())>;

    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::exporter
