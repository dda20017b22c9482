// Reads a JetStream stream back, as a consumer would, for the NATS tests:
//   nats_dump URL STREAM        one JSON line per stored message, in order:
//                               {"seq":N,"subject":"...","headers":{...},"data":"..."}
//   nats_dump --leader URL STREAM   the name of the server leading the stream
// Reads every sequence number with the JetStream "get message" API, so the
// output is the stream's whole content whatever consumers exist.
#include <nats/nats.h>

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    bool leader = argc == 4 && std::string(argv[1]) == "--leader";
    if (leader) ++argv, --argc;
    if (argc != 3) {
        std::cerr << "usage: nats_dump [--leader] URL STREAM\n";
        return 2;
    }
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    auto fail = [](const char* what, natsStatus s) {
        std::cerr << "nats_dump: " << what << ": " << natsStatus_GetText(s) << "\n";
        return 1;
    };
    if (auto s = natsConnection_ConnectTo(&nc, argv[1]); s != NATS_OK) return fail("connect", s);
    if (auto s = natsConnection_JetStream(&js, nc, nullptr); s != NATS_OK) return fail("jetstream", s);
    if (auto s = js_GetStreamInfo(&info, js, argv[2], nullptr, &code); s != NATS_OK) return fail("stream info", s);
    if (leader) {
        std::cout << (info->Cluster && info->Cluster->Leader ? info->Cluster->Leader : "") << "\n";
        jsStreamInfo_Destroy(info);
        return 0;
    }
    auto first = info->State.FirstSeq, last = info->State.LastSeq;
    jsStreamInfo_Destroy(info);
    for (auto seq = first; seq != 0 && seq <= last; ++seq) {
        natsMsg* msg = nullptr;
        auto s = js_GetMsg(&msg, js, argv[2], seq, nullptr, &code);
        if (s == NATS_NOT_FOUND) continue;  // deleted
        if (s != NATS_OK) return fail("get message", s);
        boost::json::object line{{"seq", seq}, {"subject", natsMsg_GetSubject(msg)}};
        boost::json::object headers;
        const char** keys = nullptr;
        int count = 0;
        if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
            for (int i = 0; i < count; ++i) {
                const char* value = nullptr;
                if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) headers[keys[i]] = value;
            }
            free(static_cast<void*>(keys));
        }
        line["headers"] = std::move(headers);
        line["data"] = std::string(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        std::cout << boost::json::serialize(line) << "\n";
        natsMsg_Destroy(msg);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
