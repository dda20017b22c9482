#include "crypto/sha256.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace bsky::crypto {

namespace {
struct digest_state {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~digest_state() {
        EVP_MD_CTX_free(ctx);
        EVP_MD_free(md);
    }
};
}  // namespace

sha256_digest sha256(std::span<const std::uint8_t> bytes) noexcept {
    thread_local digest_state state;
    sha256_digest out{};
    unsigned int len = 0;
    if (!state.md || !state.ctx || EVP_DigestInit_ex2(state.ctx, state.md, nullptr) != 1 ||
        EVP_DigestUpdate(state.ctx, bytes.data(), bytes.size()) != 1 ||
        EVP_DigestFinal_ex(state.ctx, out.data(), &len) != 1 || len != out.size())
        std::abort();  // only on memory exhaustion or a broken OpenSSL install
    return out;
}

}  // namespace bsky::crypto
