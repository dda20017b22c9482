// Single-core decode throughput on one CAR file, next to SHA-256 over the
// same blocks (every byte must be hashed once), and the hashing floor: the
// CAR layer's hash checks plus SHA-256 of every MST key (for its height),
// the work no decoder can skip, in the same unit.
//   parse_bench FILE.car [did:key:...] [--once | --once-tree | --write-tree OUT.car]
// Prints one JSON line.
#include "car/reader.hpp"
#include "cbor/dag_json.hpp"
#include "cbor/decoder.hpp"
#include "crypto/did_key.hpp"
#include "crypto/sha256.hpp"
#include "cid/varint.hpp"
#include "mst/mst.hpp"
#include "repo/block_store.hpp"
#include "repo/repo_reader.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

using namespace bsky;
using clock_type = std::chrono::steady_clock;

namespace {

struct block_collector final : car::handler {
    std::vector<std::vector<std::uint8_t>> blocks;
    std::vector<cid::cid> ids;
    std::vector<cid::cid> roots;
    std::error_code on_header(std::span<const cid::cid> r) override {
        roots.assign(r.begin(), r.end());
        return {};
    }
    std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> b, std::uint64_t) override {
        blocks.emplace_back(b.begin(), b.end());
        ids.push_back(id);
        return {};
    }
};

// Rewrites the CAR in the order a walk consumes it (commit, then each node
// before its subtrees and each record in key order): the spec's streamable
// order, where no block waits in the store.
std::vector<std::uint8_t> tree_ordered(const std::vector<std::uint8_t>& file, const block_collector& c,
                                       std::vector<std::string>* keys = nullptr) {
    std::map<std::vector<std::uint8_t>, std::size_t> index;
    for (std::size_t i = 0; i < c.ids.size(); ++i) index[{c.ids[i].bytes().begin(), c.ids[i].bytes().end()}] = i;
    auto find = [&](const cid::cid& id) { return index.at({id.bytes().begin(), id.bytes().end()}); };
    std::vector<std::size_t> order{find(c.roots.at(0))};
    cbor::document commit;
    (void)cbor::decode(c.blocks[order[0]], commit);
    mst::walker walker(*commit.root()["data"].as_link());
    std::string detail;
    while (!walker.done()) {
        auto i = find(walker.next_id());
        order.push_back(i);
        if (walker.next_is_record()) {
            (void)walker.take_record(detail);
            if (keys) keys->emplace_back(walker.last_key());
        } else (void)walker.expand_node(c.blocks[i], detail);
    }
    auto header = cid::read_varint(file);
    std::vector<std::uint8_t> out(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(header.length + header.value));
    for (auto i : order) {
        std::uint8_t len[10];
        auto id = c.ids[i].bytes();
        auto n = cid::write_varint(id.size() + c.blocks[i].size(), len);
        out.insert(out.end(), len, len + n);
        out.insert(out.end(), id.begin(), id.end());
        out.insert(out.end(), c.blocks[i].begin(), c.blocks[i].end());
    }
    return out;
}

struct counting_sink final : repo::record_sink {
    bool write_json = false;
    std::string out;
    std::uint64_t records = 0, json_bytes = 0;
    std::error_code on_record(const repo::record_view& r) override {
        ++records;
        if (write_json) {
            out.clear();
            cbor::write_dag_json(r.value, out);
            json_bytes += out.size();
        }
        return {};
    }
};

