// Structure-aware fuzzing of the whole repo path: CAR reader, commit checks,
// MST walk, record decoding, classification and both output formats.
//
// Mutating CAR bytes blindly (car_fuzz) almost always breaks a block's
// SHA-256, so the reader stops before the commit. This target's mutator
// decodes the CAR (car_model), edits decoded blocks where the repo code looks
// (commit fields, MST entry fields, record fields) or the block list, and
// writes it back with every CID recomputed, so the edits reach the code
// behind the hash check. Each input is then read in three chunkings, one of
// them spilling blocks to the temp file: all three must end the same way and
// print the same records, and every printed record must be valid JSON.
#include <boost/json/parse.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include "backfill/classify.hpp"
#include "backfill/transform.hpp"
#include "car_model.hpp"
#include "crypto/did_key.hpp"
#include "repo/repo_reader.hpp"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

using bsky::cbor::kind;
using bsky::fuzz::value;
using rng = std::minstd_rand;

// Values the repo code compares against, so mutations can hit them.
constexpr const char* interesting_strings[] = {
    "", "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.graph.follow",
    "app.bsky.graph.block", "app.bsky.actor.profile", "app.bsky.feed.", "post", ".", "a.b", "$type",
    "2024-10-01T12:00:00Z", "2024-10-01T12:00:00.123456789+00:00", "2024-10-01T24:00:00Z", "2024-12-31T23:59:60Z",
    "2023-01-16T10:00:00", "2024-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "not a date",
    "did:plc:7hptvnhdyeu53xp6rz7e42iy", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:web:example.com", "did:", "did:plc:",
    "3jzfcijpj2z2a", "3jzfcijpj2z2aaaaa", "2222222222222", "zzzzzzzzzzzzz", "self", "en", "en,fr", "\"", "\\", "\x01",
    "\xe2\x80\xa8", "at://did:plc:7hptvnhdyeu53xp6rz7e42iy/app.bsky.feed.post/3jzfcijpj2z2a",
};
constexpr const char* interesting_keys[] = {
    "$type", "createdAt", "reply", "embed", "entities", "facets", "langs", "tags", "subject", "text", "root",
    "parent", "uri", "cid", "did", "version", "rev", "data", "prev", "sig", "e", "l", "k", "p", "t", "v", "record_type",
    "synctimestamp", "author",
};
constexpr std::int64_t interesting_ints[] = {0, 1, 2, 3, 4, -1, 23, 24, 255, 256, 1024, 65536, 1ll << 32, INT64_MAX, INT64_MIN};

template <class T, std::size_t N>
const T& pick(rng& r, const T (&options)[N]) {
    return options[r() % N];
}
std::size_t below(rng& r, std::size_t n) { return n == 0 ? 0 : r() % n; }

std::string mutate_chars(rng& r, std::string s) {
    switch (r() % 5) {
        case 0: if (!s.empty()) s[below(r, s.size())] ^= static_cast<char>(1 << (r() % 8)); break;
        case 1: s.resize(below(r, s.size() + 1)); break;
        case 2: s.insert(below(r, s.size() + 1), 1, "/.:-_az09~\xff"[r() % 11]); break;
        case 3: s += s.substr(below(r, s.size() + 1)); break;
        default: s = pick(r, interesting_strings);
    }
    return s;
}

std::size_t common_prefix(const std::string& a, const std::string& b) {
    std::size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    return n;
}

void collect(value& v, std::vector<value*>& out) {
    out.push_back(&v);
    for (auto& child : v.items) collect(child, out);
}

// Any block's CID: a mutation that rewires a link reaches another real block.
std::string some_block_id(rng& r, const bsky::fuzz::car_model& car) {
    if (car.blocks.empty() || r() % 8 == 0) {
        std::string id = "\x01\x71\x12\x20";
        for (int i = 0; i < 32; ++i) id.push_back(static_cast<char>(r()));
        return id;
    }
    return car.blocks[below(r, car.blocks.size())].id;
}

value random_scalar(rng& r, const bsky::fuzz::car_model& car) {
    switch (r() % 6) {
        case 0: return bsky::fuzz::make_text(pick(r, interesting_strings));
        case 1: return bsky::fuzz::make_int(pick(r, interesting_ints));
        case 2: return bsky::fuzz::make_link(some_block_id(r, car));
        case 3: return bsky::fuzz::make_bytes(mutate_chars(r, "app.bsky.feed.post/3jzfcijpj2z2a"));
        case 4: {
            value v;
            v.type = r() % 2 ? kind::null : kind::boolean;
            v.flag = r() % 2;
            return v;
        }
        default: {
            auto v = bsky::fuzz::make_map();
            v.set(pick(r, interesting_keys), random_scalar(r, car));
            return v;
        }
    }
}

