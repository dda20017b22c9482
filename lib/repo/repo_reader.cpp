#include "repo/repo_reader.hpp"

#include "car/reader.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "crypto/verify.hpp"
#include "mst/mst.hpp"
#include "repo/block_store.hpp"
#include "syntax/syntax.hpp"

#include <algorithm>

namespace bsky::repo {

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "repo"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::no_single_root: return "CAR header must name exactly one root (the commit)";
            case error::commit_missing: return "the commit block is missing from the CAR";
            case error::bad_commit: return "malformed repo commit";
            case error::did_mismatch: return "the commit belongs to another DID";
            case error::signature_failed: return "the commit signature does not verify";
            case error::bad_record: return "malformed record block";
            case error::incomplete_tree: return "the CAR lacks blocks of the repo tree";
            case error::storage_failed: return "could not store blocks in the spill file";
        }
        return "unknown repo error";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view to_string(signature_state s) noexcept {
    switch (s) {
        case signature_state::unverified: return "unverified";
        case signature_state::verified: return "verified";
        case signature_state::failed: return "failed";
    }
    return "unknown";
}

struct repo_reader::impl final : car::handler {
    impl(record_sink& s, reader_options o)
        : sink(s),
          options(std::move(o)),
          car(*this, car::reader_options{.max_header_bytes = 64 * 1024,
                                         .max_block_bytes = options.max_block_bytes,
                                         .max_total_bytes = options.max_car_bytes,
                                         .verify_hashes = true}),
          // Repo blocks average about 300 bytes; sizing the index up front saves rehashing.
          store(options.spill_threshold_bytes, options.spill_dir, options.expected_bytes / 300) {}

    record_sink& sink;
    reader_options options;
    car::reader car;
    block_store store;
    mst::walker walker;
    std::optional<cid::cid> root;
    std::optional<commit_info> commit;
    bool walking = false;
    bool paused = false;       ///< the sink held the walk before a record
    bool at_end = false;       ///< finish() was called
    cbor::document record_doc;
    std::vector<std::uint8_t> scratch;
    reader_stats stats;
    std::error_code error;
    std::string message;
    std::vector<std::string> missing;
    std::string last_collection;

    std::error_code fail(std::error_code ec, std::uint64_t offset, std::string detail) {
        error = ec;
        message = "offset " + std::to_string(offset) + ": " + detail;
        return ec;
    }

    std::error_code on_header(std::span<const cid::cid> roots) override {
        if (roots.size() != 1)
            return fail(make_error_code(error::no_single_root), 0,
                        "the CAR header names " + std::to_string(roots.size()) + " roots; a repo has exactly one (its commit)");
        root = roots[0];
        return {};
    }

    void on_block_id(const cid::cid& id) noexcept override { store.prefetch_slot(id); }

