#pragma once
// atproto signing keys: secp256k1 ("k256") and NIST P-256, from did:key,
// Multikey multibase, or the legacy DID-document forms.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bsky::crypto {

enum class curve { k256, p256 };

struct public_key {
    curve type;
    std::vector<std::uint8_t> point;  ///< SEC1: 33-byte compressed or 65-byte uncompressed
};

/// "did:key:z…" with a multicodec prefix (0xe7 secp256k1-pub, 0x1200 p256-pub).
std::optional<public_key> parse_did_key(std::string_view did_key);
/// A Multikey publicKeyMultibase "z…" (multicodec-prefixed compressed key).
std::optional<public_key> parse_multikey(std::string_view multibase);
/// A legacy verification method: `type` EcdsaSecp256k1VerificationKey2019 or
/// EcdsaSecp256r1VerificationKey2019 with a multibase key, with or without multicodec.
std::optional<public_key> parse_verification_method(std::string_view type, std::string_view multibase);

/// "did:key:z…" for a key (compressed form).
std::string to_did_key(const public_key& key);

}  // namespace bsky::crypto
