#include "mst/mst.hpp"

#include "crypto/sha256.hpp"

#include <algorithm>
#include <bit>
#include <climits>

namespace bsky::mst {

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "mst"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::bad_node: return "malformed MST node";
            case error::bad_entry: return "malformed MST entry";
            case error::bad_key: return "MST key is not collection/rkey";
            case error::keys_out_of_order: return "MST keys out of order";
            case error::wrong_height: return "MST key at the wrong tree height";
            case error::missing_block: return "block referenced by the MST is missing";
        }
        return "unknown MST error";
    }
};

constexpr int unbounded = INT_MAX;

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

int key_height(std::string_view key) noexcept {
    auto digest = crypto::sha256({reinterpret_cast<const std::uint8_t*>(key.data()), key.size()});
    int zeros = 0;
    for (auto b : digest) {
        if (b == 0) {
            zeros += 8;
            continue;
        }
        zeros += std::countl_zero(b);
        break;
    }
    return zeros / 2;
}

std::size_t common_prefix_length(std::string_view a, std::string_view b) noexcept {
    auto n = std::min(a.size(), b.size());
    std::size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

void walker::start(const cid::cid& root) {
    stack_.clear();
    stack_.push_back({root, false, unbounded, {}});
    last_key_.clear();
    have_last_key_ = false;
    nodes_ = 0;
}

std::optional<walker::pending> walker::next() const {
    if (stack_.empty()) return std::nullopt;
    return pending{stack_.back().id, stack_.back().is_record};
}

std::string_view walker::record_key() const { return stack_.back().key; }

std::string walker::describe_next() const {
    if (stack_.empty()) return "nothing";
    const auto& top = stack_.back();
    if (top.is_record) return "record " + top.key + " (" + top.id.to_string() + ")";
    return "MST node " + top.id.to_string() +
           (top.key.empty() ? std::string(" (the first keys of the tree)") : " (keys after " + top.key + ")");
}

std::string walker::skip() {
    auto what = describe_next();
    if (!stack_.empty()) stack_.pop_back();
    return what;
}

std::error_code walker::take_record(std::string& detail) {
    auto& top = stack_.back();
    if (have_last_key_ && top.key <= last_key_) {
        detail = "key " + top.key + " follows " + last_key_ + " in the tree";
        return make_error_code(error::keys_out_of_order);
    }
    last_key_ = std::move(top.key);
    have_last_key_ = true;
    stack_.pop_back();
    return {};
}

std::error_code walker::expand_node(std::span<const std::uint8_t> bytes, std::string& detail) {
    item self = std::move(stack_.back());
    stack_.pop_back();
    ++nodes_;
    auto fail = [&](error e, std::string why) {
        detail = "MST node " + self.id.to_string() + ": " + why;
        return make_error_code(e);
    };
    if (self.id.codec() != cid::codec_dag_cbor) return fail(error::bad_node, "CID codec is not dag-cbor");
    if (auto ec = cbor::decode(bytes, doc_, {.max_depth = 8}))
        return fail(error::bad_node, "not DAG-CBOR: " + ec.message());
    auto node = doc_.root();
    if (!node.is(cbor::kind::map)) return fail(error::bad_node, "not a map");
    for (auto it = node.begin(); it != node.end(); ++it) {
        auto name = (*it).as_string();
        ++it;
        if (name != "e" && name != "l") return fail(error::bad_node, "unexpected field '" + std::string(name) + "'");
    }
    auto entries = node["e"];
    auto left = node["l"];
    if (!entries.is(cbor::kind::array)) return fail(error::bad_node, "field 'e' is missing or not a list");
    if (left.valid() && !left.is_null() && !left.is(cbor::kind::link))
        return fail(error::bad_node, "field 'l' is neither a link nor null");

    // Decode every entry first (keys are prefix-compressed against the previous one).
    struct entry {
        std::string key;
        cid::cid value;
        std::optional<cid::cid> right;
    };
    std::vector<entry> decoded;
    decoded.reserve(entries.size());
    std::string prev;
    int height = -1;
    for (auto e : entries) {
        if (!e.is(cbor::kind::map)) return fail(error::bad_entry, "entry is not a map");
        auto k = e["k"], p = e["p"], t = e["t"], v = e["v"];
        auto prefix = p.as_int();
        if (!k.is(cbor::kind::bytes) || !prefix || !v.is(cbor::kind::link) ||
            (t.valid() && !t.is_null() && !t.is(cbor::kind::link)) || e.size() != (t.valid() ? 4u : 3u))
            return fail(error::bad_entry, "entry is not {k: bytes, p: int, t: link|null, v: link}");
        if (*prefix < 0 || static_cast<std::size_t>(*prefix) > prev.size() || (decoded.empty() && *prefix != 0))
            return fail(error::bad_entry, "prefix length " + std::to_string(*prefix) + " is impossible here");
        auto suffix = k.as_bytes();
        std::string key = prev.substr(0, static_cast<std::size_t>(*prefix));
        key.append(reinterpret_cast<const char*>(suffix.data()), suffix.size());
        if (key.empty() || key.size() > 1024) return fail(error::bad_key, "empty or oversized key");
        int h = key_height(key);
        if (height < 0) height = h;
        if (h != height)
            return fail(error::wrong_height, "key " + key + " has height " + std::to_string(h) + " in a node of height " +
                                                 std::to_string(height));
        prev = key;
        decoded.push_back({std::move(key), *v.as_link(), t.is(cbor::kind::link) ? t.as_link() : std::nullopt});
    }
    if (height >= self.max_height)
        return fail(error::wrong_height, "node height " + std::to_string(height) + " is not below its parent's");

    // Children of an entry-less node can only be known to be lower than its bound.
    int child_bound = height >= 0 ? height : (self.max_height == unbounded ? unbounded : self.max_height - 1);
    for (auto i = decoded.size(); i-- > 0;) {
        if (decoded[i].right) stack_.push_back({*decoded[i].right, false, child_bound, decoded[i].key});
        stack_.push_back({decoded[i].value, true, 0, std::move(decoded[i].key)});
    }
    if (left.is(cbor::kind::link)) stack_.push_back({*left.as_link(), false, child_bound, self.key});
    return {};
}

}  // namespace bsky::mst
