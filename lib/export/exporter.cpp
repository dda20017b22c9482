#include "export/exporter.hpp"

#include "export/sink.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bsky::exporter {

namespace asio = boost::asio;

struct exporter::impl {
    impl(std::unique_ptr<sink> s, std::filesystem::path state_dir) : sink_(std::move(s)), queues(*sink_), state(std::move(state_dir)) {}
    asio::thread_pool thread{1};
    std::unique_ptr<sink> sink_;
    sink& queues;
    state::state_store state;
};

exporter::exporter(std::unique_ptr<sink> queues, std::filesystem::path state_dir)
    : impl_(std::make_unique<impl>(std::move(queues), std::move(state_dir))) {}

bool exporter::wants_lines() const noexcept { return impl_->queues.wants_lines(); }

exporter::~exporter() { impl_->thread.join(); }

namespace {
// Takes the function by reference: the caller's temporary lives until its
// co_await completes. (A capturing lambda coroutine would outlive its
// captures, and GCC 12 destroys by-value class parameters of coroutines twice.)
template <class F>
auto invoke(F& fn) -> asio::awaitable<decltype(fn())> {
    co_return fn();
}
}  // namespace

template <class F>
auto exporter::on_thread(F&& f) -> asio::awaitable<decltype(f())> {
    // co_spawn onto the exporter thread; use_awaitable resumes us on our own executor.
    co_return co_await asio::co_spawn(impl_->thread.get_executor(), invoke(f), asio::use_awaitable);
}

// Each operation names its work before awaiting it: GCC 12 destroys a
// capturing lambda temporary inside a co_await expression twice.

asio::awaitable<std::int64_t> exporter::add_batch(std::string source, std::vector<std::string> dids) {
    auto work = [&] { return impl_->state.add_batch(source, dids); };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::recover() {
    auto work = [&] {
        auto committing = impl_->state.recover();
        impl_->queues.recover(committing);
        for (const auto& did : committing) {
            auto row = impl_->state.get(did);
            impl_->state.mark_done(did, row ? row->result : state::did_result{});
        }
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<std::optional<state::did_row>> exporter::get(std::string did) {
    auto work = [&] { return impl_->state.get(did); };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::mark_running(std::string did) {
    auto work = [&] {
        impl_->state.mark_running(did);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::stage(std::string type, std::string did, std::string payload, std::size_t records,
                                      std::size_t batch_size, std::string rev) {
    auto work = [&] {
        impl_->queues.stage(type, did, payload, records, batch_size, rev);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::discard(std::string did) {
    auto work = [&] {
        impl_->queues.discard(did);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::commit(std::string did, std::set<std::string> types, state::did_result result) {
    auto work = [&] {
        // The result is written with `committing` so a crash mid-commit can be rolled forward.
        impl_->state.mark_final(did, state::did_status::committing, "", result);
        impl_->queues.commit(did, types);
        impl_->state.mark_done(did, result);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::finish(std::string did, state::did_status status, std::string error, state::did_result result) {
    auto work = [&] {
        impl_->queues.discard(did);
        impl_->state.mark_final(did, status, error, result);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<std::int64_t> exporter::begin_batch(std::string source) {
    auto work = [&] { return impl_->state.begin_batch(source); };
    co_return co_await on_thread(work);
}

asio::awaitable<std::size_t> exporter::add_to_batch(std::int64_t batch, std::vector<std::string> dids) {
    auto work = [&] { return impl_->state.add_to_batch(batch, dids); };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::add_rejected(std::int64_t batch, std::vector<state::rejected_input> lines) {
    auto work = [&] {
        impl_->state.add_rejected(batch, lines);
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<std::vector<state::queued_did>> exporter::unfinished_after(std::int64_t after_batch, std::int64_t after_seq,
                                                                        std::size_t limit) {
    auto work = [&] { return impl_->state.unfinished_after(after_batch, after_seq, limit); };
    co_return co_await on_thread(work);
}

asio::awaitable<std::vector<std::pair<std::int64_t, std::string>>> exporter::unfinished(std::int64_t batch, std::int64_t after_seq,
                                                                                         std::size_t limit) {
    auto work = [&] { return impl_->state.unfinished(batch, after_seq, limit); };
    co_return co_await on_thread(work);
}

asio::awaitable<std::int64_t> exporter::batch_count(std::int64_t batch) {
    auto work = [&] { return impl_->state.batch_count(batch); };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::visit(std::function<void(state::state_store&)> visitor) {
    auto work = [&] {
        visitor(impl_->state);
        return 0;
    };
    co_await on_thread(work);
}

}  // namespace bsky::exporter
