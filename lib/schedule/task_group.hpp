#pragma once
// Coroutines started together and owned together: each runs until it ends
// or the group cancels it, so nothing is ever detached without an owner that
// can stop it on shutdown.
#include <cstddef>
#include <functional>
#include <list>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "log/log.hpp"

namespace bsky::schedule {

/// @par Thread Safety
/// Not thread-safe: use it from the executor its tasks run on. Destroy it
/// only once running() is 0.
class task_group {
public:
    explicit task_group(log::logger& logger) : logger_(logger) {}

    /// Starts `work`; `on_end` runs when it has ended, whichever way (an
    /// exception other than cancellation is logged with `name`).
    void spawn(boost::asio::any_io_executor executor, boost::asio::awaitable<void> work, const char* name,
               std::function<void()> on_end = {});
    /// Asks every task still running to stop (terminal cancellation).
    void cancel_all();
    std::size_t running() const noexcept { return running_; }
    /// Drops the bookkeeping of tasks that have ended.
    void forget_ended();

private:
    struct task {
        boost::asio::cancellation_signal cancel;
        bool ended = false;
    };
    std::list<task> tasks_;
    std::size_t running_ = 0;
    log::logger& logger_;
};

}  // namespace bsky::schedule
