#include "service/nats_intake.hpp"

#include "export/exporter.hpp"
#include "nats/connection.hpp"
#include "nats/work_stream.hpp"
#include "syntax/syntax.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <unordered_map>

namespace bsky::service {

namespace asio = boost::asio;

struct nats_intake::impl {
    impl(asio::any_io_executor ex, exporter::exporter& e, const config::nats_params& p, std::size_t cap, log::logger& l)
        : executor(ex), exporter(e), params(p), capacity(std::max<std::size_t>(1, cap)), logger(l), stream(p, l, true),
          room(ex) {}

    struct held_did {
        std::int64_t batch = 0;
        nats::work_item item;
    };

    asio::any_io_executor executor;
    exporter::exporter& exporter;
    config::nats_params params;
    std::size_t capacity;
    log::logger& logger;
    nats::work_stream stream;
    asio::thread_pool fetch_thread{1};  ///< libnats's fetch blocks: never on the event loop
    std::map<std::int64_t, held_did> held;  ///< by arrival
    std::unordered_map<std::string, std::int64_t> seq_of;
    std::int64_t last_seq = 0;
    bool stopping = false;
    std::string last_failure;  ///< the fetch error last logged (logged again only when it changes)
    asio::steady_timer room;  ///< cancelled when a held DID ends
    asio::steady_timer::time_point next_keepalive{};
    std::function<void()> on_recorded;

    // Takes the function by reference: the caller's temporary lives until its co_await completes.
    template <class F>
    static auto invoke(F& fn) -> asio::awaitable<decltype(fn())> {
        co_return fn();
    }
    template <class F>
    auto off_loop(F& fn) -> asio::awaitable<decltype(fn())> {
        co_return co_await asio::co_spawn(fetch_thread.get_executor(), invoke(fn), asio::use_awaitable);
    }

    /// Keeps the deliveries being worked on from being redelivered elsewhere:
    /// called at least once a second (a fetch waits at most that long).
    void keep_alive() {
        auto now = asio::steady_timer::clock_type::now();
        if (now < next_keepalive) return;
        next_keepalive = now + keepalive_every();
        for (auto& [seq, h] : held) h.item.in_progress();
    }
    std::chrono::milliseconds keepalive_every() const {
        return std::chrono::milliseconds(static_cast<std::int64_t>(params.work_ack_wait_seconds * 1000 / 3));
    }

    asio::awaitable<void> accept(std::vector<nats::work_item> items) {
        std::vector<std::string> fresh;
        std::vector<nats::work_item> fresh_items;
        for (auto& item : items) {
            const auto did = item.did();
            if (!syntax::is_did(did)) {
                logger.warn("NATS work stream: '{}' is not a DID; moved to {}.dead", did, params.work_subject);
                auto why = std::string("not a DID");
                auto dead = [&] { stream.dead_letter(item, why); return 0; };
                co_await off_loop(dead);
                item.ack();
                continue;
            }
            if (auto it = seq_of.find(did); it != seq_of.end()) {
                held.at(it->second).item = std::move(item);  // redelivered while held: keep the newest
                continue;
            }
            auto row = co_await exporter.get(did);
            if (row && state::is_final(row->status) && row->status != state::did_status::failed) {
                item.ack();  // ended here before; its acknowledgement was lost
                continue;
            }
            if (row && row->status == state::did_status::failed) {
                auto again = [&](state::state_store& s) { s.mark_retryable(did, "delivered again by the NATS work stream"); };
                co_await exporter.visit(again);
            }
            fresh.push_back(did);
            fresh_items.push_back(std::move(item));
        }
        if (fresh.empty()) co_return;
        auto batch = co_await exporter.add_batch("nats:" + params.work_stream, fresh);
        for (auto& item : fresh_items) {
            auto seq = ++last_seq;
            seq_of[item.did()] = seq;
            held.emplace(seq, held_did{batch, std::move(item)});
        }
        if (on_recorded) on_recorded();
    }

    asio::awaitable<void> fetch_loop() {
        while (!stopping) {
            keep_alive();
            if (held.size() >= capacity) {
                room.expires_after(std::min<std::chrono::milliseconds>(keepalive_every(), std::chrono::seconds(1)));
                co_await room.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            int want = static_cast<int>(capacity - held.size());
            std::string failure;
            auto fetch = [&] {
                try {
                    return stream.fetch(want, 1000);
                } catch (const nats::error& e) {
                    failure = e.what();  // the server is away: the client reconnects, and so do we
                    return std::vector<nats::work_item>{};
                }
            };
            auto items = co_await off_loop(fetch);
            if (!failure.empty()) {
                if (failure != last_failure) logger.warn("NATS work stream: {}; trying again every second", failure);
                last_failure = failure;
                room.expires_after(std::chrono::seconds(1));
                co_await room.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            last_failure.clear();
            if (stopping) {
                for (auto& item : items) item.nak(0);
                break;
            }
            co_await accept(std::move(items));
        }
    }

    /// What is still held goes back at once (not after the ack wait).
    void give_back_all() {
        for (auto& [seq, h] : held) h.item.nak(0);
        held.clear();
        seq_of.clear();
    }
};

nats_intake::nats_intake(asio::any_io_executor executor, exporter::exporter& exporter, const config::nats_params& params,
                         std::size_t capacity, log::logger& logger)
    : impl_(std::make_unique<impl>(std::move(executor), exporter, params, capacity, logger)) {
    logger.info("taking DIDs from the NATS work stream {} (subject {}, consumer {}) at {}", params.work_stream, params.work_subject,
                params.work_consumer, params.url);
}

nats_intake::~nats_intake() {
    impl_->give_back_all();
    impl_->fetch_thread.join();
}

asio::awaitable<void> nats_intake::run() {
    auto& m = *impl_;
    m.on_recorded = on_recorded;
    co_await m.fetch_loop();
}

void nats_intake::stop() {
    impl_->stopping = true;
    impl_->room.cancel();
}

schedule::did_source nats_intake::source() {
    return [this](std::int64_t, std::int64_t after_seq, std::size_t limit) -> asio::awaitable<std::vector<schedule::queued_did>> {
        std::vector<schedule::queued_did> out;
        for (auto it = impl_->held.upper_bound(after_seq); it != impl_->held.end() && out.size() < limit; ++it)
            out.push_back({it->second.batch, it->first, it->second.item.did()});
        co_return out;
    };
}

void nats_intake::on_outcome(const backfill::did_outcome& outcome) {
    auto& m = *impl_;
    auto it = m.seq_of.find(outcome.did);
    if (it == m.seq_of.end()) return;
    auto node = m.held.extract(it->second);
    m.seq_of.erase(it);
    auto& item = node.mapped().item;
    switch (nats::decide(outcome.status != state::did_status::failed, item.deliveries(), m.params.work_max_deliveries)) {
        case nats::work_decision::ack: item.ack(); break;
        case nats::work_decision::retry:
            // Another delivery, maybe to another daemon, after a pause that grows with each failure.
            item.nak(std::min<double>(60, 2.0 * static_cast<double>(item.deliveries())));
            break;
        case nats::work_decision::dead:
            m.logger.warn("{}: failed on all {} deliveries; moved to {}.dead: {}", outcome.did, item.deliveries(), m.params.work_subject,
                          outcome.error);
            try {
                m.stream.dead_letter(item, outcome.error);
            } catch (const std::exception& e) {
                m.logger.error("{}: could not publish to {}.dead: {}", outcome.did, m.params.work_subject, e.what());
            }
            item.ack();
            break;
    }
    m.room.cancel();
}

}  // namespace bsky::service
