#pragma once
#include <array>
#include <cstdint>
#include <span>

namespace bsky::crypto {

using sha256_digest = std::array<std::uint8_t, 32>;

/// SHA-256 through OpenSSL's low-level one-shot API (see the .cpp for why not EVP).
sha256_digest sha256(std::span<const std::uint8_t> bytes) noexcept;

}  // namespace bsky::crypto
