#include "cbor/encoder.hpp"

#include <cstring>

namespace bsky::cbor {

void encoder::head(std::uint8_t major, std::uint64_t arg) {
    std::uint8_t m = static_cast<std::uint8_t>(major << 5);
    if (arg < 24) {
        out_.push_back(static_cast<std::uint8_t>(m | arg));
    } else if (arg <= 0xff) {
        out_.push_back(m | 24);
        out_.push_back(static_cast<std::uint8_t>(arg));
    } else if (arg <= 0xffff) {
        out_.push_back(m | 25);
        for (int s = 8; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(arg >> s));
    } else if (arg <= 0xffffffffull) {
        out_.push_back(m | 26);
        for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(arg >> s));
    } else {
        out_.push_back(m | 27);
        for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(arg >> s));
    }
}

void encoder::integer(std::int64_t v) {
    if (v >= 0) head(0, static_cast<std::uint64_t>(v));
    else head(1, static_cast<std::uint64_t>(-1 - v));
}

void encoder::text(std::string_view s) {
    head(3, s.size());
    out_.insert(out_.end(), s.begin(), s.end());
}

void encoder::bytes(std::span<const std::uint8_t> b) {
    head(2, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
}

void encoder::link(const cid::cid& c) {
    head(6, 42);
    auto b = c.bytes();
    head(2, b.size() + 1);
    out_.push_back(0x00);
    out_.insert(out_.end(), b.begin(), b.end());
}

void encoder::float64(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    out_.push_back(0xfb);
    for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(bits >> s));
}

void encoder::value(value_ref v, std::string_view skip_key) {
    const node& n = v.doc()->at(v.index());
    switch (n.type) {
        case kind::null: null(); return;
        case kind::boolean: boolean(n.flag); return;
        case kind::unsigned_int: head(0, n.number); return;
        case kind::negative_int: head(1, n.number); return;
        case kind::float64: float64(n.real); return;
        case kind::bytes: bytes({n.data, n.size}); return;
        case kind::string: text({reinterpret_cast<const char*>(n.data), n.size}); return;
        case kind::link:
            head(6, 42);
            head(2, n.size + 1u);
            out_.push_back(0x00);
            out_.insert(out_.end(), n.data, n.data + n.size);
            return;
        case kind::array:
            array_header(n.size);
            for (auto child : v) value(child);
            return;
        case kind::map: {
            bool skipping = !skip_key.empty() && v.get(skip_key).valid();
            map_header(n.size - (skipping ? 1u : 0u));
            for (auto it = v.begin(); it != v.end(); ++it) {
                auto key = *it;
                ++it;
                if (skipping && key.as_string() == skip_key) continue;
                value(key);
                value(*it);
            }
            return;
        }
    }
}

bool canonical_key_less(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return a.size() < b.size();
    return a < b;
}

}  // namespace bsky::cbor
