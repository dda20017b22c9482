#include "nats/connection.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace bsky::nats {

std::string describe(int status, const char* what) {
    auto s = static_cast<natsStatus>(status);
    std::string out = std::string(what) + ": " + natsStatus_GetText(s);
    natsStatus last = NATS_OK;
    if (const char* detail = nats_GetLastError(&last); detail && *detail && last == s) out += std::string(" (") + detail + ")";
    return out;
}

// Counted on libnats's threads, read on the owner's: nothing else crosses.
struct connection::events {
    std::atomic<std::uint64_t> disconnects{0}, reconnects{0};
    std::atomic<std::int64_t> down_since{0};  ///< steady_clock ticks; 0 while connected
    ack_callbacks acks;
};

namespace {

void check(natsStatus s, const char* what) {
    if (s != NATS_OK) throw error(describe(s, what));
}

struct options_guard {
    natsOptions* opts = nullptr;
    ~options_guard() { natsOptions_Destroy(opts); }
};

std::vector<std::string> split_servers(const std::string& list) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= list.size()) {
        auto end = std::min(list.find(',', start), list.size());
        auto item = list.substr(start, end - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
        start = end + 1;
    }
    return out;
}

void on_disconnected(natsConnection*, void* closure) {
    auto& e = *static_cast<connection::events*>(closure);
    ++e.disconnects;
    std::int64_t none = 0;
    e.down_since.compare_exchange_strong(none, std::chrono::steady_clock::now().time_since_epoch().count());
}
void on_reconnected(natsConnection*, void* closure) {
    auto& e = *static_cast<connection::events*>(closure);
    ++e.reconnects;
    e.down_since = 0;
}

void on_publish_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* failure, void* closure) {
    auto& acks = static_cast<connection::events*>(closure)->acks;
    const char* why = nullptr;
    if (!ack && failure) why = failure->ErrText && *failure->ErrText ? failure->ErrText : natsStatus_GetText(failure->Err);
    acks.on_ack(acks.closure, msg, ack != nullptr, why ? why : "no acknowledgement");
}

void apply_auth_and_tls(natsOptions* opts, const config::nats_params& p) {
    if (!p.user.empty()) check(natsOptions_SetUserInfo(opts, p.user.c_str(), p.password.c_str()), "output.nats.user");
    if (!p.token.empty()) check(natsOptions_SetToken(opts, p.token.c_str()), "output.nats.token");
    if (!p.creds_file.empty())
        check(natsOptions_SetUserCredentialsFromFiles(opts, p.creds_file.c_str(), nullptr),
              ("output.nats.creds_file " + p.creds_file.string()).c_str());
    if (p.tls_ca_file.empty() && p.tls_cert_file.empty()) return;
    check(natsOptions_SetSecure(opts, true), "output.nats TLS");
    if (!p.tls_ca_file.empty())
        check(natsOptions_LoadCATrustedCertificates(opts, p.tls_ca_file.c_str()), ("output.nats.tls_ca_file " + p.tls_ca_file.string()).c_str());
    if (!p.tls_cert_file.empty())
        check(natsOptions_LoadCertificatesChain(opts, p.tls_cert_file.c_str(), p.tls_key_file.c_str()),
              ("output.nats.tls_cert_file " + p.tls_cert_file.string()).c_str());
}

}  // namespace

