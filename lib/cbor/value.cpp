#include "cbor/value.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace bsky::cbor {

std::optional<std::int64_t> value_ref::as_int() const noexcept {
    if (!valid()) return std::nullopt;
    const node& n = doc_->at(index_);
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (n.type == kind::unsigned_int && n.number <= max) return static_cast<std::int64_t>(n.number);
    if (n.type == kind::negative_int && n.number <= max) return -1 - static_cast<std::int64_t>(n.number);
    return std::nullopt;
}

std::string_view value_ref::as_string() const noexcept {
    if (!is(kind::string)) return {};
    const node& n = doc_->at(index_);
    return {reinterpret_cast<const char*>(n.data), n.size};
}

std::span<const std::uint8_t> value_ref::as_bytes() const noexcept {
    if (!valid()) return {};
    const node& n = doc_->at(index_);
    if (n.type != kind::bytes && n.type != kind::string && n.type != kind::link) return {};
    return {n.data, n.size};
}

std::optional<cid::cid> value_ref::as_link() const noexcept {
    if (!is(kind::link)) return std::nullopt;
    const node& n = doc_->at(index_);
    return cid::cid::from_bytes({n.data, n.size});
}

value_ref value_ref::at(std::uint32_t i) const noexcept {
    if (!is(kind::array) || i >= size()) return {};
    std::uint32_t idx = index_ + 1;
    while (i--) idx = doc_->at(idx).next;
    return {doc_, idx};
}

value_ref value_ref::get(std::string_view key) const noexcept {
    if (!is(kind::map)) return {};
    std::uint32_t idx = index_ + 1;
    for (std::uint32_t e = 0; e < size(); ++e) {
        const node& k = doc_->at(idx);
        std::uint32_t value_idx = k.next;
        if (k.size == key.size() && std::equal(key.begin(), key.end(), reinterpret_cast<const char*>(k.data))) return {doc_, value_idx};
        idx = doc_->at(value_idx).next;
    }
    return {};
}

}  // namespace bsky::cbor
