#include "cid/multibase.hpp"

#include <array>

namespace bsky::cid {

namespace {
constexpr std::string_view b32_alphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view b58_alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view b64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr auto make_table(std::string_view alphabet) {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}
constexpr auto b32_table = make_table(b32_alphabet);
constexpr auto b58_table = make_table(b58_alphabet);
constexpr auto b64_table = [] {
    auto t = make_table(b64_alphabet);
    t['-'] = 62;
    t['_'] = 63;
    return t;
}();
}  // namespace

std::string base32_encode(std::span<const std::uint8_t> bytes) {
    std::string out;
    base32_append(bytes, out);
    return out;
}

void base32_append(std::span<const std::uint8_t> bytes, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + (bytes.size() * 8 + 4) / 5);
    char* p = out.data() + start;
    const std::uint8_t* in = bytes.data();
    std::size_t left = bytes.size();
    for (; left >= 5; left -= 5, in += 5) {  // 5 bytes make 8 symbols
        std::uint64_t group = (std::uint64_t{in[0]} << 32) | (std::uint64_t{in[1]} << 24) | (std::uint64_t{in[2]} << 16) |
                              (std::uint64_t{in[3]} << 8) | std::uint64_t{in[4]};
        for (int shift = 35; shift >= 0; shift -= 5) *p++ = b32_alphabet[(group >> shift) & 31];
    }
    std::uint32_t buffer = 0;
    int bits = 0;
    for (; left > 0; --left, ++in) {
        buffer = (buffer << 8) | *in;
        bits += 8;
        while (bits >= 5) {
            *p++ = b32_alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) *p++ = b32_alphabet[(buffer << (5 - bits)) & 31];
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
    std::vector<std::uint8_t> out;
    out.reserve(text.size() * 5 / 8);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        auto v = b32_table[static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c)];
        if (v < 0) return std::nullopt;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
            bits -= 8;
        }
    }
    if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

std::string base58btc_encode(std::span<const std::uint8_t> bytes) {
    std::size_t zeros = 0;
    while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
    std::vector<std::uint8_t> digits;  // base-58 digits, little-endian
    digits.reserve(bytes.size() * 138 / 100 + 1);
    for (std::size_t i = zeros; i < bytes.size(); ++i) {
        std::uint32_t carry = bytes[i];
        for (auto& d : digits) {
            carry += static_cast<std::uint32_t>(d) << 8;
            d = static_cast<std::uint8_t>(carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits.push_back(static_cast<std::uint8_t>(carry % 58));
            carry /= 58;
        }
    }
    std::string out(zeros, '1');
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(b58_alphabet[*it]);
    return out;
}

std::optional<std::vector<std::uint8_t>> base58btc_decode(std::string_view text) {
    std::size_t ones = 0;
    while (ones < text.size() && text[ones] == '1') ++ones;
    std::vector<std::uint8_t> bytes;  // little-endian
    bytes.reserve(text.size() * 733 / 1000 + 1);
    for (std::size_t i = ones; i < text.size(); ++i) {
        auto v = b58_table[static_cast<unsigned char>(text[i])];
        if (v < 0) return std::nullopt;
        std::uint32_t carry = static_cast<std::uint32_t>(v);
        for (auto& b : bytes) {
            carry += static_cast<std::uint32_t>(b) * 58;
            b = static_cast<std::uint8_t>(carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            bytes.push_back(static_cast<std::uint8_t>(carry & 0xff));
            carry >>= 8;
        }
    }
    std::vector<std::uint8_t> out(ones, 0);
    out.insert(out.end(), bytes.rbegin(), bytes.rend());
    return out;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        out.push_back(b64_alphabet[n >> 18]);
        out.push_back(b64_alphabet[(n >> 12) & 63]);
        out.push_back(b64_alphabet[(n >> 6) & 63]);
        out.push_back(b64_alphabet[n & 63]);
    }
    if (bytes.size() - i == 1) {
        std::uint32_t n = bytes[i] << 16;
        out.push_back(b64_alphabet[n >> 18]);
        out.push_back(b64_alphabet[(n >> 12) & 63]);
    } else if (bytes.size() - i == 2) {
        std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8);
        out.push_back(b64_alphabet[n >> 18]);
        out.push_back(b64_alphabet[(n >> 12) & 63]);
        out.push_back(b64_alphabet[(n >> 6) & 63]);
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        auto v = b64_table[static_cast<unsigned char>(c)];
        if (v < 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
            bits -= 8;
        }
    }
    if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

std::optional<std::vector<std::uint8_t>> multibase_decode(std::string_view text) {
    if (text.empty()) return std::nullopt;
    switch (text[0]) {
        case 'b': return base32_decode(text.substr(1));
        case 'z': return base58btc_decode(text.substr(1));
        case 'm':
        case 'u': return base64_decode(text.substr(1));
        default: return std::nullopt;
    }
}

}  // namespace bsky::cid
