#include "cbor/dag_json.hpp"

#include "cid/multibase.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <cstdio>

namespace bsky::cbor {

namespace {
// The bytes JSON strings must escape: control characters, '"' and '\\'.
constexpr auto escaped = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[c] = true;
    table['"'] = table['\\'] = true;
    return table;
}();

// True when any of the 8 bytes of `w` is one of those.
// (x - 0x01..) & ~x & 0x80.. flags a zero byte (SWAR); false alarms only
// follow a real hit, and a hit just sends the 8 bytes to the byte checks.
inline bool needs_escape(std::uint64_t w) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    std::uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & high;
}
}  // namespace

void write_json_string(std::string_view s, std::string& out) {
    static constexpr char hex[] = "0123456789abcdef";
    const char* d = s.data();
    const std::size_t n = s.size();
    std::size_t i = 0;
    for (; n - i >= 8; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, d + i, 8);
        if (needs_escape(w)) break;
    }
    if (i < n && n >= 8 && n - i < 8) {  // the tail, as the last 8 bytes (some read twice)
        std::uint64_t w;
        std::memcpy(&w, d + n - 8, 8);
        if (!needs_escape(w)) i = n;
    }
    while (i < n && !escaped[static_cast<unsigned char>(d[i])]) ++i;
    if (i == n) {  // nothing to escape (nearly every string): one copy
        const std::size_t start = out.size();
        out.resize(start + n + 2);
        char* p = out.data() + start;
        p[0] = '"';
        if (n) std::memcpy(p + 1, d, n);
        p[n + 1] = '"';
        return;
    }
    // Byte by byte from the first byte that needs escaping: such strings are rare.
    out.push_back('"');
    std::size_t run = 0;  // start of the pending run of bytes that need no escaping
    for (; i < n; ++i) {
        auto c = static_cast<unsigned char>(d[i]);
        if (!escaped[c]) continue;
        out.append(d + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
        }
    }
    out.append(d + run, n - run);
    out.push_back('"');
}

void write_dag_json(value_ref v, std::string& out) {
    const node& n = v.doc()->at(v.index());
    switch (n.type) {
        case kind::null: out += "null"; return;
        case kind::boolean: out += n.flag ? "true" : "false"; return;
        case kind::unsigned_int:
        case kind::negative_int: {
            char buf[24];
            char* p = buf;
            if (n.type == kind::negative_int) {
                *p++ = '-';
                // -1 - n, printed as the magnitude n + 1 without overflow.
                if (n.number == UINT64_MAX) {
                    out.append("-18446744073709551616");
                    return;
                }
                auto r = std::to_chars(p, buf + sizeof buf, n.number + 1);
                out.append(buf, r.ptr);
            } else {
                auto r = std::to_chars(p, buf + sizeof buf, n.number);
                out.append(buf, r.ptr);
            }
            return;
        }
        case kind::float64: {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf, n.real);
            out.append(buf, r.ptr);
            return;
        }
        case kind::string: write_json_string({reinterpret_cast<const char*>(n.data), n.size}, out); return;
        case kind::bytes:
            out += "{\"$bytes\":\"";
            out += cid::base64_encode({n.data, n.size});
            out += "\"}";
            return;
        case kind::link: {
            out += "{\"$link\":\"";
            if (cid::cid c; cid::cid::parse({n.data, n.size}, c)) c.append_to(out);
            out += "\"}";
            return;
        }
        case kind::array: {
            out.push_back('[');
            bool first = true;
            for (auto child : v) {
                if (!first) out.push_back(',');
                first = false;
                write_dag_json(child, out);
            }
            out.push_back(']');
            return;
        }
        case kind::map: {
            out.push_back('{');
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!first) out.push_back(',');
                first = false;
                write_json_string((*it).as_string(), out);
                out.push_back(':');
                ++it;
                write_dag_json(*it, out);
            }
            out.push_back('}');
            return;
        }
    }
}

}  // namespace bsky::cbor
