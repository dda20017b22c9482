#pragma once
// The atproto Merkle Search Tree: key heights, node decoding, and an in-order
// walk that asks for one block at a time, so blocks may arrive in any order.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cid/cid.hpp"

namespace bsky::mst {

enum class error {
    bad_node = 1,
    bad_entry,
    bad_key,
    keys_out_of_order,
    wrong_height,
    missing_block,
};
const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

/// Leading zero bits of SHA-256(key), counted in 2-bit groups.
int key_height(std::string_view key) noexcept;
/// Length of the common prefix of two keys, in bytes.
std::size_t common_prefix_length(std::string_view a, std::string_view b) noexcept;

/// In-order traversal of an MST. The caller repeatedly looks at next(), finds
/// that block and hands it over; the walker never does I/O.
///
/// @par Thread Safety
/// Distinct objects: safe. Shared objects: unsafe.
class walker {
public:
    walker() = default;
    explicit walker(const cid::cid& root) { start(root); }
    void start(const cid::cid& root);

    /// True when every node and record has been visited.
    bool done() const noexcept { return stack_.empty(); }
    /// The block the walk needs next (only when !done()).
    const cid::cid& next_id() const noexcept { return ids_[stack_.back().id]; }
    /// Whether next_id() names a record (otherwise an MST node).
    bool next_is_record() const noexcept { return stack_.back().is_record; }
    /// The CID `ahead` steps after next_id() as the stack stands, or nullptr;
    /// lets the caller prefetch.
    const cid::cid* upcoming(std::size_t ahead) const noexcept {
        return ahead < stack_.size() ? &ids_[stack_[stack_.size() - 1 - ahead].id] : nullptr;
    }
    /// The key ("collection/rkey") of the record next_id() names.
    std::string_view record_key() const noexcept { return key_of(stack_.back()); }

    /// Expands the MST node next_id() names from its block bytes.
    std::error_code expand_node(std::span<const std::uint8_t> bytes, std::string& detail);
    /// Consumes the record next_id() names, checking key order; its key is
    /// then last_key().
    std::error_code take_record(std::string& detail);
    std::string_view last_key() const noexcept { return last_key_; }
    /// Drops next_id() without reading it (partial CARs); returns its description.
    std::string skip();

    /// Human description of next_id(): "MST node <cid> …" or "record <key> (<cid>)".
    std::string describe_next() const;

    std::uint64_t nodes_visited() const noexcept { return nodes_; }

private:
    // Small, because expanding a node pushes and reorders items: the CIDs
    // (120 bytes each) stay where they were parsed, in ids_.
    struct item {
        std::uint32_t id;          ///< index into ids_
        std::uint32_t key_offset;  ///< records: the key; nodes: the key before the subtree
        std::uint32_t key_length;
        std::uint32_t keys_end;    ///< end of the keys_ segment of the node this item came from
        std::uint32_t ids_end;     ///< end of the ids_ segment of that node
        int max_height;            ///< nodes: exclusive upper bound for the node's height
        bool is_record;
    };

    std::string_view key_of(const item& i) const noexcept { return std::string_view(keys_).substr(i.key_offset, i.key_length); }
    void pop();

    std::vector<item> stack_;
    std::string keys_;  ///< keys of the items on the stack, node by node (LIFO)
    std::vector<cid::cid> ids_;  ///< CIDs of the items on the stack, in segments like keys_
    std::string last_key_;
    bool have_last_key_ = false;
    std::uint64_t nodes_ = 0;
};

}  // namespace bsky::mst

template <>
struct std::is_error_code_enum<bsky::mst::error> : std::true_type {};