// One edit of one value, chosen by what the value is.
void mutate_value(rng& r, value& v, const bsky::fuzz::car_model& car, const value& donor) {
    if (r() % 6 == 0) {
        v = r() % 2 ? donor : random_scalar(r, car);
        return;
    }
    switch (v.type) {
        case kind::unsigned_int:
        case kind::negative_int:
            if (r() % 2) v = bsky::fuzz::make_int(pick(r, interesting_ints));
            else v.number += r() % 2 ? 1 : static_cast<std::uint64_t>(-1);
            return;
        case kind::string:
        case kind::bytes: v.text = mutate_chars(r, std::move(v.text)); return;
        case kind::link: v.text = some_block_id(r, car); return;
        case kind::array:
            if (v.items.empty() || r() % 3 == 0) v.items.push_back(donor);
            else if (r() % 2) v.items.erase(v.items.begin() + static_cast<std::ptrdiff_t>(below(r, v.items.size())));
            else std::swap(v.items[below(r, v.items.size())], v.items[below(r, v.items.size())]);
            return;
        case kind::map:
            if (v.keys.empty() || r() % 3 == 0) v.set(pick(r, interesting_keys), r() % 2 ? donor : random_scalar(r, car));
            else if (r() % 2) v.erase(std::string(v.keys[below(r, v.keys.size())]));
            else v.keys[below(r, v.keys.size())] = r() % 2 ? pick(r, interesting_keys) : mutate_chars(r, v.keys[0]);
            return;
        default: v = random_scalar(r, car); return;
    }
}

bsky::fuzz::block* find_block(bsky::fuzz::car_model& car, const std::string& id) {
    for (auto& b : car.blocks)
        if (b.id == id && b.decoded) return &b;
    return nullptr;
}

// The full keys of an MST node's entries, undoing the prefix compression
// as far as the entries allow.
std::vector<std::string> entry_keys(value& entries) {
    std::vector<std::string> keys;
    for (auto& entry : entries.items) {
        auto* k = entry.find("k");
        auto* p = entry.find("p");
        std::string previous = keys.empty() ? std::string() : keys.back();
        auto prefix = p && p->type == kind::unsigned_int ? std::min<std::uint64_t>(p->number, previous.size()) : 0;
        keys.push_back(previous.substr(0, prefix) + (k ? k->text : std::string()));
    }
    return keys;
}

// Edits of one MST node that keep it well formed but change the tree's
// meaning at the edges the walker checks: prefix lengths at 0 and at the
// previous key's full length, keys equal to, extending or preceding the
// previous one, entries swapped, dropped or repeated, subtrees rewired.
bool mutate_mst_node(rng& r, bsky::fuzz::car_model& car) {
    std::vector<value*> nodes;
    for (auto& b : car.blocks)
        if (auto* e = b.decoded ? b.tree.find("e") : nullptr; e && e->type == kind::array) nodes.push_back(&b.tree);
    if (nodes.empty()) return false;
    value& node = *nodes[below(r, nodes.size())];
    value& entries = *node.find("e");
    if (entries.items.empty() || r() % 8 == 0) {
        if (r() % 2) node.set("l", r() % 3 ? bsky::fuzz::make_link(some_block_id(r, car)) : value{});
        else node.erase("l");
        return true;
    }
    auto keys = entry_keys(entries);
    auto i = below(r, entries.items.size());
    value& entry = entries.items[i];
    std::string previous = i == 0 ? std::string() : keys[i - 1];
    auto set_key = [&](const std::string& key, std::size_t prefix) {
        prefix = std::min(prefix, key.size());
        entry.set("p", bsky::fuzz::make_int(static_cast<std::int64_t>(prefix)));
        entry.set("k", bsky::fuzz::make_bytes(key.substr(prefix)));
    };
    switch (r() % 8) {
        case 0: entry.set("p", bsky::fuzz::make_int(0)); return true;
        case 1: entry.set("p", bsky::fuzz::make_int(static_cast<std::int64_t>(previous.size() + r() % 2))); return true;
        case 2: set_key(previous + "a", previous.size()); return true;  // the previous key is a prefix of this one
        case 3: set_key(previous, previous.size()); return true;        // the same key twice
        case 4: set_key(mutate_chars(r, keys[i]), common_prefix(previous, keys[i])); return true;
        case 5:
            if (entries.items.size() > 1) std::swap(entry, entries.items[below(r, entries.items.size())]);
            else entries.items.push_back(entry);
            return true;
        case 6: entries.items.erase(entries.items.begin() + static_cast<std::ptrdiff_t>(i)); return true;
        default: entry.set("t", r() % 3 ? bsky::fuzz::make_link(some_block_id(r, car)) : value{}); return true;
    }
}

