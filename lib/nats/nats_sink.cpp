#include "nats/nats_sink.hpp"

#include "nats/connection.hpp"

#include <nats/nats.h>

#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace bsky::nats {

namespace {

using steady = std::chrono::steady_clock;

struct msg_ptr {
    natsMsg* msg = nullptr;
    explicit msg_ptr(natsMsg* m = nullptr) : msg(m) {}
    msg_ptr(msg_ptr&& o) noexcept : msg(std::exchange(o.msg, nullptr)) {}
    msg_ptr& operator=(msg_ptr&& o) noexcept {
        std::swap(msg, o.msg);
        return *this;
    }
    ~msg_ptr() { natsMsg_Destroy(msg); }
};

std::string_view string_field(const boost::json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
}

// at://did/collection/rkey -> collection
std::string_view collection_of(std::string_view uri) {
    auto start = uri.find('/', 5);
    if (start == std::string_view::npos) return {};
    auto end = uri.find('/', start + 1);
    return uri.substr(start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
}

}  // namespace

// One attempt of one DID: its publishes in flight and those to send again.
// Each attempt has its own id, so a late acknowledgement of a discarded
// attempt never counts for the next one.
struct attempt {
    std::string did;
    std::string rev;
    std::map<std::string, std::size_t> counts;  ///< records published per type
    std::size_t in_flight = 0;
    std::vector<msg_ptr> failed;  ///< nacked or timed out: sent again by commit()
    std::string last_failure;
};

struct nats_sink::impl {
    impl(const config::nats_params& p, log::logger& l)
        : params(p), logger(l), conn(p, l, {&impl::on_ack, this}) {
        conn.ensure_stream({.name = p.stream, .subjects = {p.subject_prefix + ".>"}, .replicas = p.replicas,
                            .duplicate_window_seconds = p.duplicate_window_seconds});
        logger.info("NATS: publishing to stream {} (subjects {}.>) at {}", p.stream, p.subject_prefix, p.url);
    }

    // On a libnats thread: record and wake the exporter thread, nothing more.
    static void on_ack(void* closure, natsMsg* raw, bool ok, const char* why) {
        auto& self = *static_cast<impl*>(closure);
        msg_ptr msg(raw);
        std::lock_guard lock(self.mutex);
        auto owner = self.owners.find(raw);
        if (owner == self.owners.end()) return;
        auto it = self.attempts.find(owner->second);
        self.owners.erase(owner);
        if (it == self.attempts.end()) return;  // the attempt was discarded
        --it->second.in_flight;
        if (!ok) {
            it->second.failed.push_back(std::move(msg));
            it->second.last_failure = why;
        }
        self.changed.notify_all();
    }

    void note_link_events() {
        auto e = conn.take_link_events();
        if (e.disconnects) logger.warn("NATS: lost the connection to the server ({}x); publishes wait for a reconnect", e.disconnects);
        if (e.reconnects) logger.info("NATS: reconnected ({}x)", e.reconnects);
    }

    attempt& current(const std::string& did) {
        auto& id = current_attempt[did];
        if (id == 0) {
            id = ++last_attempt_id;
            attempts[id].did = did;
        }
        return attempts[id];
    }

    /// Sends one message of attempt `id` (the lock is not held), waiting while
    /// the client has max_pending_acks in flight or no server, up to the ack timeout.
    void send(std::uint64_t id, msg_ptr msg) {
        auto deadline = steady::now() + std::chrono::duration<double>(params.ack_timeout_seconds);
        jsPubOptions opts;
        jsPubOptions_Init(&opts);
        opts.MaxWait = static_cast<int64_t>(params.ack_timeout_seconds * 1000);
        for (;;) {
            natsMsg* raw = msg.msg;
            {
                std::lock_guard lock(mutex);
                owners[raw] = id;
                ++attempts.at(id).in_flight;
            }
            auto s = js_PublishMsgAsync(conn.jetstream(), &msg.msg, &opts);
            if (s == NATS_OK) return;  // libnats owns it now; on_ack hands it back or frees it
            {
                std::lock_guard lock(mutex);
                owners.erase(raw);
                --attempts.at(id).in_flight;
            }
            if (steady::now() >= deadline)
                throw std::runtime_error(describe(s, ("publishing to NATS at " + params.url).c_str()));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // stalled (max pending) or no server yet
        }
    }

