#include "support/fake_network_repos.hpp"

#include "car/reader.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/multibase.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"
#include "support/fixtures.hpp"

#include <stdexcept>

namespace bsky::test {

namespace {

void append_varint(std::string& out, std::uint64_t v) {
    std::uint8_t len[10];
    auto n = cid::write_varint(v, len);
    out.append(reinterpret_cast<const char*>(len), n);
}

void append_section(std::string& out, std::span<const std::uint8_t> id, std::span<const std::uint8_t> bytes) {
    append_varint(out, id.size() + bytes.size());
    out.append(reinterpret_cast<const char*>(id.data()), id.size());
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Keeps the root and every block but the commit (which each DID replaces).
struct tree_collector final : car::handler {
    cid::cid root;
    std::vector<std::uint8_t> commit;
    std::string sections;
    std::error_code on_header(std::span<const cid::cid> roots) override {
        if (roots.empty()) return std::make_error_code(std::errc::invalid_argument);
        root = roots[0];
        return {};
    }
    std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> bytes, std::uint64_t) override {
        if (id == root) commit.assign(bytes.begin(), bytes.end());
        else append_section(sections, id.bytes(), bytes);
        return {};
    }
};

}  // namespace

repo_template load_repo_template(const std::string& name, const std::filesystem::path& car_file) {
    auto bytes = read_bytes(car_file);
    tree_collector tree;
    car::reader reader(tree);
    std::error_code ec;
    reader.put(bytes, ec);
    cbor::document commit;
    if (ec || tree.commit.empty() || cbor::decode(tree.commit, commit))
        throw std::runtime_error("fake_network: template '" + name + "': " + car_file.string() +
                                 " is not a repo CAR with its commit as root" + (ec ? " (" + ec.message() + ")" : ""));
    auto data = commit.root()["data"].as_link();
    if (!data) throw std::runtime_error("fake_network: template '" + name + "': the commit of " + car_file.string() + " has no data link");
    return {name, *data, std::move(tree.sections)};
}

std::string fake_did(const std::string& seed, std::size_t index) {
    std::string text = "fake-network-" + seed + "-" + std::to_string(index);
    auto digest = crypto::sha256({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    return "did:plc:" + cid::base32_encode(digest).substr(0, 24);
}

std::string car_head_for(const std::string& did, const repo_template& tree) {
    // A v3 commit (keys in DAG-CBOR's canonical order); the signature bytes
    // are not checked by the tests (verify_signatures: false).
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
    enc.link(tree.data_root);
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
    append_varint(out, header.size());
    out.append(reinterpret_cast<const char*>(header.data()), header.size());
    append_section(out, commit_id.bytes(), commit);
    return out;
}

}  // namespace bsky::test
