#pragma once
// bsky-backfilld's runtime: one io_context, one supervisor coroutine that
// owns the signals and every long-lived task (spool intake, work loop,
// metrics server, watchdog, status) so that stopping cancels all of them.
//
// SIGHUP: parse and validate the file into a new config; on success apply it
// to work that starts after it (keys that need a restart are named in one
// log line); on failure keep the old one. SIGTERM/SIGINT: stop intake, let
// DIDs in flight end until stop_timeout_seconds, then abandon the rest (they
// return to pending at the next start), exit 0. A second signal abandons at once.
#include <filesystem>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "log/log.hpp"

namespace bsky::service {

class daemon_runtime {
public:
    /// Opens the state store and sinks and binds the metrics listener: throws
    /// at start-up (a taken port, a state directory in use, a bad CA file).
    daemon_runtime(boost::asio::io_context& io, std::filesystem::path config_path, config::config cfg, log::logger& logger);
    ~daemon_runtime();

    /// Runs until stopped; returns the process's exit status.
    int run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::service
