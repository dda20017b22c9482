#pragma once
// Decoded DAG-CBOR: a flat, pre-order array of nodes that view into the
// input bytes (no per-value allocation). A value_ref is a cheap handle; it is
// valid while its document and the decoded bytes live.
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>
#include <span>
#include <vector>

#include "cid/cid.hpp"

namespace bsky::cbor {

enum class kind : std::uint8_t { null, boolean, unsigned_int, negative_int, float64, bytes, string, array, map, link };

struct node {
    kind type;
    bool flag = false;        ///< boolean value
    std::uint32_t size = 0;   ///< byte length (bytes, string, link) or element count (array, map entries)
    std::uint32_t next = 0;   ///< index just past this node's subtree
    union {
        std::uint64_t number;  ///< unsigned_int value, or n for negative_int (-1 - n)
        double real;
        const std::uint8_t* data;  ///< bytes, string, link (binary CID without the 0x00 prefix)
    };
};

class document;

class value_ref {
public:
    value_ref() = default;
    value_ref(const document* doc, std::uint32_t index) : doc_(doc), index_(index) {}

    bool valid() const noexcept { return doc_ != nullptr; }
    kind type() const noexcept;
    bool is(kind k) const noexcept { return valid() && type() == k; }
    bool is_null() const noexcept { return is(kind::null); }

    bool as_bool() const noexcept;
    /// The integer when it fits in int64.
    std::optional<std::int64_t> as_int() const noexcept;
    std::string_view as_string() const noexcept;  ///< empty unless a string
    std::span<const std::uint8_t> as_bytes() const noexcept;
    std::optional<cid::cid> as_link() const noexcept;
    double as_float() const noexcept;
    std::uint64_t raw_number() const noexcept;

    /// Number of array elements or map entries.
    std::uint32_t size() const noexcept;
    /// The i-th array element (linear walk).
    value_ref at(std::uint32_t i) const noexcept;
    /// The map value for `key`, or an invalid ref.
    value_ref get(std::string_view key) const noexcept;
    value_ref operator[](std::string_view key) const noexcept { return get(key); }

    std::uint32_t index() const noexcept { return index_; }
    const document* doc() const noexcept { return doc_; }

    /// Iterates array elements, or map entries as (key, value) pairs.
    class iterator {
    public:
        iterator(const document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
        value_ref operator*() const noexcept { return {doc_, index_}; }
        iterator& operator++() noexcept;
        bool operator==(const iterator& o) const noexcept { return index_ == o.index_; }

    private:
        const document* doc_;
        std::uint32_t index_;
    };
    /// Children in order: for maps, key and value alternate.
    iterator begin() const noexcept { return {doc_, index_ + 1}; }
    iterator end() const noexcept;

private:
    const document* doc_ = nullptr;
    std::uint32_t index_ = 0;
};

class document {
public:
    value_ref root() const noexcept { return nodes_.empty() ? value_ref{} : value_ref{this, 0}; }
    const node& at(std::uint32_t i) const noexcept { return nodes_[i]; }
    std::vector<node>& nodes() noexcept { return nodes_; }
    const std::vector<node>& nodes() const noexcept { return nodes_; }
    void clear() noexcept { nodes_.clear(); }

private:
    std::vector<node> nodes_;
};

inline kind value_ref::type() const noexcept { return doc_->at(index_).type; }
inline bool value_ref::as_bool() const noexcept { return is(kind::boolean) && doc_->at(index_).flag; }
inline std::uint64_t value_ref::raw_number() const noexcept { return doc_->at(index_).number; }
inline double value_ref::as_float() const noexcept { return is(kind::float64) ? doc_->at(index_).real : 0.0; }
inline std::uint32_t value_ref::size() const noexcept { return valid() ? doc_->at(index_).size : 0; }
inline value_ref::iterator value_ref::end() const noexcept { return {doc_, doc_->at(index_).next}; }
inline value_ref::iterator& value_ref::iterator::operator++() noexcept {
    index_ = doc_->at(index_).next;
    return *this;
}

}  // namespace bsky::cbor