    std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> bytes, std::uint64_t offset) override {
        // Once the walk is complete, later blocks (history, unlinked) need no storage.
        if (walking && walker.done()) return {};
        // An MST node that arrives just when the walk wants it is used at once: a tree
        // never names the same node twice (its keys are unique), so it needs no storage.
        if (walking && !walker.next_is_record() && walker.next_id() == id) {
            std::string detail;
            if (auto e = walker.expand_node(bytes, detail)) return fail(e, offset, detail);
            stats.mst_nodes = walker.nodes_visited();
            return advance(offset);
        }
        std::error_code ec;
        if (!store.put(id, bytes, ec)) {
            if (ec) return fail(make_error_code(error::storage_failed), offset, "block " + id.to_string() + ": " + ec.message());
            ++stats.duplicate_blocks;
            return {};
        }
        stats.peak_memory_bytes = std::max(stats.peak_memory_bytes, store.memory_bytes());
        if (!commit && root && id == *root) {
            if (auto e = read_commit(bytes, offset)) return e;
            return advance(offset);
        }
        // The walk can only move on when this is the block it waits for.
        if (walking && walker.next_id() == id) return advance(offset);
        return {};
    }

    std::error_code read_commit(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
        auto bad = [&](const std::string& why) {
            return fail(make_error_code(error::bad_commit), offset, "commit " + root->to_string() + ": " + why);
        };
        cbor::document doc;
        if (root->codec() != cid::codec_dag_cbor) return bad("CID codec is not dag-cbor");
        if (auto ec = cbor::decode(bytes, doc, {.max_depth = 4})) return bad("not DAG-CBOR: " + ec.message());
        auto c = doc.root();
        auto did = c["did"], version = c["version"], data = c["data"], rev = c["rev"], prev = c["prev"], sig = c["sig"];
        if (!c.is(cbor::kind::map) || !did.is(cbor::kind::string) || !data.is(cbor::kind::link) ||
            !sig.is(cbor::kind::bytes) || !version.as_int())
            return bad("not {did, version, data, sig, ...}");
        commit_info info;
        info.id = *root;
        info.did = std::string(did.as_string());
        info.version = *version.as_int();
        info.data = *data.as_link();
        if (info.version != 3 && info.version != 2)
            return bad("version " + std::to_string(info.version) + " (only 2 and 3 are known)");
        if (info.version == 3) {
            if (!rev.is(cbor::kind::string) || !syntax::is_tid(rev.as_string()))
                return bad("'rev' is missing or not a TID");
            info.rev = std::string(rev.as_string());
        }
        if (prev.is(cbor::kind::link)) info.prev = prev.as_link();
        else if (prev.valid() && !prev.is_null()) return bad("'prev' is neither a link nor null");
        if (!syntax::is_did(info.did)) return bad("'did' is not a DID: " + info.did);
        if (!options.expected_did.empty() && info.did != options.expected_did)
            return fail(make_error_code(error::did_mismatch), offset,
                        "the commit is for " + info.did + ", not " + options.expected_did + "; no record is accepted");
        if (options.key) {
            std::vector<std::uint8_t> unsigned_bytes;
            cbor::encoder(unsigned_bytes).value(c, "sig");
            auto status = crypto::verify_signature(*options.key, unsigned_bytes, sig.as_bytes());
            info.signature = status == crypto::signature_status::valid ? signature_state::verified : signature_state::failed;
            if (info.signature == signature_state::failed) {
                commit = info;
                return fail(make_error_code(error::signature_failed), offset,
                            "commit " + root->to_string() + " of " + info.did + ": " + std::string(crypto::to_string(status)) +
                                " (key " + crypto::to_did_key(*options.key) + ")");
            }
        }
        commit = info;
        if (auto ec = sink.on_commit(*commit)) return fail(ec, offset, "commit rejected: " + ec.message());
        walker.start(commit->data);
        walking = true;
        return {};
    }

    // Walks as far as the blocks received so far allow, or until the sink holds it.
    std::error_code advance(std::uint64_t offset) {
        if (paused) return {};
        for (bool catching_up = false; !walker.done(); catching_up = true) {
            // Catching up on blocks stored long ago (the newest-first order):
            // they are cold, so start fetching the next ones' index slots and
            // bytes while this one is processed. On the first step the next
            // blocks have usually not arrived yet, and looking for them costs.
            if (catching_up) {
                if (auto* soon = walker.upcoming(4)) store.prefetch_slot(*soon);
                if (auto* next = walker.upcoming(2)) store.prefetch_bytes(*next);
            }
            std::error_code ec;
            std::span<const std::uint8_t> bytes;
            if (!store.get(walker.next_id(), bytes, scratch, ec)) return {};
            if (ec) return fail(make_error_code(error::storage_failed), offset, "reading the spill file: " + ec.message());
            if (!walker.next_is_record()) {
                std::string detail;
                if ((ec = walker.expand_node(bytes, detail))) return fail(ec, offset, detail);
                stats.mst_nodes = walker.nodes_visited();
                continue;
            }
            // Held only before a record, so the walk never waits on a node
            // (a node that arrives just in time is used without storing it).
            if (sink.should_pause()) {
                paused = true;
                return {};
            }
            if ((ec = emit_record(bytes, offset))) return ec;
        }
        return {};
    }

    std::error_code emit_record(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
        const cid::cid id = walker.next_id();
        auto bad = [&](std::error_code ec, const std::string& why) {
            return fail(ec, offset, "record " + std::string(walker.record_key()) + " (" + id.to_string() + ")" + why);
        };
        if (id.codec() != cid::codec_dag_cbor) return bad(make_error_code(error::bad_record), " is not dag-cbor");
        std::size_t at = 0;
        if (auto ec = cbor::decode(bytes, record_doc, {.max_depth = options.max_cbor_depth}, &at))
            return bad(make_error_code(error::bad_record), ", byte " + std::to_string(at) + " of the block: " + ec.message());
        if (!record_doc.root().is(cbor::kind::map)) return bad(make_error_code(error::bad_record), " is not a map");
        std::string detail;
        if (auto ec = walker.take_record(detail)) return fail(ec, offset, detail);
        std::string_view path = walker.last_key();
        auto slash = path.find('/');
        // Keys are sorted, so a collection repeats for long runs: check its NSID once per run.
        if (slash == std::string_view::npos || !syntax::is_record_key(path.substr(slash + 1)) ||
            (path.substr(0, slash) != last_collection && !syntax::is_nsid(path.substr(0, slash))))
            return fail(make_error_code(mst::error::bad_key), offset, "MST key '" + std::string(path) + "' is not collection/rkey");
        if (path.substr(0, slash) != last_collection) last_collection.assign(path.substr(0, slash));
        record_view view{path, path.substr(0, slash), path.substr(slash + 1), id, record_doc.root(), bytes};
        ++stats.records;
        if (auto ec = sink.on_record(view)) return fail(ec, offset, "record " + std::string(path) + ": " + ec.message());
        return {};
    }
};

