#include "cid/varint.hpp"

namespace bsky::cid {

varint_result read_varint_slow(std::span<const std::uint8_t> in) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (i >= 9) return {varint_status::too_long};
        std::uint8_t b = in[i];
        value |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            if (b == 0 && i > 0) return {varint_status::not_minimal};
            return {varint_status::ok, value, i + 1};
        }
    }
    return {in.size() >= 9 ? varint_status::too_long : varint_status::need_more};
}

std::size_t write_varint(std::uint64_t v, std::uint8_t* out) noexcept {
    std::size_t n = 0;
    while (v >= 0x80) {
        out[n++] = static_cast<std::uint8_t>(v | 0x80);
        v >>= 7;
    }
    out[n++] = static_cast<std::uint8_t>(v);
    return n;
}

}  // namespace bsky::cid
