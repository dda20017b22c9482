// A loopback PLC directory + PDS for end-to-end CLI tests: serves N DIDs,
// each a fixture repo's tree under its own (unsigned) commit, so every DID
// has distinct record URIs. Writes "PORT" to PORT_FILE and the DID list to
// DIDS_FILE, then serves until killed.
//   fake_pds CAR_FILE N PORT_FILE DIDS_FILE [BROKEN_EVERY] [tls]
// Every BROKEN_EVERY-th DID answers with a truncated CAR (0: none). With
// "tls" it serves HTTPS for localhost with a CA written to PORT_FILE.ca.
#include "car/reader.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/multibase.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"
#include "support/fixtures.hpp"
#include "support/test_server.hpp"

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

using namespace bsky;

namespace {

struct blocks final : car::handler {
    std::vector<cid::cid> roots;
    std::vector<std::pair<cid::cid, std::vector<std::uint8_t>>> list;
    std::error_code on_header(std::span<const cid::cid> r) override {
        roots.assign(r.begin(), r.end());
        return {};
    }
    std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> b, std::uint64_t) override {
        list.emplace_back(id, std::vector<std::uint8_t>(b.begin(), b.end()));
        return {};
    }
};

void append_section(std::string& out, std::span<const std::uint8_t> id, std::span<const std::uint8_t> bytes) {
    std::uint8_t len[10];
    auto n = cid::write_varint(id.size() + bytes.size(), len);
    out.append(reinterpret_cast<const char*>(len), n);
    out.append(reinterpret_cast<const char*>(id.data()), id.size());
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::cerr << "usage: fake_pds CAR_FILE N PORT_FILE DIDS_FILE [BROKEN_EVERY]\n";
        return 2;
    }
    auto car_bytes = test::read_bytes(argv[1]);
    int n = std::atoi(argv[2]);
    int broken_every = argc > 5 ? std::atoi(argv[5]) : 0;
    bool tls = argc > 6 && std::string_view(argv[6]) == "tls";
    std::optional<test::test_ca> ca;
    std::optional<test::pem_pair> certificate;
    if (tls) {
        ca.emplace();
        certificate = ca->issue({"localhost"}, {"127.0.0.1"});
        std::ofstream(std::string(argv[3]) + ".ca") << ca->certificate_pem();
    }
    blocks parsed;
    car::reader reader(parsed);
    std::error_code ec;
    reader.put(car_bytes, ec);
    cbor::document commit_doc;
    std::vector<std::uint8_t> commit_bytes;
    for (auto& [id, b] : parsed.list)
        if (id == parsed.roots.at(0)) commit_bytes = b;
    if (ec || cbor::decode(commit_bytes, commit_doc)) {
        std::cerr << "fake_pds: cannot read " << argv[1] << "\n";
        return 1;
    }
    auto data = *commit_doc.root()["data"].as_link();

    std::map<std::string, std::string> cars;
    std::ofstream dids_out(argv[4]);
    for (int i = 0; i < n; ++i) {
        std::string seed = "fake-pds-did-" + std::to_string(i);
        auto digest = crypto::sha256({reinterpret_cast<const std::uint8_t*>(seed.data()), seed.size()});
        std::string did = "did:plc:" + cid::base32_encode(digest).substr(0, 24);
        // A v3 commit for this DID over the fixture's tree (signature bytes are not checked here).
        std::vector<std::uint8_t> commit;
        cbor::encoder enc(commit);
        enc.map_header(6);
        enc.text("did");
        enc.text(did);
        enc.text("rev");
        enc.text("3lhmydhwizp2d");
        enc.text("sig");
        enc.bytes(std::vector<std::uint8_t>(64, 7));
        enc.text("data");
        enc.link(data);
        enc.text("prev");
        enc.null();
        enc.text("version");
        enc.integer(3);
        auto commit_id = cid::cid::make_v1_sha256(cid::codec_dag_cbor, crypto::sha256(commit));
        std::vector<std::uint8_t> header;
        cbor::encoder h(header);
        h.map_header(2);
        h.text("roots");
        h.array_header(1);
        h.link(commit_id);
        h.text("version");
        h.integer(1);
        std::string out;
        std::uint8_t len[10];
        auto ln = cid::write_varint(header.size(), len);
        out.append(reinterpret_cast<const char*>(len), ln);
        out.append(reinterpret_cast<const char*>(header.data()), header.size());
        append_section(out, commit_id.bytes(), commit);
        for (auto& [id, b] : parsed.list)
            if (!(id == parsed.roots.at(0))) append_section(out, id.bytes(), b);
        if (broken_every > 0 && i % broken_every == broken_every - 1) out.resize(out.size() / 2);
        cars[did] = std::move(out);
        dids_out << did << "\n";
    }
    dids_out.close();

    std::unique_ptr<test::test_server> server;
    std::string origin;
    server = std::make_unique<test::test_server>([&](const test::request_info& req, test::exchange& ex) {
        const std::string prefix = "/xrpc/com.atproto.sync.getRepo?did=";
        if (req.target.starts_with(prefix)) {
            auto it = cars.find(req.target.substr(prefix.size()));
            if (it == cars.end()) return ex.respond({.status = 400, .body = R"({"error":"RepoNotFound","message":"no such repo"})"});
            return ex.respond({.body = it->second, .chunked = true, .chunk_size = 16384, .delay = std::chrono::milliseconds(tls ? 0 : 1)});
        }
        auto did = req.target.substr(1);
        if (!cars.contains(did)) return ex.respond({.status = 404, .body = R"({"message":"DID not registered"})"});
        ex.respond({.body = "{\"id\":\"" + did + "\",\"service\":[{\"id\":\"#atproto_pds\",\"type\":\"AtprotoPersonalDataServer\",\"serviceEndpoint\":\"" +
                            origin + "\"}]}"});
    }, certificate);
    origin = server->origin(tls ? "localhost" : "");
    std::ofstream(argv[3]) << server->port() << "\n";
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}
