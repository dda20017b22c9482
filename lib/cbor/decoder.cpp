#include "cbor/decoder.hpp"

#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <string>

namespace bsky::cbor {

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "dag-cbor"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::truncated: return "truncated DAG-CBOR item";
            case error::trailing_bytes: return "bytes after the end of the DAG-CBOR item";
            case error::not_shortest_form: return "integer or length not in shortest form";
            case error::indefinite_length: return "indefinite-length item (not allowed in DAG-CBOR)";
            case error::reserved_additional_info: return "reserved CBOR additional information value";
            case error::unsupported_simple_value: return "CBOR simple value other than false/true/null";
            case error::float_not_allowed: return "floating-point number (not allowed in the atproto data model)";
            case error::float_not_64_bit: return "float not encoded as 64-bit";
            case error::float_not_finite: return "NaN or infinite float";
            case error::map_key_not_string: return "map key is not a text string";
            case error::map_keys_unsorted: return "map keys not in canonical (length-first) order";
            case error::duplicate_map_key: return "duplicate map key";
            case error::invalid_utf8: return "text string is not valid UTF-8";
            case error::unsupported_tag: return "CBOR tag other than 42";
            case error::invalid_link: return "tag 42 does not hold a 0x00-prefixed binary CID";
            case error::too_deep: return "nesting deeper than the configured limit";
            case error::too_large: return "item larger than the input";
        }
        return "unknown DAG-CBOR error";
    }
};

// Whether every byte is below 0x80. Most strings in a repo (map keys, NSIDs,
// TIDs, dates, URIs, DIDs) are short and ASCII: check them with two
// overlapping loads instead of a byte loop.
inline bool all_ascii(const std::uint8_t* p, std::size_t n) noexcept {
    if (n >= 16) {
#if defined(__SSE2__)
        __m128i acc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16));
        for (std::size_t i = 0; i + 16 <= n; i += 16) acc = _mm_or_si128(acc, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
        return _mm_movemask_epi8(acc) == 0;
#else
        std::uint64_t acc = 0, word;
        for (std::size_t i = 0; i + 8 <= n; i += 8) {
            std::memcpy(&word, p + i, 8);
            acc |= word;
        }
        std::memcpy(&word, p + n - 8, 8);
        return ((acc | word) & 0x8080808080808080ull) == 0;
#endif
    }
    if (n >= 8) {
        std::uint64_t a, b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + n - 8, 8);
        return ((a | b) & 0x8080808080808080ull) == 0;
    }
    if (n >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, p, 4);
        std::memcpy(&b, p + n - 4, 4);
        return ((a | b) & 0x80808080u) == 0;
    }
    unsigned acc = 0;
    for (std::size_t i = 0; i < n; ++i) acc |= p[i];
    return (acc & 0x80) == 0;
}

