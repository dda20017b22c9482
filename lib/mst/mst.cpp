#include "mst/mst.hpp"

#include "crypto/sha256.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <optional>

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

// Reads an MST node's DAG-CBOR directly. A node has one shape, so there is
// no need to build a value tree for it first; the reader accepts no more
// than the strict generic decoder does for that shape (canonical heads,
// definite lengths, keys in canonical order, CIDs as tag 42 over 0x00 + a
// binary CID), and the MST fuzzer checks that whatever it accepts, the
// generic decoder accepts too.
class node_reader {
public:
    explicit node_reader(std::span<const std::uint8_t> bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

    bool map(std::uint64_t& count) { return head(5, count); }
    bool array(std::uint64_t& count) { return head(4, count); }
    /// A one-letter text key.
    bool key(char name) {
        std::uint64_t length;
        if (!head(3, length) || length != 1 || p_ >= end_ || *p_ != static_cast<std::uint8_t>(name)) return false;
        ++p_;
        return true;
    }
    bool uint(std::uint64_t& value) { return head(0, value); }
    bool bytes(std::span<const std::uint8_t>& out) {
        std::uint64_t length;
        if (!head(2, length) || length > static_cast<std::uint64_t>(end_ - p_)) return false;
        out = {p_, static_cast<std::size_t>(length)};
        p_ += length;
        return true;
    }
    bool link(cid::cid& out) {
        std::uint64_t tag;
        std::span<const std::uint8_t> raw;
        if (!head(6, tag) || tag != 42 || !bytes(raw) || raw.size() < 2 || raw[0] != 0x00) return false;
        return cid::cid::parse(raw.subspan(1), out);
    }
    /// Consumes a null; false (and nothing consumed) for anything else.
    bool null() {
        if (p_ >= end_ || *p_ != 0xf6) return false;
        ++p_;
        return true;
    }
    bool at_end() const noexcept { return p_ == end_; }

private:
    // A head of the expected major type, its argument in shortest form.
    bool head(std::uint8_t major, std::uint64_t& arg) {
        if (p_ >= end_ || (*p_ >> 5) != major) return false;
        std::uint8_t info = *p_++ & 0x1f;
        if (info < 24) {
            arg = info;
            return true;
        }
        std::size_t n = info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : 0;
        if (n == 0 || static_cast<std::size_t>(end_ - p_) < n) return false;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p_[i];
        p_ += n;
        static constexpr std::uint64_t minimum[] = {24, 0x100, 0x10000, 0x100000000ull};
        if (v < minimum[info - 24]) return false;
        arg = v;
        return true;
    }

    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

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
    ids_.assign(1, root);
    stack_.push_back({.id = 0, .key_offset = 0, .key_length = 0, .keys_end = 0, .ids_end = 1, .max_height = unbounded, .is_record = false});
    last_key_.clear();
    have_last_key_ = false;
    nodes_ = 0;
}

void walker::pop() {
    stack_.pop_back();
    // Segments nest like the stack: the new top's segment ends where keys are still needed.
    keys_.resize(stack_.empty() ? 0 : stack_.back().keys_end);
    ids_.resize(stack_.empty() ? 0 : stack_.back().ids_end);
}

std::string walker::describe_next() const {
    if (stack_.empty()) return "nothing";
    const auto& top = stack_.back();
    auto key = std::string(key_of(top));
    if (top.is_record) return "record " + key + " (" + ids_[top.id].to_string() + ")";
    return "MST node " + ids_[top.id].to_string() + (key.empty() ? std::string(" (the first keys of the tree)") : " (keys after " + key + ")");
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
    // The node's own key and CID stay in its parent's segments, which nothing below shrinks.
    const item self = stack_.back();
    stack_.pop_back();
    ++nodes_;
    auto fail = [&](error e, std::string why) {
        detail = "MST node " + ids_[self.id].to_string() + ": " + why;
        return make_error_code(e);
    };
    if (ids_[self.id].codec() != cid::codec_dag_cbor) return fail(error::bad_node, "CID codec is not dag-cbor");
    // {e: [entry...], l: link|null} with l optional; canonical order puts e first.
    node_reader in(bytes);
    std::uint64_t fields = 0, count = 0;
    if (!in.map(fields) || fields < 1 || fields > 2)
        return fail(error::bad_node, "not a map of 'e' and 'l' (or not canonical DAG-CBOR)");
    if (!in.key('e') || !in.array(count)) return fail(error::bad_node, "field 'e' is missing or not a list");
    if (count > bytes.size()) return fail(error::bad_node, "field 'e' claims more entries than the block holds");

    // Keys are prefix-compressed against the previous entry: rebuild them in
    // order into this node's segment of keys_, then push the items in reverse
    // so the stack pops them in key order.
    std::uint32_t prev_offset = static_cast<std::uint32_t>(keys_.size()), prev_length = 0;
    int height = -1;
    const auto first_item = stack_.size();
    auto parse_link = [&](bool nullable, std::uint32_t& index) {
        if (nullable && in.null()) return true;
        index = static_cast<std::uint32_t>(ids_.size());
        return in.link(ids_.emplace_back());
    };
    for (std::uint64_t n = 0; n < count; ++n) {
        // An entry's keys in canonical order: k, p, t (optional), v.
        std::uint64_t entry_fields = 0, prefix = 0;
        std::span<const std::uint8_t> suffix;
        constexpr std::uint32_t none = ~0u;
        std::uint32_t t = none, v = none;
        if (!in.map(entry_fields) || (entry_fields != 3 && entry_fields != 4) || !in.key('k') || !in.bytes(suffix) ||
            !in.key('p') || !in.uint(prefix) || (entry_fields == 4 && (!in.key('t') || !parse_link(true, t))) ||
            !in.key('v') || !parse_link(false, v))
            return fail(error::bad_entry, "entry is not {k: bytes, p: int, t: link|null, v: link}");
        if (prefix > prev_length || (stack_.size() == first_item && prefix != 0))
            return fail(error::bad_entry, "prefix length " + std::to_string(prefix) + " is impossible here");
        auto offset = static_cast<std::uint32_t>(keys_.size());
        auto length = static_cast<std::uint32_t>(prefix) + static_cast<std::uint32_t>(suffix.size());
        if (length == 0 || length > 1024 || suffix.size() > 1024) return fail(error::bad_key, "empty or oversized key");
        keys_.reserve(keys_.size() + length);  // the prefix is copied from keys_ itself: no reallocation mid-copy
        keys_.append(keys_, prev_offset, static_cast<std::size_t>(prefix));
        keys_.append(reinterpret_cast<const char*>(suffix.data()), suffix.size());
        std::string_view key(keys_.data() + offset, length);
        int h = key_height(key);
        if (height < 0) height = h;
        if (h != height)
            return fail(error::wrong_height, "key " + std::string(key) + " has height " + std::to_string(h) +
                                                 " in a node of height " + std::to_string(height));
        prev_offset = offset;
        prev_length = length;
        stack_.push_back({.id = v, .key_offset = offset, .key_length = length, .keys_end = 0, .ids_end = 0, .max_height = 0, .is_record = true});
        if (t != none)
            stack_.push_back({.id = t, .key_offset = offset, .key_length = length, .keys_end = 0, .ids_end = 0, .max_height = 0, .is_record = false});
    }
    std::uint32_t left = ~0u;
    if (fields == 2 && (!in.key('l') || !parse_link(true, left)))
        return fail(error::bad_node, "field 'l' is neither a link nor null (or another field is present)");
    if (!in.at_end()) return fail(error::bad_node, "bytes after the node (or not canonical DAG-CBOR)");
    if (height >= self.max_height)
        return fail(error::wrong_height, "node height " + std::to_string(height) + " is not below its parent's");
    // Children of an entry-less node can only be known to be lower than its bound.
    int child_bound = height >= 0 ? height : (self.max_height == unbounded ? unbounded : self.max_height - 1);
    const bool has_left = left != ~0u;
    if (has_left) {
        // The left subtree's "key before" is the parent's own.
        auto offset = static_cast<std::uint32_t>(keys_.size());
        keys_.reserve(keys_.size() + self.key_length);
        keys_.append(keys_, self.key_offset, self.key_length);
        stack_.push_back({.id = left, .key_offset = offset, .key_length = self.key_length, .keys_end = 0, .ids_end = 0, .max_height = 0, .is_record = false});
    }
    auto keys_end = static_cast<std::uint32_t>(keys_.size());
    auto ids_end = static_cast<std::uint32_t>(ids_.size());
    for (auto i = first_item; i < stack_.size(); ++i) {
        stack_[i].keys_end = keys_end;
        stack_[i].ids_end = ids_end;
        if (!stack_[i].is_record) stack_[i].max_height = child_bound;
    }
    // Entries were pushed in key order (record, then its right subtree), and
    // the left subtree last; in-order traversal needs l, e0, t0, e1, t1...
    // l was pushed last, so it stays on top.
    std::reverse(stack_.begin() + static_cast<std::ptrdiff_t>(first_item), stack_.end() - (has_left ? 1 : 0));
    return {};
}

}  // namespace bsky::mst
