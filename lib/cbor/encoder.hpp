#pragma once
// Canonical DAG-CBOR writing: primitives for building items, and re-encoding
// of a decoded value (used to rebuild a commit without its signature).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "cbor/value.hpp"

namespace bsky::cbor {

class encoder {
public:
    explicit encoder(std::vector<std::uint8_t>& out) : out_(out) {}

    void head(std::uint8_t major, std::uint64_t arg);
    void unsigned_int(std::uint64_t v) { head(0, v); }
    void integer(std::int64_t v);
    void text(std::string_view s);
    void bytes(std::span<const std::uint8_t> b);
    void link(const cid::cid& c);
    void boolean(bool b) { out_.push_back(b ? 0xf5 : 0xf4); }
    void null() { out_.push_back(0xf6); }
    void float64(double d);
    void array_header(std::uint64_t n) { head(4, n); }
    /// The caller writes the keys in canonical order.
    void map_header(std::uint64_t n) { head(5, n); }

    /// Re-encodes a decoded value; with `skip_key`, a top-level map entry of
    /// that name is left out.
    void value(value_ref v, std::string_view skip_key = {});

private:
    std::vector<std::uint8_t>& out_;
};

/// Canonical key order: length first, then bytewise.
bool canonical_key_less(std::string_view a, std::string_view b) noexcept;

}  // namespace bsky::cbor
