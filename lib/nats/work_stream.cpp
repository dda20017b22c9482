#include "nats/work_stream.hpp"

#include "nats/connection.hpp"

#include <nats/nats.h>

#include <boost/json.hpp>

#include <utility>

namespace bsky::nats {

work_decision decide(bool ended_for_good, std::uint64_t deliveries, std::uint32_t max_deliveries) {
    if (ended_for_good) return work_decision::ack;
    // The server would not deliver it again: say why where an operator looks.
    return deliveries >= max_deliveries ? work_decision::dead : work_decision::retry;
}

work_item::work_item(natsMsg* msg) : msg_(msg) {
    did_.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    while (!did_.empty() && (did_.back() == '\n' || did_.back() == '\r' || did_.back() == ' ')) did_.pop_back();
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        deliveries_ = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }
}
work_item::work_item(work_item&& o) noexcept
    : msg_(std::exchange(o.msg_, nullptr)), did_(std::move(o.did_)), deliveries_(o.deliveries_) {}
work_item& work_item::operator=(work_item&& o) noexcept {
    std::swap(msg_, o.msg_);
    std::swap(did_, o.did_);
    std::swap(deliveries_, o.deliveries_);
    return *this;
}
work_item::~work_item() { natsMsg_Destroy(msg_); }

bool work_item::ack() { return msg_ && natsMsg_Ack(msg_, nullptr) == NATS_OK; }
bool work_item::in_progress() { return msg_ && natsMsg_InProgress(msg_, nullptr) == NATS_OK; }
bool work_item::nak(double delay_seconds) {
    return msg_ && natsMsg_NakWithDelay(msg_, static_cast<int64_t>(delay_seconds * 1000), nullptr) == NATS_OK;
}

struct work_stream::impl {
    impl(const config::nats_params& p, log::logger& logger, bool consume) : params(p), conn(p, logger) {
        conn.ensure_stream({.name = p.work_stream, .subjects = {p.work_subject, p.work_subject + ".dead"}, .replicas = p.replicas,
                            .duplicate_window_seconds = p.duplicate_window_seconds, .work_queue = true});
        if (consume) subscribe();
    }
    ~impl() { natsSubscription_Destroy(sub); }

    void subscribe() {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = params.work_consumer.c_str();
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = static_cast<int64_t>(params.work_ack_wait_seconds * 1e9);
        cc.MaxDeliver = params.work_max_deliveries;
        cc.FilterSubject = params.work_subject.c_str();
        jsConsumerInfo* info = nullptr;
        jsErrCode code{};
        auto s = js_GetConsumerInfo(&info, conn.jetstream(), params.work_stream.c_str(), params.work_consumer.c_str(), nullptr, &code);
        if (s == NATS_NOT_FOUND) {
            s = js_AddConsumer(&info, conn.jetstream(), params.work_stream.c_str(), &cc, nullptr, &code);
            // Another daemon may have created it at the same moment: that one is as good.
            if (s != NATS_OK)
                s = js_GetConsumerInfo(&info, conn.jetstream(), params.work_stream.c_str(), params.work_consumer.c_str(), nullptr, &code);
        }
        if (s != NATS_OK)
            throw error(describe(s, ("opening the NATS consumer " + params.work_consumer + " of stream " + params.work_stream).c_str()));
        jsConsumerInfo_Destroy(info);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = params.work_stream.c_str();
        so.Consumer = params.work_consumer.c_str();
        s = js_PullSubscribe(&sub, conn.jetstream(), params.work_subject.c_str(), params.work_consumer.c_str(), nullptr, &so, &code);
        if (s != NATS_OK) throw error(describe(s, ("subscribing to NATS consumer " + params.work_consumer).c_str()));
    }

    void publish(const std::string& subject, const std::string& body, const std::string& id, bool& duplicate) {
        natsMsg* msg = nullptr;
        if (auto s = natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())); s != NATS_OK)
            throw error(describe(s, "creating a NATS message"));
        if (!id.empty()) natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
        jsPubAck* ack = nullptr;
        jsErrCode code{};
        auto s = js_PublishMsg(&ack, conn.jetstream(), msg, nullptr, &code);
        natsMsg_Destroy(msg);
        duplicate = ack && ack->Duplicate;
        jsPubAck_Destroy(ack);
        if (s != NATS_OK) throw error(describe(s, ("publishing to " + subject + " at " + params.url).c_str()));
    }

    config::nats_params params;
    connection conn;
    natsSubscription* sub = nullptr;
};

work_stream::work_stream(const config::nats_params& params, log::logger& logger, bool consume)
    : impl_(std::make_unique<impl>(params, logger, consume)) {}
work_stream::~work_stream() = default;

enqueue_result work_stream::enqueue(const std::vector<std::string>& dids) {
    enqueue_result out;
    for (const auto& did : dids) {
        bool duplicate = false;
        impl_->publish(impl_->params.work_subject, did, did, duplicate);
        ++(duplicate ? out.duplicates : out.added);
    }
    return out;
}

std::vector<work_item> work_stream::fetch(int max, int wait_ms) {
    std::vector<work_item> out;
    natsMsgList list{};
    jsErrCode code{};
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = max;
    req.Expires = static_cast<int64_t>(wait_ms) * 1000000;
    auto s = natsSubscription_FetchRequest(&list, impl_->sub, &req);
    (void)code;
    if (s != NATS_OK && s != NATS_TIMEOUT && list.Count == 0) {
        if (s == NATS_NOT_FOUND) return out;  // no messages
        throw error(describe(s, ("fetching DIDs from NATS consumer " + impl_->params.work_consumer).c_str()));
    }
    for (int i = 0; i < list.Count; ++i) {
        out.emplace_back(list.Msgs[i]);
        list.Msgs[i] = nullptr;  // owned by the work_item now
    }
    natsMsgList_Destroy(&list);
    return out;
}

void work_stream::dead_letter(const work_item& item, const std::string& reason) {
    boost::json::object body{{"did", item.did()}, {"deliveries", item.deliveries()}, {"reason", reason}};
    bool duplicate = false;
    impl_->publish(impl_->params.work_subject + ".dead", boost::json::serialize(body), "", duplicate);
}

}  // namespace bsky::nats
