#pragma once
// The daemon's spool directory: DID list files dropped into spool_dir are
// recorded in the state store as one batch per file, moved to accepted/
// (with <name>.report.json listing every rejected line), and answered in
// finished/<name>.result.json once every DID of the file has ended. Files
// that cannot be read go to rejected/ with <name>.error. Every step survives
// a crash at any instant (docs/architecture.md, "The spool directory").
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "log/log.hpp"

namespace bsky::exporter {
class exporter;
}

namespace bsky::spool {

struct spool_params {
    std::filesystem::path dir;
    /// DIDs per work batch: a result's total_batches is ceil(DIDs / batch_size).
    std::size_t batch_size = 50;
    /// DIDs handed to the state store per transaction while a file is read.
    std::size_t chunk_dids = 10000;
};

/// Where a crash can happen between two steps; tests stop there to check recovery.
/// (error_written: a rejected file's .error is written, the file not yet moved.)
enum class step { recorded, moved, reported, result_written, error_written };

/// @par Thread Safety
/// Not thread-safe: use it from the executor it was made with.
class spool_intake {
public:
    spool_intake(boost::asio::any_io_executor executor, exporter::exporter& exporter, spool_params params, log::logger& logger);
    ~spool_intake();
    spool_intake(const spool_intake&) = delete;
    spool_intake& operator=(const spool_intake&) = delete;

    /// Finishes what a crash interrupted, reads the files that arrived while
    /// the daemon was down, then reads each file as inotify reports it
    /// (IN_CLOSE_WRITE, IN_MOVED_TO) until stop() or cancellation.
    boost::asio::awaitable<void> run();
    /// Writes the result file of every accepted file whose DIDs have all ended.
    /// Called by the work loop after outcomes (and by run() itself).
    boost::asio::awaitable<void> check_finished();
    /// The batches whose DIDs may be worked (recorded or accepted, not finished), oldest first.
    boost::asio::awaitable<std::vector<std::int64_t>> open_batches();
    /// Ends run() (after the file being read, if any, is done with).
    void stop();
    /// A reload's output.batch_size, for the results written from now on.
    void set_batch_size(std::size_t batch_size) noexcept;

    /// Called when a file's batch became workable: wakes the work loop.
    std::function<void()> on_recorded;
    /// Called after each protocol step; when it returns false the file is left
    /// there, as a crash would leave it (tests of recovery).
    std::function<bool(step, const std::filesystem::path& file)> after_step;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::spool