    msg_ptr record_message(const std::string& subject, std::string_view line, const std::string& did, const std::string& type,
                           const std::string& rev) {
        boost::system::error_code ec;
        auto value = boost::json::parse(line, ec);
        if (ec || !value.is_object()) throw std::logic_error("nats sink: a staged record is not a JSON object");
        const auto& o = value.get_object();
        auto uri = string_field(o, "uri");
        auto cid = string_field(o, "cid");
        natsMsg* raw = nullptr;
        if (auto s = natsMsg_Create(&raw, subject.c_str(), nullptr, line.data(), static_cast<int>(line.size())); s != NATS_OK)
            throw std::runtime_error(describe(s, "creating a NATS message"));
        msg_ptr msg(raw);
        std::string id = std::string(uri) + "#" + std::string(cid);
        std::string collection(collection_of(uri));
        natsMsgHeader_Set(raw, "Nats-Msg-Id", id.c_str());
        natsMsgHeader_Set(raw, "Bsky-Did", did.c_str());
        natsMsgHeader_Set(raw, "Bsky-Collection", collection.c_str());
        natsMsgHeader_Set(raw, "Bsky-Record-Type", type.c_str());
        natsMsgHeader_Set(raw, "Bsky-Rev", rev.c_str());
        return msg;
    }

    /// A server away for longer than a DID's retries would last fails DIDs at
    /// once instead of each waiting out its timeouts (they stay pending).
    void check_reachable() {
        auto down = conn.seconds_down();
        if (down > params.ack_timeout_seconds * params.publish_attempts)
            throw std::runtime_error("no NATS server at " + params.url + " has answered for " + std::to_string(static_cast<long>(down)) +
                                     " s; start it (the client reconnects by itself)");
    }

    void stage(const std::string& type, const std::string& did, const std::string& lines, std::size_t count, const std::string& rev) {
        note_link_events();
        check_reachable();
        std::uint64_t id;
        {
            std::lock_guard lock(mutex);
            auto& a = current(did);
            a.rev = rev;
            a.counts[type] += count;
            id = current_attempt[did];
        }
        std::string subject = params.subject_prefix + "." + type;
        std::size_t pos = 0;
        while (pos < lines.size()) {
            auto end = lines.find('\n', pos);
            if (end == std::string::npos) end = lines.size();
            if (end > pos) send(id, record_message(subject, std::string_view(lines).substr(pos, end - pos), did, type, rev));
            pos = end + 1;
        }
    }

    /// Returns once every publish of the DID is acknowledged; resends the failed
    /// ones; throws when they cannot all be.
    void await_acks(const std::string& did) {
        std::unique_lock lock(mutex);
        current(did);  // a DID without records has an attempt too (its commits message)
        auto attempt_id = current_attempt[did];
        std::uint32_t rounds = 1;
        for (;;) {
            auto& a = attempts.at(attempt_id);
            // A publish's own MaxWait reports it as failed; the margin covers a stalled client.
            auto deadline = steady::now() + std::chrono::duration<double>(params.ack_timeout_seconds * 2 + 1);
            changed.wait_until(lock, deadline, [&] { return a.in_flight == 0; });
            if (a.in_flight > 0)
                throw std::runtime_error(std::to_string(a.in_flight) + " publishes to NATS at " + params.url +
                                         " were neither acknowledged nor reported failed in time");
            if (a.failed.empty()) return;
            if (rounds >= params.publish_attempts)
                throw std::runtime_error(std::to_string(a.failed.size()) + " records not acknowledged by NATS at " +
                                         params.url + " after " + std::to_string(rounds) + " attempts (last: " + a.last_failure + ")");
            ++rounds;
            auto resend = std::move(a.failed);
            a.failed.clear();
            lock.unlock();
            // A stream electing a new leader answers "no responders" at once for a few
            // seconds: resends wait a little longer each round.
            std::this_thread::sleep_for(resend_pause(rounds));
            note_link_events();
            for (auto& m : resend) send(attempt_id, std::move(m));
            lock.lock();
        }
    }