// Edits aimed at the fields the repo code reads: the commit's, an MST
// entry's, a record's. Returns false when the CAR has no such block.
bool mutate_field(rng& r, bsky::fuzz::car_model& car) {
    std::vector<value*> targets;
    const char* const* fields = nullptr;
    std::size_t field_count = 0;
    static constexpr const char* commit_fields[] = {"did", "version", "rev", "data", "prev", "sig"};
    static constexpr const char* entry_fields[] = {"k", "p", "t", "v"};
    static constexpr const char* record_fields[] = {"$type", "createdAt", "reply", "embed", "langs", "tags", "facets", "subject"};
    switch (r() % 3) {
        case 0:
            if (auto* commit = car.roots.empty() ? nullptr : find_block(car, car.roots[0])) targets.push_back(&commit->tree);
            fields = commit_fields, field_count = std::size(commit_fields);
            break;
        case 1:
            if (r() % 2) return mutate_mst_node(r, car);
            for (auto& b : car.blocks)
                if (auto* e = b.decoded ? b.tree.find("e") : nullptr; e && e->type == kind::array)
                    for (auto& entry : e->items) targets.push_back(&entry);
            fields = entry_fields, field_count = std::size(entry_fields);
            break;
        default:
            for (auto& b : car.blocks)
                if (b.decoded && b.tree.find("$type")) targets.push_back(&b.tree);
            fields = record_fields, field_count = std::size(record_fields);
    }
    if (targets.empty()) return false;
    value& target = *targets[below(r, targets.size())];
    if (target.type != kind::map) return false;
    std::string field = fields[below(r, field_count)];
    value* slot = target.find(field);
    if (!slot || r() % 8 == 0) {
        if (slot && r() % 2) target.erase(field);
        else target.set(field, random_scalar(r, car));
        return true;
    }
    mutate_value(r, *slot, car, random_scalar(r, car));
    return true;
}

void mutate_block_list(rng& r, bsky::fuzz::car_model& car) {
    auto& blocks = car.blocks;
    if (blocks.empty()) return;
    auto i = below(r, blocks.size()), j = below(r, blocks.size());
    switch (r() % 4) {
        case 0: blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i)); break;
        case 1: blocks.insert(blocks.begin() + static_cast<std::ptrdiff_t>(j), bsky::fuzz::block(blocks[i])); break;
        case 2: std::swap(blocks[i], blocks[j]); break;
        default: std::reverse(blocks.begin(), blocks.end());
    }
}

// Byte-level edits of one block's encoding: its CID is still recomputed, so
// the strict decoder, not the hash check, sees them.
void mutate_block_bytes(rng& r, bsky::fuzz::car_model& car) {
    if (car.blocks.empty()) return;
    auto& b = car.blocks[below(r, car.blocks.size())];
    std::vector<std::uint8_t> bytes;
    if (b.decoded) bytes = bsky::fuzz::encode_value(b.tree);
    else bytes.assign(b.raw.begin(), b.raw.end());
    auto size = bytes.size();
    bytes.resize(size * 2 + 16);
    bytes.resize(LLVMFuzzerMutate(bytes.data(), size, bytes.size()));
    b.raw.assign(bytes.begin(), bytes.end());
    b.decoded = false;
}

bool mutate_model(rng& r, bsky::fuzz::car_model& car) {
    switch (r() % 8) {
        case 0: mutate_block_list(r, car); return true;
        case 1: mutate_block_bytes(r, car); return true;
        case 2:
        case 3: {
            if (car.blocks.empty()) return false;
            std::vector<value*> nodes;
            auto& b = car.blocks[below(r, car.blocks.size())];
            if (!b.decoded) return false;
            collect(b.tree, nodes);
            std::vector<value*> donors;
            auto& other = car.blocks[below(r, car.blocks.size())];
            if (other.decoded) collect(other.tree, donors);
            value donor = donors.empty() ? random_scalar(r, car) : *donors[below(r, donors.size())];
            mutate_value(r, *nodes[below(r, nodes.size())], car, donor);
            return true;
        }
        default: return mutate_field(r, car);
    }
}

// What the daemon does with each record: classify, compute the
// synctimestamp, write both formats. The printed records are the run's
// outcome, compared across chunkings.
class transforming_sink final : public bsky::repo::record_sink {
public:
    explicit transforming_sink(bool check_json) : check_json_(check_json) {}

    std::error_code on_commit(const bsky::repo::commit_info& c) override {
        did_ = c.did;
        rev_ = c.rev;
        return {};
    }

