#pragma once
// The text encodings atproto uses: base32 (lower, no padding; CIDs),
// base58btc (did:key), base64 (DAG-JSON $bytes, signatures) and base64url.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bsky::cid {

std::string base32_encode(std::span<const std::uint8_t> bytes);
/// Appends the encoding to `out` (no temporary: CIDs are written per record).
void base32_append(std::span<const std::uint8_t> bytes, std::string& out);
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

std::string base58btc_encode(std::span<const std::uint8_t> bytes);
std::optional<std::vector<std::uint8_t>> base58btc_decode(std::string_view text);

/// Standard alphabet without padding (the DAG-JSON form).
std::string base64_encode(std::span<const std::uint8_t> bytes);
/// Accepts the standard and URL-safe alphabets, with or without padding;
/// rejects non-zero trailing bits.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

/// Decodes a multibase string ('b' base32, 'z' base58btc, 'm'/'u' base64).
std::optional<std::vector<std::uint8_t>> multibase_decode(std::string_view text);

}  // namespace bsky::cid
