#include "schedule/work_loop.hpp"

#include "net/fetcher.hpp"
#include "rate/host_limiter.hpp"
#include "schedule/task_group.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/system/system_error.hpp>

#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace bsky::schedule {

namespace asio = boost::asio;

struct work_loop::impl {
    impl(backfill::pipeline& p, resolve::resolver& r, rate::host_limiter& l, log::logger& g, loop_params lp)
        : pipeline(p), resolver(r), limiter(l), logger(g), params(lp), scheduler(lp.scheduling) {}

    backfill::pipeline& pipeline;
    resolve::resolver& resolver;
    rate::host_limiter& limiter;
    log::logger& logger;
    loop_params params;
    host_scheduler scheduler;
    std::function<void(backfill::did_outcome&&)>* on_outcome = nullptr;

    std::deque<queued_did> read_ahead;                                 ///< read from the store, not yet resolving
    std::unordered_set<std::string> taken;                             ///< resolving, waiting or in flight
    std::unordered_map<std::string, resolve::resolution> resolutions;  ///< of the DIDs waiting in the scheduler
    std::int64_t cursor_batch = 0, cursor_seq = 0;
    bool source_exhausted = false, stopping = false, notified = false;
    std::size_t resolving = 0;

    task_group lookups{logger};  ///< documents fetched ahead: nothing durable, cancelled on stop()
    task_group tasks{logger};    ///< DIDs in flight (and lookups that ended without a PDS to fetch from)
    asio::steady_timer* sleeper = nullptr;

    void notify() {
        notified = true;
        if (sleeper) sleeper->cancel();
    }

    std::size_t looked_ahead() const noexcept { return resolving + scheduler.waiting(); }
    bool has_room() const noexcept { return looked_ahead() < params.scheduling.max_waiting; }

    void spawn(task_group& group, asio::any_io_executor ex, asio::awaitable<void> work, const char* name) {
        group.spawn(ex, std::move(work), name, [this] { notify(); });
    }

    asio::awaitable<void> read_more(const did_source& source) {
        if (source_exhausted || !read_ahead.empty() || !has_room()) co_return;
        auto next = co_await source(cursor_batch, cursor_seq, params.read_ahead);
        if (next.empty()) {
            source_exhausted = true;
            co_return;
        }
        cursor_batch = next.back().batch;
        cursor_seq = next.back().seq;
        for (auto& q : next)
            if (!taken.contains(q.did)) read_ahead.push_back(std::move(q));
    }

    asio::awaitable<void> resolve_ahead(std::string did) {
        resolve::resolution resolution;
        try {
            resolution = co_await resolver.resolve(did);
        } catch (...) {
            --resolving;  // cancelled (abandon): the DID stays pending in the store
            taken.erase(did);
            throw;
        }
        --resolving;
        if (stopping) {
            taken.erase(did);
            co_return;
        }
        std::string host;
        if (resolution.status == resolve::resolve_status::ok && resolution.document && resolution.document->pds_endpoint)
            host = net::authority_of(*resolution.document->pds_endpoint + "/xrpc/com.atproto.sync.getRepo");
        if (host.empty()) {
            // Nothing to fetch: the pipeline records why (not found, no PDS, a bad document).
            // (Handed to the DIDs' group: a stop cancels lookups, not a DID's outcome being written.)
            spawn(tasks, co_await asio::this_coro::executor, backfill_one(std::move(did), std::move(resolution), {}), "backfill");
            co_return;
        }
        resolutions.emplace(did, std::move(resolution));
        scheduler.enqueue({std::move(did), std::move(host)});
        notify();
    }

    asio::awaitable<void> backfill_one(std::string did, resolve::resolution resolution, std::string host) {
        // Whichever way the DID ends (cancellation included), its slot and name are released.
        struct release {
            impl& self;
            const std::string& did;
            const std::string& host;
            ~release() {
                if (!host.empty()) self.scheduler.finished(host);
                self.taken.erase(did);
                self.notify();
            }
        } released{*this, did, host};
        backfill::did_outcome out;
        try {
            out = co_await pipeline.backfill(did, std::move(resolution));
        } catch (const boost::system::system_error& e) {
            if (e.code() == asio::error::operation_aborted) throw;
            out = {did, state::did_status::failed, e.what()};
        } catch (const std::exception& e) {
            // A failure the exporter could not turn into an outcome: the store redoes the DID after a restart.
            logger.error("{}: {}", did, e.what());
            out = {did, state::did_status::failed, e.what()};
        }
        if (on_outcome && *on_outcome) (*on_outcome)(std::move(out));
    }

    void start_lookups(asio::any_io_executor ex) {
        while (!stopping && resolving < params.lookups_in_flight && !read_ahead.empty() && has_room()) {
            auto q = std::move(read_ahead.front());
            read_ahead.pop_front();
            if (!taken.insert(q.did).second) continue;
            ++resolving;
            spawn(lookups, ex, resolve_ahead(std::move(q.did)), "resolving ahead");
        }
    }

