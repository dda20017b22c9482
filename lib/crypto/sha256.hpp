#pragma once
#include <array>
#include <cstdint>
#include <span>

namespace bsky::crypto {

using sha256_digest = std::array<std::uint8_t, 32>;

/// SHA-256 through OpenSSL's EVP with a per-thread context (no per-call fetch).
sha256_digest sha256(std::span<const std::uint8_t> bytes) noexcept;

}  // namespace bsky::crypto