bool valid_utf8_slow(const std::uint8_t* p, std::size_t n) noexcept {
    const std::uint8_t* end = p + n;
    while (p < end) {
        // ASCII fast path: sixteen bytes at a time, then eight.
#if defined(__SSE2__)
        while (end - p >= 16) {
            __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            if (_mm_movemask_epi8(chunk) != 0) break;
            p += 16;
        }
#endif
        while (end - p >= 8) {
            std::uint64_t chunk;
            std::memcpy(&chunk, p, 8);
            if (chunk & 0x8080808080808080ull) break;
            p += 8;
        }
        if (p >= end) break;
        std::uint8_t c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t width;
        std::uint32_t cp;
        if ((c & 0xe0) == 0xc0) { width = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { width = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { width = 4; cp = c & 0x07; }
        else return false;
        if (static_cast<std::size_t>(end - p) < width) return false;
        for (std::size_t i = 1; i < width; ++i) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        static constexpr std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[width] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        p += width;
    }
    return true;
}

// Short ASCII strings (nearly all of them) never leave the caller.
inline bool valid_utf8(const std::uint8_t* p, std::size_t n) noexcept { return all_ascii(p, n) || valid_utf8_slow(p, n); }

// Map keys are short: an inline loop beats a call into libc's memcmp.
inline int compare_bytes(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

struct parser {
    const std::uint8_t* begin;
    const std::uint8_t* p;
    const std::uint8_t* end;
    std::vector<node>& nodes;
    const decode_options& options;
    std::error_code ec;
    const std::uint8_t* error_at = nullptr;

    bool fail(error e, const std::uint8_t* at) {
        ec = make_error_code(e);
        error_at = at;
        return false;
    }

    // Reads the argument of a head byte at `head`, enforcing shortest form.
    bool read_argument(const std::uint8_t* head, std::uint8_t info, std::uint64_t& value) {
        if (info < 24) {
            value = info;
            return true;
        }
        std::size_t n;
        switch (info) {
            case 24: n = 1; break;
            case 25: n = 2; break;
            case 26: n = 4; break;
            case 27: n = 8; break;
            case 31: return fail(error::indefinite_length, head);
            default: return fail(error::reserved_additional_info, head);
        }
        if (static_cast<std::size_t>(end - p) < n) return fail(error::truncated, head);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
        p += n;
        static constexpr std::uint64_t minimum[] = {24, 0x100, 0x10000, 0x100000000ull};
        if (v < minimum[info - 24]) return fail(error::not_shortest_form, head);
        value = v;
        return true;
    }

    bool item(std::uint32_t depth) {
        if (depth > options.max_depth) return fail(error::too_deep, p);
        if (p >= end) return fail(error::truncated, p);
        const std::uint8_t* head = p++;
        std::uint8_t major = *head >> 5;
        std::uint8_t info = *head & 0x1f;
        auto index = static_cast<std::uint32_t>(nodes.size());
        node& n = nodes.emplace_back();
        n.number = 0;

        if (major == 7) {
            switch (info) {
                case 20: n.type = kind::boolean; n.flag = false; break;
                case 21: n.type = kind::boolean; n.flag = true; break;
                case 22: n.type = kind::null; break;
                case 25:
                case 26:
                case 27: {
                    if (!options.allow_floats) return fail(error::float_not_allowed, head);
                    if (info != 27) return fail(error::float_not_64_bit, head);
                    if (end - p < 8) return fail(error::truncated, head);
                    std::uint64_t bits = 0;
                    for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
                    p += 8;
                    double d;
                    std::memcpy(&d, &bits, sizeof d);
                    if (!std::isfinite(d)) return fail(error::float_not_finite, head);
                    nodes[index].type = kind::float64;
                    nodes[index].real = d;
                    break;
                }
                case 31: return fail(error::indefinite_length, head);
                default: return fail(error::unsupported_simple_value, head);
            }
            nodes[index].next = index + 1;
            return true;
        }

        std::uint64_t arg;
        if (!read_argument(head, info, arg)) return false;
        switch (major) {
            case 0:
            case 1:
                nodes[index].type = major == 0 ? kind::unsigned_int : kind::negative_int;
                nodes[index].number = arg;
                nodes[index].next = index + 1;
                return true;
            case 2:
            case 3: {
                if (arg > static_cast<std::uint64_t>(end - p)) return fail(error::truncated, head);
                if (major == 3 && !valid_utf8(p, static_cast<std::size_t>(arg))) return fail(error::invalid_utf8, head);
                nodes[index].type = major == 2 ? kind::bytes : kind::string;
                nodes[index].data = p;
                nodes[index].size = static_cast<std::uint32_t>(arg);
                nodes[index].next = index + 1;
                p += arg;
                return true;
            }
            case 4: {
                // Every element takes at least one byte: a larger count cannot be honest.
                if (arg > static_cast<std::uint64_t>(end - p)) return fail(error::too_large, head);
                nodes[index].type = kind::array;
                nodes[index].size = static_cast<std::uint32_t>(arg);
                for (std::uint64_t i = 0; i < arg; ++i)
                    if (!item(depth + 1)) return false;
                nodes[index].next = static_cast<std::uint32_t>(nodes.size());
                return true;
            }
            case 5: {
                if (arg > static_cast<std::uint64_t>(end - p) / 2) return fail(error::too_large, head);
                nodes[index].type = kind::map;
                nodes[index].size = static_cast<std::uint32_t>(arg);
                const std::uint8_t* prev_key = nullptr;
                std::uint32_t prev_len = 0;
                if (depth + 1 > options.max_depth && arg > 0) return fail(error::too_deep, p);
                for (std::uint64_t i = 0; i < arg; ++i) {
                    // The key, read here rather than by item(): a text string is all it may be.
                    const std::uint8_t* key_at = p;
                    if (p >= end) return fail(error::truncated, p);
                    if ((*p >> 5) != 3) return fail(error::map_key_not_string, key_at);
                    std::uint64_t length;
                    if (!read_argument(key_at, *p++ & 0x1f, length)) return false;
                    if (length > static_cast<std::uint64_t>(end - p)) return fail(error::truncated, key_at);
                    auto key_length = static_cast<std::uint32_t>(length);
                    if (!valid_utf8(p, key_length)) return fail(error::invalid_utf8, key_at);
                    if (prev_key) {
                        // Canonical order: shorter keys first, then bytewise.
                        int cmp = key_length != prev_len ? (key_length < prev_len ? -1 : 1) : compare_bytes(p, prev_key, key_length);
                        if (cmp == 0) return fail(error::duplicate_map_key, key_at);
                        if (cmp < 0) return fail(error::map_keys_unsorted, key_at);
                    }
                    node& key = nodes.emplace_back();
                    key.type = kind::string;
                    key.data = p;
                    key.size = key_length;
                    key.next = static_cast<std::uint32_t>(nodes.size());
                    prev_key = p;
                    prev_len = key_length;
                    p += key_length;
                    if (!item(depth + 1)) return false;
                }
                nodes[index].next = static_cast<std::uint32_t>(nodes.size());
                return true;
            }
            case 6: {
                if (arg != 42) return fail(error::unsupported_tag, head);
                const std::uint8_t* content = p;
                if (p >= end) return fail(error::truncated, head);
                std::uint8_t h = *p++;
                if ((h >> 5) != 2) return fail(error::invalid_link, content);
                std::uint64_t len;
                if (!read_argument(content, h & 0x1f, len)) return false;
                if (len > static_cast<std::uint64_t>(end - p)) return fail(error::truncated, content);
                if (len < 2 || p[0] != 0x00 || !cid::is_binary_cid({p + 1, static_cast<std::size_t>(len - 1)}))
                    return fail(error::invalid_link, content);
                nodes[index].type = kind::link;
                nodes[index].data = p + 1;
                nodes[index].size = static_cast<std::uint32_t>(len - 1);
                nodes[index].next = index + 1;
                p += len;
                return true;
            }
        }
        return fail(error::reserved_additional_info, head);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

bool is_valid_utf8(std::span<const std::uint8_t> s) noexcept { return valid_utf8(s.data(), s.size()); }

std::error_code decode(std::span<const std::uint8_t> bytes, document& out, const decode_options& options,
                       std::size_t* error_offset) {
    out.clear();
    if (bytes.size() > 0xffffffffu) {
        if (error_offset) *error_offset = 0;
        return make_error_code(error::too_large);
    }
    parser ps{bytes.data(), bytes.data(), bytes.data() + bytes.size(), out.nodes(), options, {}, nullptr};
    if (!ps.item(0)) {
        if (error_offset) *error_offset = static_cast<std::size_t>(ps.error_at - ps.begin);
        out.clear();
        return ps.ec;
    }
    if (ps.p != ps.end) {
        if (error_offset) *error_offset = static_cast<std::size_t>(ps.p - ps.begin);
        out.clear();
        return make_error_code(error::trailing_bytes);
    }
    return {};
}

}  // namespace bsky::cbor
