#include "schedule/task_group.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/system/system_error.hpp>

namespace bsky::schedule {

namespace asio = boost::asio;

void task_group::spawn(asio::any_io_executor executor, asio::awaitable<void> work, const char* name, std::function<void()> on_end) {
    auto& t = tasks_.emplace_back();
    ++running_;
    asio::co_spawn(executor, std::move(work),
                   asio::bind_cancellation_slot(t.cancel.slot(), [this, &t, name, on_end = std::move(on_end)](std::exception_ptr e) {
                       // The signal outlives this call: forget_ended() drops it later, off this stack.
                       t.ended = true;
                       --running_;
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const boost::system::system_error& failure) {
                               if (failure.code() != asio::error::operation_aborted) logger_.error("{}: {}", name, failure.what());
                           } catch (const std::exception& failure) {
                               logger_.error("{}: {}", name, failure.what());
                           }
                       }
                       if (on_end) on_end();
                   }));
}

void task_group::cancel_all() {
    for (auto& t : tasks_)
        if (!t.ended) t.cancel.emit(asio::cancellation_type::terminal);
}

void task_group::forget_ended() {
    tasks_.remove_if([](const task& t) { return t.ended; });
}

}  // namespace bsky::schedule
