#include "export/exporter.hpp"

#include "export/sink.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <mutex>

namespace bsky::exporter {

namespace asio = boost::asio;

// Everything here runs on the exporter thread only.
struct exporter::impl {
    impl(std::unique_ptr<sink> s, std::filesystem::path state_dir) : sink_(std::move(s)), queues(*sink_), state(std::move(state_dir)) {}

    /// Once the state store could not be written, nothing more can be recorded
    /// truthfully: every later operation fails with the first reason.
    void check_state() const {
        if (!state_failure.empty()) throw storage_error(state_failure);
    }
    template <class F>
    void write_state(F&& f) {
        check_state();
        try {
            f();
        } catch (const std::exception& e) {
            state_failure = std::string("the state store cannot be written: ") + e.what() +
                            "; free disk space (or make the state directory writable) and run again: finished DIDs are kept";
            throw storage_error(state_failure);
        }
    }
    /// A write for the DID failed before its commit began: its staged records go
    /// (best effort: every attempt discards first anyway) and it returns to pending.
    storage_error give_back(const std::string& did, const std::string& why) {
        try {
            queues.discard(did);
        } catch (const std::exception&) {
        }
        auto message = why + "; free disk space (or make the output directory writable): the DID is pending again and the next run redoes it";
        write_state([&] { state.mark_retryable(did, message); });
        return storage_error(did + ": " + message);
    }
    /// DIDs whose move into the queues failed part way are finished before any
    /// other DID commits (a JSONL roll-forward truncates the parts back to its journal).
    void finish_interrupted_commits() {
        while (!interrupted_commits.empty()) {
            const auto& did = interrupted_commits.front();
            queues.roll_forward(did);
            write_state([&] {
                auto row = state.get(did);
                state.mark_done(did, row ? row->result : state::did_result{});
            });
            interrupted_commits.erase(interrupted_commits.begin());
        }
    }

    /// A DID waiting for its group commit; `error` is set on the exporter thread.
    struct commit_request {
        std::string did;
        std::set<std::string> types;
        state::did_result result;
        bool handled = false;
        std::exception_ptr error;
    };
    /// A DID whose records the sink could not get stored (NATS): pending again, redone by the next run.
    storage_error give_back_unsent(const std::string& did, const std::string& why) {
        auto message = why + "; the DID is pending again and the next run redoes it (records already stored are not stored twice)";
        write_state([&] { state.mark_retryable(did, message); });
        return storage_error(did + ": " + message);
    }
    void commit_waiting();
    void commit_each(const std::vector<std::shared_ptr<commit_request>>& group, const std::vector<state::state_store::final_mark>& marks);
    void commit_group(const std::vector<std::shared_ptr<commit_request>>& group);

