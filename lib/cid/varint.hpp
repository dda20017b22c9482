#pragma once
// Unsigned LEB128 varints as multiformats defines them: at most 9 bytes
// (63 bits) and minimally encoded.
#include <cstddef>
#include <cstdint>
#include <span>

namespace bsky::cid {

enum class varint_status { ok, need_more, too_long, not_minimal };

struct varint_result {
    varint_status status;
    std::uint64_t value = 0;
    std::size_t length = 0;  ///< bytes consumed when ok
};

varint_result read_varint_slow(std::span<const std::uint8_t> in) noexcept;
inline varint_result read_varint(std::span<const std::uint8_t> in) noexcept {
    // Almost every varint in a repo (CID fields, small lengths) is one byte.
    if (!in.empty() && in[0] < 0x80) return {varint_status::ok, in[0], 1};
    return read_varint_slow(in);
}

/// Appends the encoding of v to out (up to 10 bytes); returns the length.
std::size_t write_varint(std::uint64_t v, std::uint8_t* out) noexcept;

}  // namespace bsky::cid