    std::error_code on_record(const bsky::repo::record_view& r) override {
        using namespace std::chrono;
        static const bsky::backfill::time_range range{sys_days{year{2024} / 9 / 27}, sys_days{year{2024} / 12 / 2}};
        auto kind = bsky::backfill::record_type(r.collection, r.value);
        const auto& type = kind.type;
        auto sync = bsky::backfill::compute_synctimestamp(r.value["createdAt"], range);
        if (!sync.value && sync.invalid_reason.empty()) std::abort();  // an unusable createdAt must say why
        std::string uri = "at://" + did_ + "/" + std::string(r.path), cid = r.id.to_string();
        bsky::backfill::record_meta meta{uri, cid, did_, r.collection, r.rkey, type,
                                         sync.value ? std::optional<std::string_view>(sync.value->view()) : std::nullopt, rev_};
        for (bool pipeline : {true, false}) {
            std::string line;
            if (pipeline) bsky::backfill::write_pipeline_record(r.value, meta, line);
            else bsky::backfill::write_raw_record(r.value, meta, line);
            if (check_json_) {
                boost::system::error_code ec;
                (void)boost::json::parse(line, ec);
                if (ec) std::abort();  // an output record that is not JSON
            }
            output.append(line).push_back('\n');
        }
        return {};
    }

    std::string output;

private:
    bool check_json_;
    std::string did_, rev_;
};

struct read_plan {
    std::size_t first;   ///< size of the first piece
    std::size_t chunk;   ///< size of every later piece
    bsky::repo::reader_options options;
    bool check_json = false;
};

// One full read; returns everything observable about how it ended.
std::string read_repo(std::span<const std::uint8_t> car, read_plan plan) {
    transforming_sink sink(plan.check_json);
    plan.options.max_block_bytes = 1 << 20;
    bsky::repo::repo_reader reader(sink, std::move(plan.options));
    std::error_code ec;
    for (std::size_t pos = 0, n = plan.first; pos < car.size() && !ec; pos += n, n = plan.chunk)
        ec = reader.put(car.subspan(pos, std::min(n, car.size() - pos)));
    if (!ec) ec = reader.finish();
    auto stats = reader.stats();
    std::string outcome = sink.output + ec.category().name() + ":" + std::to_string(ec.value()) + " " + reader.error_message() +
                          " records " + std::to_string(stats.records) + " nodes " + std::to_string(stats.mst_nodes);
    for (const auto& m : reader.missing()) outcome += "\nmissing " + m;
    if (const auto& c = reader.commit()) outcome += std::string("\nsignature ") + std::string(bsky::repo::to_string(c->signature));
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> car(data, size);
    // Chunk sizes and options derived from the input, so each input has its own.
    std::size_t mix = size;
    for (std::size_t i = 0; i < std::min<std::size_t>(size, 64); ++i) mix = mix * 31 + data[size - 1 - i];
    auto whole = read_repo(car, {.first = size, .chunk = size, .options = {}, .check_json = true});
    bsky::repo::reader_options spilling{.spill_threshold_bytes = 4096};
    if (whole != read_repo(car, {.first = 1 + mix % 17, .chunk = 1 + (mix >> 8) % 61, .options = spilling}))
        std::abort();  // the outcome depends on how the bytes arrived, or on where the blocks were kept
    if (mix & 0x10000) {
        if (whole != read_repo(car, {.first = size == 0 ? 0 : (mix >> 20) % size, .chunk = size, .options = {}})) std::abort();
        return 0;
    }
    // The checks a backfill adds: the DID asked for, a signing key (the
    // snarfed2 fixture's, so its unmutated commit verifies), and partial repos.
    static const auto key = bsky::crypto::parse_did_key("did:key:zQ3shuteTZT6t9ek6UcKu7UfVES2AJgpadj2bT5zD8NHFqLce");
    bsky::repo::reader_options checking{.expected_did = mix & 0x20000 ? "did:plc:lulmyldiq4sb2ikags5sfb25" : "",
                                        .key = mix & 0x40000 ? key : std::nullopt,
                                        .allow_partial = true};
    (void)read_repo(car, {.first = size, .chunk = size, .options = std::move(checking)});
    return 0;
}

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned int seed) {
    rng r(seed);
    auto car = bsky::fuzz::parse_car({data, size});
    if (!car || r() % 16 == 0) return LLVMFuzzerMutate(data, size, max_size);
    bool changed = false;
    for (int edits = 1 + static_cast<int>(r() % 3); edits > 0; --edits) changed |= mutate_model(r, *car);
    if (!changed) return LLVMFuzzerMutate(data, size, max_size);
    auto out = bsky::fuzz::write_car(*car);
    if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
}
