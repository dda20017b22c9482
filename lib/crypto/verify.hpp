#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/did_key.hpp"

namespace bsky::crypto {

enum class signature_status { valid, invalid, high_s, malformed_signature, malformed_key };
std::string_view to_string(signature_status s) noexcept;

/// Verifies an atproto signature: 64-byte r||s (compact, not DER), low-S
/// required, ECDSA over SHA-256 of `message`.
signature_status verify_signature(const public_key& key, std::span<const std::uint8_t> message,
                                  std::span<const std::uint8_t> signature);

}  // namespace bsky::crypto
