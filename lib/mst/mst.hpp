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

#include "cbor/decoder.hpp"
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
    struct pending {
        cid::cid id;
        bool is_record;
    };

    walker() = default;
    explicit walker(const cid::cid& root) { start(root); }
    void start(const cid::cid& root);

    /// What the walk needs next, or nullopt when the walk is complete.
    std::optional<pending> next() const;
    /// The key ("collection/rkey") of the record next() names.
    std::string_view record_key() const;

    /// Expands the MST node next() names from its block bytes.
    std::error_code expand_node(std::span<const std::uint8_t> bytes, std::string& detail);
    /// Consumes the record next() names, checking key order.
    std::error_code take_record(std::string& detail);
    /// Drops next() without reading it (partial CARs); returns its description.
    std::string skip();

    /// Human description of next(): "MST node <cid> …" or "record <key> (<cid>)".
    std::string describe_next() const;

    std::uint64_t nodes_visited() const noexcept { return nodes_; }

private:
    struct item {
        cid::cid id;
        bool is_record;
        int max_height;    ///< nodes: exclusive upper bound for the node's height
        std::string key;   ///< records: the full key; nodes: the key before this subtree
    };

    std::vector<item> stack_;
    std::string last_key_;
    bool have_last_key_ = false;
    cbor::document doc_;
    std::uint64_t nodes_ = 0;
};

}  // namespace bsky::mst

template <>
struct std::is_error_code_enum<bsky::mst::error> : std::true_type {};