template <class F>
double best_of(int runs, F&& f) {
    double best = 1e99;
    for (int i = 0; i < runs; ++i) {
        auto t0 = clock_type::now();
        f();
        best = std::min(best, std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: parse_bench FILE.car [did:key:...]\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<std::uint8_t> file{std::istreambuf_iterator<char>(in), {}};
    std::optional<crypto::public_key> key;
    bool once = false;       // decode passes only, for profilers
    bool once_tree = false;  // the same on the walk-ordered copy
    std::string write_tree;  // writes the walk-ordered copy (to profile it with --once)
    for (int i = 2; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--once") once = true;
        else if (std::string_view(argv[i]) == "--once-tree") once_tree = true;
        else if (std::string_view(argv[i]) == "--write-tree" && i + 1 < argc) write_tree = argv[++i];
        else key = crypto::parse_did_key(argv[i]);
    }

    block_collector collector;
    car::reader reader(collector, {.verify_hashes = false});
    std::error_code ec;
    reader.put(file, ec);
    std::uint64_t block_bytes = 0;
    for (const auto& b : collector.blocks) block_bytes += b.size();

    auto run = [&](bool json, const std::vector<std::uint8_t>& car_bytes) {
        counting_sink sink;
        sink.write_json = json;
        repo::reader_options options;
        options.key = key;
        options.spill_threshold_bytes = 1ull << 40;  // measure decoding, not the disk
        options.expected_bytes = car_bytes.size();
        repo::repo_reader r(sink, options);
        constexpr std::size_t chunk = 1 << 16;
        for (std::size_t pos = 0; pos < car_bytes.size(); pos += chunk)
            if (auto e = r.put({car_bytes.data() + pos, std::min(chunk, car_bytes.size() - pos)})) {
                std::fprintf(stderr, "parse_bench: %s\n", r.error_message().c_str());
                std::exit(1);
            }
        if (r.finish()) {
            std::fprintf(stderr, "parse_bench: %s\n", r.error_message().c_str());
            std::exit(1);
        }
        return sink.records;
    };
    std::uint64_t records = run(false, file);
    if (!write_tree.empty()) {
        auto sorted = tree_ordered(file, collector);
        std::ofstream(write_tree, std::ios::binary).write(reinterpret_cast<const char*>(sorted.data()),
                                                          static_cast<std::streamsize>(sorted.size()));
        return 0;
    }
    if (once_tree) {
        auto sorted = tree_ordered(file, collector);
        for (int i = 0; i < 10; ++i) run(false, sorted);
        return 0;
    }
    if (once) {
        for (int i = 0; i < 40; ++i) run(false, file);
        return 0;
    }
    volatile std::uint8_t sink_byte = 0;
    double sha = best_of(5, [&] {
        for (const auto& b : collector.blocks) sink_byte = sink_byte ^ crypto::sha256(b)[0];
    });

    // The CAR layer alone: framing, CID parsing and hash checks.
    struct null_handler final : car::handler {
        std::error_code on_header(std::span<const cid::cid>) override { return {}; }
        std::error_code on_block(const cid::cid&, std::span<const std::uint8_t>, std::uint64_t) override { return {}; }
    } nothing;
    double car_only = best_of(5, [&] {
        car::reader r(nothing);
        std::error_code e;
        r.put(file, e);
    });

    // CAR layer plus storing every block (what an out-of-order repo costs before any walking).
    struct storing_handler final : car::handler {
        repo::block_store store{1ull << 40};
        std::error_code on_header(std::span<const cid::cid>) override { return {}; }
        std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> b, std::uint64_t) override {
            std::error_code e;
            store.put(id, b, e);
            return e;
        }
    };
    double car_store = best_of(5, [&] {
        storing_handler h;
        car::reader r(h);
        std::error_code e;
        r.put(file, e);
    });

    // The other hashing the walk must do: SHA-256 of every MST key, for its height.
    std::vector<std::string> keys;
    auto sorted = tree_ordered(file, collector, &keys);
    double key_heights = best_of(5, [&] {
        for (const auto& k : keys) sink_byte = sink_byte ^ static_cast<std::uint8_t>(mst::key_height(k));
    });

    double decode = best_of(5, [&] { run(false, file); });
    double decode_tree = best_of(5, [&] { run(false, sorted); });
    double with_json = best_of(5, [&] { run(true, file); });

    double mb = static_cast<double>(file.size()) / 1e6;
    std::printf(
        "{\"file\":\"%s\",\"bytes\":%zu,\"blocks\":%zu,\"avg_block_bytes\":%.0f,\"records\":%llu,"
        "\"sha256_MBps\":%.1f,\"car_verify_MBps\":%.1f,\"car_store_MBps\":%.1f,\"decode_MBps\":%.1f,\"decode_records_per_s\":%.0f,\"decode_json_MBps\":%.1f,"
        "\"decode_vs_sha256\":%.2f,\"tree_order_decode_MBps\":%.1f,\"tree_order_vs_sha256\":%.2f,"
        "\"hashing_floor_vs_sha256\":%.2f}\n",
        argv[1], file.size(), collector.blocks.size(), static_cast<double>(block_bytes) / static_cast<double>(collector.blocks.size()),
        static_cast<unsigned long long>(records), static_cast<double>(block_bytes) / 1e6 / sha, mb / car_only, mb / car_store, mb / decode,
        static_cast<double>(records) / decode, mb / with_json, decode / sha, mb / decode_tree, decode_tree / sha,
        (car_only + key_heights) / sha);
    return 0;
}
