#pragma once
// A strict DAG-CBOR decoder (the IPLD DAG-CBOR spec plus atproto's data
// model): shortest-form integers and lengths, definite lengths only, string
// map keys sorted length-first then bytewise and unique, UTF-8 text, only tag
// 42 (CID with a 0x00 prefix), simple values false/true/null, 64-bit floats
// only when allowed, and limits on nesting depth.
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "cbor/value.hpp"

namespace bsky::cbor {

enum class error {
    truncated = 1,
    trailing_bytes,
    not_shortest_form,
    indefinite_length,
    reserved_additional_info,
    unsupported_simple_value,
    float_not_allowed,
    float_not_64_bit,
    float_not_finite,
    map_key_not_string,
    map_keys_unsorted,
    duplicate_map_key,
    invalid_utf8,
    unsupported_tag,
    invalid_link,
    too_deep,
    too_large,
};

const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

struct decode_options {
    std::uint32_t max_depth = 64;
    bool allow_floats = false;  ///< atproto forbids floats; plain DAG-CBOR allows float64
};

/// Decodes exactly one DAG-CBOR item spanning `bytes`. On failure,
/// `error_offset` (when given) receives the byte offset of the problem.
std::error_code decode(std::span<const std::uint8_t> bytes, document& out, const decode_options& options = {},
                       std::size_t* error_offset = nullptr);

/// Validates UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::span<const std::uint8_t> bytes) noexcept;

}  // namespace bsky::cbor

template <>
struct std::is_error_code_enum<bsky::cbor::error> : std::true_type {};