connection::connection(const config::nats_params& p, log::logger& logger, ack_callbacks acks)
    : events_(std::make_shared<events>()), servers_(p.url) {
    // libnats may still run a callback while the connection closes: what the
    // callbacks touch outlives this object (one per process, a few bytes).
    static std::vector<std::shared_ptr<events>> kept_for_late_callbacks;
    kept_for_late_callbacks.push_back(events_);
    events_->acks = acks;

    auto servers = split_servers(p.url);
    if (servers.empty()) throw error("output.nats.url: no server named; give one or more, comma-separated (nats://host:4222)");
    std::vector<const char*> urls;
    for (const auto& s : servers) urls.push_back(s.c_str());
    options_guard guard;
    check(natsOptions_Create(&guard.opts), "creating NATS options");
    auto* opts = guard.opts;
    check(natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size())), "output.nats.url");
    natsOptions_SetName(opts, "bsky-backfill");
    natsOptions_SetTimeout(opts, 2000);
    natsOptions_SetMaxReconnect(opts, -1);  // forever: publishes wait, ack timeouts decide a DID's fate
    natsOptions_SetReconnectWait(opts, 250);
    natsOptions_SetReconnectBufSize(opts, 64 << 20);
    natsOptions_SetPingInterval(opts, 2000);
    natsOptions_SetMaxPingsOut(opts, 3);
    natsOptions_SetDisconnectedCB(opts, on_disconnected, events_.get());
    natsOptions_SetReconnectedCB(opts, on_reconnected, events_.get());
    apply_auth_and_tls(opts, p);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(p.connect_timeout_seconds);
    bool told = false;
    for (;;) {
        auto s = natsConnection_Connect(&nc_, opts);
        if (s == NATS_OK) break;
        if (s != NATS_NO_SERVER || std::chrono::steady_clock::now() >= deadline)
            throw error(describe(s, ("connecting to NATS at " + p.url).c_str()) +
                        (s == NATS_NO_SERVER ? "; start the server (with JetStream: nats-server -js) or fix output.nats.url"
                                             : "; check output.nats.user/password, token, creds_file and tls_* against the server's"));
        if (!told) logger.warn("NATS at {} does not answer yet; waiting up to {:.0f} s", p.url, p.connect_timeout_seconds);
        told = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    jsOptions js_opts;
    jsOptions_Init(&js_opts);
    js_opts.Wait = static_cast<int64_t>(p.ack_timeout_seconds * 1000);
    if (acks.on_ack) {
        js_opts.PublishAsync.MaxPending = p.max_pending_acks;
        js_opts.PublishAsync.AckHandler = on_publish_ack;
        js_opts.PublishAsync.AckHandlerClosure = events_.get();
        js_opts.PublishAsync.StallWait = 1000;
    }
    if (auto s = natsConnection_JetStream(&js_, nc_, &js_opts); s != NATS_OK) {
        natsConnection_Destroy(nc_);
        throw error(describe(s, "opening JetStream"));
    }
}

connection::~connection() {
    jsCtx_Destroy(js_);
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
}

double connection::seconds_down() const {
    auto since = events_->down_since.load();
    if (since == 0) return 0;
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    return std::chrono::duration<double>(std::chrono::steady_clock::duration(now - since)).count();
}

connection::link_events connection::take_link_events() {
    return {events_->disconnects.exchange(0), events_->reconnects.exchange(0)};
}

namespace {

std::string join(const char** items, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? ", " : "") + std::string(items[i]);
    return out;
}

void check_fits(const jsStreamConfig& have, const stream_spec& want) {
    for (const auto& subject : want.subjects) {
        bool covered = false;
        for (int i = 0; i < have.SubjectsLen; ++i) covered = covered || subject == have.Subjects[i] || std::string(">") == have.Subjects[i];
        if (!covered)
            throw error("NATS stream " + want.name + " exists with subjects [" + join(have.Subjects, have.SubjectsLen) +
                        "], which do not include " + subject + "; name another stream in the config or change its subjects");
    }
    if ((have.Retention == js_WorkQueuePolicy) != want.work_queue)
        throw error("NATS stream " + want.name + " exists with " + (want.work_queue ? "other than" : "") +
                    " work-queue retention; " + (want.work_queue ? "the shared DID work needs WorkQueue retention" :
                                                                     "records would be deleted as they are read") +
                    "; name another stream in the config");
}

}  // namespace

void connection::ensure_stream(const stream_spec& spec) {
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    auto s = js_GetStreamInfo(&info, js_, spec.name.c_str(), nullptr, &code);
    if (s == NATS_OK) {
        try {
            check_fits(*info->Config, spec);
        } catch (...) {
            jsStreamInfo_Destroy(info);
            throw;
        }
        jsStreamInfo_Destroy(info);
        return;
    }
    if (s != NATS_NOT_FOUND)
        throw error(describe(s, ("reading NATS stream " + spec.name + " at " + servers_).c_str()) +
                    "; is JetStream enabled on the server (nats-server -js)?");
    std::vector<const char*> subjects;
    for (const auto& subject : spec.subjects) subjects.push_back(subject.c_str());
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = spec.name.c_str();
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    cfg.Retention = spec.work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    cfg.Replicas = spec.replicas;
    cfg.Duplicates = static_cast<int64_t>(spec.duplicate_window_seconds * 1e9);
    s = js_AddStream(&info, js_, &cfg, nullptr, &code);
    if (s != NATS_OK)
        throw error(describe(s, ("creating NATS stream " + spec.name + " at " + servers_).c_str()) +
                    "; check JetStream is enabled and output.nats.replicas is at most the cluster's size");
    jsStreamInfo_Destroy(info);
}

}  // namespace bsky::nats