    asio::thread_pool thread{1};
    std::mutex waiting_mutex;
    /// Commits queued by their DIDs' tasks (any thread); the exporter thread takes them all at once.
    std::vector<std::shared_ptr<commit_request>> waiting_commits;
    std::atomic<std::uint64_t> groups{0};
    std::atomic<std::size_t> depth{0};  ///< operations awaited and not yet returned
    std::unique_ptr<sink> sink_;
    sink& queues;
    state::state_store state;
    std::vector<std::string> interrupted_commits;  ///< left `committing` by a write error
    std::string state_failure;
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
    struct counted {
        std::atomic<std::size_t>& depth;
        explicit counted(std::atomic<std::size_t>& d) : depth(d) { ++depth; }
        ~counted() { --depth; }
    } in_queue(impl_->depth);
    // co_spawn onto the exporter thread; use_awaitable resumes us on our own executor.
    co_return co_await asio::co_spawn(impl_->thread.get_executor(), invoke(f), asio::use_awaitable);
}

std::size_t exporter::queue_depth() const noexcept { return impl_->depth.load(); }

// Each operation names its work before awaiting it: GCC 12 destroys a
// capturing lambda temporary inside a co_await expression twice.

asio::awaitable<std::int64_t> exporter::add_batch(std::string source, std::vector<std::string> dids) {
    auto work = [&] {
        std::int64_t batch = 0;
        impl_->write_state([&] { batch = impl_->state.add_batch(source, dids); });
        return batch;
    };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::recover() {
    auto work = [&] {
        std::vector<std::string> committing;
        impl_->write_state([&] { committing = impl_->state.recover(); });
        if (!impl_->queues.rolls_forward()) {
            // Their acknowledgements died with the last run: redo them (the server drops what it has).
            impl_->write_state([&] {
                for (const auto& did : committing)
                    impl_->state.mark_retryable(did, "the last run stopped before its records were all acknowledged; redone");
            });
            return 0;
        }
        try {
            impl_->queues.recover(committing);
        } catch (const std::exception& e) {
            throw storage_error(std::string("finishing the commits of the last run failed: ") + e.what() +
                                "; free disk space (or make the output directory writable) and run again");
        }
        impl_->write_state([&] {
            for (const auto& did : committing) {
                auto row = impl_->state.get(did);
                impl_->state.mark_done(did, row ? row->result : state::did_result{});
            }
        });
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
        impl_->write_state([&] { impl_->state.mark_running(did); });
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::stage(std::string type, std::string did, std::string payload, std::size_t records,
                                      std::size_t batch_size, std::string rev) {
    auto work = [&] {
        impl_->check_state();
        try {
            impl_->queues.stage(type, did, payload, records, batch_size, rev);
        } catch (const std::exception& e) {
            throw impl_->give_back(did, "staging its " + type + " records failed: " + e.what());
        }
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<void> exporter::discard(std::string did) {
    auto work = [&] {
        impl_->check_state();
        try {
            impl_->queues.discard(did);
        } catch (const std::exception& e) {
            throw impl_->give_back(did, std::string("deleting the records staged by an earlier attempt failed: ") + e.what());
        }
        return 0;
    };
    co_await on_thread(work);
}

// Group commit: every commit queued while the exporter thread was busy goes
// in one group, which costs one fsync of state.db for `committing` and one
// per queue file for the move, where each DID alone paid all of them (the
// exporter thread's fsyncs were the bound of a run of small repos). Each DID
// is still all or nothing, and `done` only once its rows are durable.
asio::awaitable<void> exporter::commit(std::string did, std::set<std::string> types, state::did_result result) {
    auto request = std::make_shared<impl::commit_request>();
    request->did = std::move(did);
    request->types = std::move(types);
    request->result = std::move(result);
    {
        std::lock_guard lock(impl_->waiting_mutex);
        impl_->waiting_commits.push_back(request);
    }
    auto work = [&] {
        // An earlier group may have taken this DID already.
        if (!request->handled) impl_->commit_waiting();
        if (request->error) std::rethrow_exception(request->error);
        return 0;
    };
    co_await on_thread(work);
}

std::uint64_t exporter::commit_groups() const noexcept { return impl_->groups.load(); }

void exporter::impl::commit_waiting() {
    std::vector<std::shared_ptr<commit_request>> group;
    {
        std::lock_guard lock(waiting_mutex);
        group.swap(waiting_commits);
    }
    for (auto& request : group) request->handled = true;
    ++groups;
    try {
        commit_group(group);
    } catch (...) {
        // A failure that names no DID (the state store): the same for all.
        auto error = std::current_exception();
        for (auto& request : group)
            if (!request->error) request->error = error;
    }
}

void exporter::impl::commit_group(const std::vector<std::shared_ptr<commit_request>>& group) {
    check_state();
    try {
        finish_interrupted_commits();
    } catch (const storage_error&) {
        throw;
    } catch (const std::exception& e) {
        std::string why = "not committed: the interrupted commit of " + interrupted_commits.front() + " still cannot be finished: " + e.what();
        for (auto& request : group) request->error = std::make_exception_ptr(give_back(request->did, why));
        return;
    }
    std::vector<state::state_store::final_mark> marks;
    std::vector<sink::commit_item> items;
    for (const auto& request : group) {
        marks.push_back({request->did, request->result});
        items.push_back({request->did, request->types});
    }
    // The results are written with `committing` so a crash mid-commit can be rolled forward.
    write_state([&] { state.mark_group(state::did_status::committing, marks); });
    if (!queues.rolls_forward()) return commit_each(group, marks);
    try {
        queues.commit_group(items);
    } catch (const std::exception& e) {
        // Some of their records may be in the queues already: they can only go forward.
        std::string message = std::string("moving its records into the queues failed: ") + e.what() +
                              "; it stays `committing` and is finished before the next DID commits, or by the next run; "
                              "free disk space (or make the output directory writable)";
        for (auto& request : group) {
            interrupted_commits.push_back(request->did);
            try {
                state.note_error(request->did, message);
            } catch (const std::exception&) {
            }
            request->error = std::make_exception_ptr(storage_error(request->did + ": " + message));
        }
        return;
    }
    write_state([&] { state.mark_group(state::did_status::done, marks); });
}

// A sink that cannot roll forward (NATS) commits each DID on its own: a DID
// whose commit fails goes back to pending, the others of the group are done.
void exporter::impl::commit_each(const std::vector<std::shared_ptr<commit_request>>& group,
                                 const std::vector<state::state_store::final_mark>& marks) {
    std::vector<state::state_store::final_mark> done;
    for (std::size_t i = 0; i < group.size(); ++i) {
        try {
            queues.commit(group[i]->did, group[i]->types);
            done.push_back(marks[i]);
        } catch (const std::exception& e) {
            group[i]->error = std::make_exception_ptr(
                give_back_unsent(group[i]->did, std::string("its records were not all acknowledged: ") + e.what()));
        }
    }
    write_state([&] { state.mark_group(state::did_status::done, done); });
}

asio::awaitable<void> exporter::finish(std::string did, state::did_status status, std::string error, state::did_result result) {
    auto work = [&] {
        impl_->check_state();
        try {
            impl_->queues.discard(did);
        } catch (const std::exception&) {
            // Harmless: every attempt and every start discards staged records first.
        }
        impl_->write_state([&] { impl_->state.mark_final(did, status, error, result); });
        return 0;
    };
    co_await on_thread(work);
}

asio::awaitable<std::int64_t> exporter::begin_batch(std::string source) {
    auto work = [&] {
        std::int64_t batch = 0;
        impl_->write_state([&] { batch = impl_->state.begin_batch(source); });
        return batch;
    };
    co_return co_await on_thread(work);
}

asio::awaitable<std::size_t> exporter::add_to_batch(std::int64_t batch, std::vector<std::string> dids) {
    auto work = [&] {
        std::size_t duplicates = 0;
        impl_->write_state([&] { duplicates = impl_->state.add_to_batch(batch, dids); });
        return duplicates;
    };
    co_return co_await on_thread(work);
}

asio::awaitable<void> exporter::add_rejected(std::int64_t batch, std::vector<state::rejected_input> lines) {
    auto work = [&] {
        impl_->write_state([&] { impl_->state.add_rejected(batch, lines); });
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
    auto work = [&] {
        impl_->check_state();  // the run stops here once the state store cannot be written
        return impl_->state.unfinished(batch, after_seq, limit);
    };
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
