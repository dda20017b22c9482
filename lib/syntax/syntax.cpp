#include "syntax/syntax.hpp"
#include <arpa/inet.h>

#include <cstdint>

namespace bsky::syntax {

namespace {

constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }

// A DNS-style label: 1-63 of [a-zA-Z0-9-], not starting or ending with '-'.
bool is_label(std::string_view label) noexcept {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
        if (!is_alnum(c) && c != '-') return false;
    return true;
}

template <class F>
bool for_each_segment(std::string_view s, char sep, F&& f) {
    std::size_t start = 0;
    for (;;) {
        auto end = s.find(sep, start);
        auto seg = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (!f(seg, end == std::string_view::npos)) return false;
        if (end == std::string_view::npos) return true;
        start = end + 1;
    }
}

}  // namespace

bool is_did(std::string_view s) noexcept {
    if (s.size() > 2048 || !s.starts_with("did:")) return false;
    auto rest = s.substr(4);
    auto colon = rest.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    for (char c : rest.substr(0, colon))
        if (c < 'a' || c > 'z') return false;
    auto id = rest.substr(colon + 1);
    if (id.empty()) return false;
    for (char c : id)
        if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '%' && c != '-') return false;
    char last = id.back();
    return last != ':' && last != '%';
}

bool is_did_plc(std::string_view s) noexcept {
    if (s.size() != 32 || !s.starts_with("did:plc:")) return false;
    for (char c : s.substr(8))
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
    return true;
}

bool is_did_web(std::string_view s) noexcept {
    if (!s.starts_with("did:web:") || !is_did(s)) return false;
    auto host = s.substr(8);
    // A port is percent-encoded: did:web:localhost%3A8080. Paths (':') are not for atproto.
    if (auto pct = host.find('%'); pct != std::string_view::npos) {
        auto port = host.substr(pct);
        if (port.size() < 4 || (port.substr(0, 3) != "%3A" && port.substr(0, 3) != "%3a")) return false;
        port.remove_prefix(3);
        if (port.size() > 5) return false;
        for (char c : port)
            if (!is_digit(c)) return false;
        host = host.substr(0, pct);
    }
    if (host.find(':') != std::string_view::npos) return false;
    if (host == "localhost") return true;
    return is_handle(host);
}

bool is_supported_did(std::string_view s) noexcept { return is_did_plc(s) || is_did_web(s); }

bool is_handle(std::string_view s) noexcept {
    if (s.empty() || s.size() > 253) return false;
    int labels = 0;
    bool ok = for_each_segment(s, '.', [&](std::string_view label, bool last) {
        ++labels;
        if (!is_label(label)) return false;
        // The top-level domain may not start with a digit.
        return !last || is_alpha(label.front());
    });
    return ok && labels >= 2;
}

bool is_at_identifier(std::string_view s) noexcept {
    return s.starts_with("did:") ? is_did(s) : is_handle(s);
}

bool is_nsid(std::string_view s) noexcept {
    if (s.size() > 317) return false;
    auto last_dot = s.rfind('.');
    if (last_dot == std::string_view::npos) return false;
    auto authority = s.substr(0, last_dot);
    auto name = s.substr(last_dot + 1);
    if (!is_output_name(name)) return false;
    int segments = 0;
    bool ok = for_each_segment(authority, '.', [&](std::string_view label, bool) {
        // The first segment is the reversed top-level domain: no leading digit.
        if (segments++ == 0 && (label.empty() || is_digit(label.front()))) return false;
        return is_label(label);
    });
    return ok && segments >= 2;
}

bool is_record_key(std::string_view s) noexcept {
    if (s.empty() || s.size() > 512 || s == "." || s == "..") return false;
    for (char c : s)
        if (!is_alnum(c) && c != '_' && c != '~' && c != '.' && c != ':' && c != '-') return false;
    return true;
}

bool is_tid(std::string_view s) noexcept {
    if (s.size() != 13) return false;
    auto base32_sort = [](char c) { return (c >= '2' && c <= '7') || (c >= 'a' && c <= 'z'); };
    // The first character carries the top bit, which must be zero.
    if (!((s[0] >= '2' && s[0] <= '7') || (s[0] >= 'a' && s[0] <= 'j'))) return false;
    for (char c : s)
        if (!base32_sort(c)) return false;
    return true;
}

bool is_at_uri(std::string_view s) noexcept {
    if (s.size() > 8192 || !s.starts_with("at://")) return false;
    auto body = s.substr(5);
    if (auto hash = body.find('#'); hash != std::string_view::npos) {
        auto fragment = body.substr(hash + 1);
        if (fragment.empty() || fragment.front() != '/') return false;
        for (char c : fragment)
            if (c <= ' ' || c == '#' || static_cast<unsigned char>(c) >= 0x7f) return false;
        body = body.substr(0, hash);
    }
    int index = 0;
    return for_each_segment(body, '/', [&](std::string_view part, bool) {
        switch (index++) {
            case 0: return is_at_identifier(part);
            case 1: return is_nsid(part);
            case 2: return is_record_key(part);
            default: return false;
        }
    });
}

bool is_cid_syntax(std::string_view s) noexcept {
    if (s.size() < 8 || s.size() > 256 || s.starts_with("Qmb")) return false;
    for (char c : s)
        if (!is_alnum(c) && c != '+' && c != '=') return false;
    return true;
}

bool is_repo_path(std::string_view s) noexcept {
    if (s.size() > 1024) return false;
    auto slash = s.find('/');
    if (slash == std::string_view::npos) return false;
    return is_nsid(s.substr(0, slash)) && is_record_key(s.substr(slash + 1));
}

bool is_output_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 63 || !is_alpha(s.front())) return false;
    for (char c : s)
        if (!is_alnum(c)) return false;
    return true;
}

bool is_ip_address(std::string_view text) noexcept {
    if (text.empty() || text.size() > 45) return false;
    char buf[46] = {};
    text.copy(buf, text.size());
    unsigned char out[16];
    return ::inet_pton(AF_INET, buf, out) == 1 || ::inet_pton(AF_INET6, buf, out) == 1;
}

}  // namespace bsky::syntax
