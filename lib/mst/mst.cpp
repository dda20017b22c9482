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
    keys_.clear();
    stack_.push_back({root, false, unbounded, 0, 0, 0});
    last_key_.clear();
    have_last_key_ = false;
    nodes_ = 0;
}

void walker::pop() {
    stack_.pop_back();
    // Segments nest like the stack: the new top's segment ends where keys are still needed.
    keys_.resize(stack_.empty() ? 0 : stack_.back().keys_end);
}

std::string walker::describe_next() const {
    if (stack_.empty()) return "nothing";
    const auto& top = stack_.back();
    auto key = std::string(key_of(top));
    if (top.is_record) return "record " + key + " (" + top.id.to_string() + ")";
    return "MST node " + top.id.to_string() + (key.empty() ? std::string(" (the first keys of the tree)") : " (keys after " + key + ")");
}

std::string walker::skip() {
    auto what = describe_next();
    if (!stack_.empty()) pop();
    return what;
}

std::error_code walker::take_record(std::string& detail) {
    auto key = key_of(stack_.back());
    if (have_last_key_ && key <= std::string_view(last_key_)) {
        detail = "key " + std::string(key) + " follows " + last_key_ + " in the tree";
        return make_error_code(error::keys_out_of_order);
    }
    last_key_.assign(key);
    have_last_key_ = true;
    pop();
    return {};
}

std::error_code walker::expand_node(std::span<const std::uint8_t> bytes, std::string& detail) {
    const item self = stack_.back();
    const std::string self_key(key_of(self));
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

    // Keys are prefix-compressed against the previous entry: rebuild them in
    // order into this node's segment of keys_, then push the items in reverse
    // so the stack pops them in key order.
    const auto segment = static_cast<std::uint32_t>(keys_.size());
    std::uint32_t prev_offset = segment, prev_length = 0;
    int height = -1;
    const auto first_item = stack_.size();
    for (auto e : entries) {
        if (!e.is(cbor::kind::map)) return fail(error::bad_entry, "entry is not a map");
        // One pass over the entry's fields (its keys are sorted: k, p, t, v).
        cbor::value_ref k, p, t, v;
        for (auto it = e.begin(); it != e.end(); ++it) {
            auto name = (*it).as_string();
            ++it;
            if (name.size() != 1) continue;
            switch (name[0]) {
                case 'k': k = *it; break;
                case 'p': p = *it; break;
                case 't': t = *it; break;
                case 'v': v = *it; break;
            }
        }
        auto prefix = p.as_int();
        if (!k.is(cbor::kind::bytes) || !prefix || !v.is(cbor::kind::link) ||
            (t.valid() && !t.is_null() && !t.is(cbor::kind::link)) || e.size() != (t.valid() ? 4u : 3u))
            return fail(error::bad_entry, "entry is not {k: bytes, p: int, t: link|null, v: link}");
        if (*prefix < 0 || static_cast<std::uint32_t>(*prefix) > prev_length || (stack_.size() == first_item && *prefix != 0))
            return fail(error::bad_entry, "prefix length " + std::to_string(*prefix) + " is impossible here");
        auto suffix = k.as_bytes();
        auto offset = static_cast<std::uint32_t>(keys_.size());
        auto length = static_cast<std::uint32_t>(*prefix) + static_cast<std::uint32_t>(suffix.size());
        if (length == 0 || length > 1024) return fail(error::bad_key, "empty or oversized key");
        keys_.reserve(keys_.size() + length);  // the prefix is copied from keys_ itself: no reallocation mid-copy
        keys_.append(keys_, prev_offset, static_cast<std::size_t>(*prefix));
        keys_.append(reinterpret_cast<const char*>(suffix.data()), suffix.size());
        std::string_view key(keys_.data() + offset, length);
        int h = key_height(key);
        if (height < 0) height = h;
        if (h != height)
            return fail(error::wrong_height, "key " + std::string(key) + " has height " + std::to_string(h) +
                                                 " in a node of height " + std::to_string(height));
        prev_offset = offset;
        prev_length = length;
        stack_.push_back({*v.as_link(), true, 0, offset, length, 0});
        if (t.is(cbor::kind::link)) stack_.push_back({*t.as_link(), false, 0, offset, length, 0});
    }
    if (height >= self.max_height)
        return fail(error::wrong_height, "node height " + std::to_string(height) + " is not below its parent's");
    // Children of an entry-less node can only be known to be lower than its bound.
    int child_bound = height >= 0 ? height : (self.max_height == unbounded ? unbounded : self.max_height - 1);
    if (left.is(cbor::kind::link)) {
        // The left subtree's "key before" is the parent's own.
        auto offset = static_cast<std::uint32_t>(keys_.size());
        keys_.append(self_key);
        stack_.push_back({*left.as_link(), false, 0, offset, static_cast<std::uint32_t>(self_key.size()), 0});
    }
    auto end = static_cast<std::uint32_t>(keys_.size());
    for (auto i = first_item; i < stack_.size(); ++i) {
        stack_[i].keys_end = end;
        if (!stack_[i].is_record) stack_[i].max_height = child_bound;
    }
    // Entries were pushed in key order (record, then its right subtree), and
    // the left subtree last; in-order traversal needs l, e0, t0, e1, t1...
    // l was pushed last, so it stays on top.
    std::reverse(stack_.begin() + static_cast<std::ptrdiff_t>(first_item), stack_.end() - (left.is(cbor::kind::link) ? 1 : 0));
    return {};
}

}  // namespace bsky::mst
