#include "crypto/sha256.hpp"

// The one-shot low-level interface is deprecated in OpenSSL 3 in favour of
// EVP, but EVP's per-call set-up costs as much as hashing a typical 250-byte
// repo block; both run the same (SHA-NI / AVX2) block function.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

namespace bsky::crypto {

sha256_digest sha256(std::span<const std::uint8_t> bytes) noexcept {
    sha256_digest out;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, bytes.data(), bytes.size());
    SHA256_Final(out.data(), &ctx);
    return out;
}

}  // namespace bsky::crypto