    clock::time_point start_fetches(asio::any_io_executor ex) {
        auto gate = [this](const std::string& host, clock::time_point now) { return limiter.ready_at(host, now); };
        for (;;) {
            auto d = scheduler.next(clock::now(), gate);
            if (!d.start) return d.retry_at;
            auto it = resolutions.find(d.start->did);
            auto resolution = std::move(it->second);
            resolutions.erase(it);
            spawn(tasks, ex, backfill_one(std::move(d.start->did), std::move(resolution), std::move(d.start->host)), "backfill");
        }
    }

    bool drained() const noexcept {
        return source_exhausted && read_ahead.empty() && resolving == 0 && scheduler.waiting() == 0 && tasks.running() == 0 &&
               lookups.running() == 0;
    }
};

work_loop::work_loop(backfill::pipeline& pipeline, resolve::resolver& resolver, rate::host_limiter& pds_limiter, log::logger& logger,
                     loop_params params)
    : impl_(std::make_unique<impl>(pipeline, resolver, pds_limiter, logger, params)) {
    impl_->on_outcome = &on_outcome;
}

work_loop::~work_loop() = default;

asio::awaitable<void> work_loop::run(did_source source, bool until_drained) {
    auto& m = *impl_;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    m.source_exhausted = false;  // (a stop() that came first holds: run() then returns at once)
    m.cursor_batch = m.cursor_seq = 0;
    for (;;) {
        m.notified = false;
        auto retry_at = clock::time_point::max();
        if (!m.stopping) {
            co_await m.read_more(source);
            m.start_lookups(ex);
            retry_at = m.start_fetches(ex);
        }
        m.tasks.forget_ended();
        m.lookups.forget_ended();
        if (m.stopping ? m.tasks.running() + m.lookups.running() == 0 : until_drained && m.drained()) break;
        if (m.notified) continue;  // something changed while this pass ran
        // Without a deadline the loop sleeps until a task ends, a lookup lands or wake().
        if (retry_at == clock::time_point::max()) timer.expires_at(asio::steady_timer::time_point::max());
        else timer.expires_at(retry_at);
        m.sleeper = &timer;
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        m.sleeper = nullptr;
    }
    m.tasks.forget_ended();
    m.lookups.forget_ended();
}

void work_loop::wake() {
    impl_->source_exhausted = false;
    impl_->notify();
}

void work_loop::stop() {
    auto& m = *impl_;
    m.stopping = true;
    m.read_ahead.clear();
    // Resolved DIDs not started stay pending in the store; the scheduler forgets them.
    for (auto& [did, r] : m.resolutions) m.taken.erase(did);
    m.resolutions.clear();
    m.scheduler = host_scheduler(m.params.scheduling);
    m.lookups.cancel_all();
    m.notify();
}

void work_loop::abandon() {
    stop();
    impl_->tasks.cancel_all();
}

void work_loop::set_params(loop_params params) {
    impl_->params = params;
    impl_->scheduler.set_params(params.scheduling);
    impl_->notify();
}

work_loop::snapshot_t work_loop::snapshot() const {
    const auto& m = *impl_;
    return {m.resolving, m.scheduler.waiting(), m.scheduler.in_flight(), m.scheduler.hosts()};
}

asio::awaitable<std::size_t> run_stored_batch(work_loop& loop, exporter::exporter& exporter, std::int64_t batch,
                                              std::size_t dids_per_batch) {
    co_await exporter.recover();
    dids_per_batch = std::max<std::size_t>(1, dids_per_batch);
    auto total = static_cast<std::size_t>(co_await exporter.batch_count(batch));
    did_source source = [&exporter, batch](std::int64_t, std::int64_t after_seq,
                                           std::size_t limit) -> asio::awaitable<std::vector<queued_did>> {
        std::vector<queued_did> out;
        for (auto& [seq, did] : co_await exporter.unfinished(batch, after_seq, limit)) out.push_back({batch, seq, std::move(did)});
        co_return out;
    };
    co_await loop.run(std::move(source), true);
    co_return (total + dids_per_batch - 1) / dids_per_batch;
}

asio::awaitable<backfill::run_report> run_dids(work_loop& loop, exporter::exporter& exporter, std::vector<std::string> dids,
                                               std::size_t dids_per_batch, std::string source) {
    backfill::run_report report;
    auto batch = co_await exporter.begin_batch(source);
    co_await exporter.add_to_batch(batch, dids);
    std::map<std::string, backfill::did_outcome> fresh;
    auto previous = std::exchange(loop.on_outcome, [&](backfill::did_outcome&& o) { fresh[o.did] = std::move(o); });
    report.total_batches = co_await run_stored_batch(loop, exporter, batch, dids_per_batch);
    loop.on_outcome = std::move(previous);
    for (const auto& did : dids) {
        if (auto it = fresh.find(did); it != fresh.end()) {
            report.outcomes.push_back(it->second);
            continue;
        }
        report.outcomes.push_back(co_await backfill::stored_outcome(exporter, did));  // finished by an earlier run
    }
    co_return report;
}

}  // namespace bsky::schedule