repo_reader::repo_reader(record_sink& sink, reader_options options) : impl_(std::make_unique<impl>(sink, std::move(options))) {}
repo_reader::~repo_reader() = default;

std::error_code repo_reader::put(std::span<const std::uint8_t> bytes) {
    auto& m = *impl_;
    if (m.error) return m.error;
    std::error_code ec;
    m.car.put(bytes, ec);
    if (ec && !m.error) m.fail(ec, m.car.error_offset(), m.car.error_detail());
    return m.error;
}

std::error_code repo_reader::finish() {
    auto& m = *impl_;
    if (m.error) return m.error;
    if (auto ec = m.car.finish()) return m.fail(ec, m.car.error_offset(), m.car.error_detail());
    auto end = m.car.bytes_consumed();
    if (!m.commit)
        return m.fail(make_error_code(error::commit_missing), end,
                      "the CAR ends without the commit block " + (m.root ? m.root->to_string() : std::string("?")));
    m.at_end = true;
    return m.paused ? std::error_code{} : walk_to_end();
}

bool repo_reader::paused() const noexcept { return impl_->paused; }

std::error_code repo_reader::resume() {
    auto& m = *impl_;
    if (m.error) return m.error;
    if (!m.paused) return {};
    m.paused = false;
    if (m.at_end) return walk_to_end();
    return m.advance(m.car.bytes_consumed());
}

std::error_code repo_reader::walk_to_end() {
    auto& m = *impl_;
    auto end = m.car.bytes_consumed();
    for (;;) {
        if (auto ec = m.advance(end)) return ec;
        if (m.paused || m.walker.done()) break;
        if (!m.options.allow_partial)
            return m.fail(make_error_code(error::incomplete_tree), end, "the CAR ends without " + m.walker.describe_next());
        m.missing.push_back(m.walker.skip());
        ++m.stats.missing;
    }
    return {};
}

const std::string& repo_reader::error_message() const noexcept { return impl_->message; }
const std::optional<commit_info>& repo_reader::commit() const noexcept { return impl_->commit; }
const std::vector<std::string>& repo_reader::missing() const noexcept { return impl_->missing; }

reader_stats repo_reader::stats() const noexcept {
    auto s = impl_->stats;
    s.bytes = impl_->car.bytes_consumed();
    s.blocks = impl_->car.blocks();
    s.spilled_bytes = impl_->store.spilled_bytes();
    return s;
}

}  // namespace bsky::repo