    std::chrono::milliseconds resend_pause(std::uint32_t round) const {
        double seconds = std::min(params.ack_timeout_seconds, 0.1 * static_cast<double>(1u << std::min(round, 10u)));
        return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
    }

    /// {prefix}.commits: the DID's records are all stored; consumers who need whole DIDs wait for it.
    void publish_completion(const std::string& did) {
        boost::json::object body;
        std::string rev;
        std::size_t total = 0;
        {
            std::lock_guard lock(mutex);
            auto& a = attempts.at(current_attempt[did]);
            boost::json::object counts;
            for (const auto& [type, n] : a.counts) {
                counts[type] = n;
                total += n;
            }
            rev = a.rev;
            body = {{"did", did}, {"rev", rev}, {"status", "done"}, {"records", total}, {"counts", std::move(counts)}};
        }
        auto text = boost::json::serialize(body);
        auto subject = params.subject_prefix + ".commits";
        std::string id = "commit:" + did + ":" + rev;
        std::string last;
        for (std::uint32_t i = 0; i < params.publish_attempts; ++i) {
            natsMsg* raw = nullptr;
            if (auto s = natsMsg_Create(&raw, subject.c_str(), nullptr, text.data(), static_cast<int>(text.size())); s != NATS_OK)
                throw std::runtime_error(describe(s, "creating a NATS message"));
            msg_ptr msg(raw);
            natsMsgHeader_Set(raw, "Nats-Msg-Id", id.c_str());
            natsMsgHeader_Set(raw, "Bsky-Did", did.c_str());
            natsMsgHeader_Set(raw, "Bsky-Rev", rev.c_str());
            jsPubOptions opts;
            jsPubOptions_Init(&opts);
            opts.MaxWait = static_cast<int64_t>(params.ack_timeout_seconds * 1000);
            jsPubAck* ack = nullptr;
            jsErrCode code = static_cast<jsErrCode>(0);
            auto s = js_PublishMsg(&ack, conn.jetstream(), raw, &opts, &code);
            jsPubAck_Destroy(ack);
            if (s == NATS_OK) return;
            last = describe(s, "publishing the commit message");
            note_link_events();
            std::this_thread::sleep_for(resend_pause(i + 1));
        }
        throw std::runtime_error(last + " at " + params.url);
    }

    void forget(const std::string& did) {
        std::lock_guard lock(mutex);
        if (auto it = current_attempt.find(did); it != current_attempt.end()) {
            attempts.erase(it->second);  // late acknowledgements of it are dropped by on_ack
            current_attempt.erase(it);
        }
    }

    config::nats_params params;
    log::logger& logger;
    std::mutex mutex;  ///< guards what on_ack touches
    std::condition_variable changed;
    std::unordered_map<natsMsg*, std::uint64_t> owners;  ///< message in flight -> its attempt
    std::unordered_map<std::uint64_t, attempt> attempts;
    std::unordered_map<std::string, std::uint64_t> current_attempt;
    std::uint64_t last_attempt_id = 0;
    connection conn;  ///< last: closed first, before what its callbacks touch
};

nats_sink::nats_sink(const config::nats_params& params, log::logger& logger) : impl_(std::make_unique<impl>(params, logger)) {}

nats_sink::~nats_sink() = default;

void nats_sink::stage(const std::string& type, const std::string& did, const std::string& records, std::size_t count, std::size_t,
                      const std::string& rev) {
    impl_->stage(type, did, records, count, rev);
}

void nats_sink::commit(const std::string& did, const std::set<std::string>&) {
    try {
        impl_->await_acks(did);
        impl_->publish_completion(did);
    } catch (...) {
        impl_->forget(did);
        throw;
    }
    impl_->forget(did);
}

void nats_sink::discard(const std::string& did) { impl_->forget(did); }

void nats_sink::roll_forward(const std::string& did) {
    throw std::logic_error("nats sink: roll_forward(" + did + ") called, but a NATS commit cannot be rolled forward");
}

void nats_sink::recover(const std::vector<std::string>&) {}

}  // namespace bsky::nats
