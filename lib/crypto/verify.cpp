#include "crypto/verify.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <cstring>
#include <memory>

namespace bsky::crypto {

namespace {

// Half the group order, big-endian: a signature's s above this is "high-S".
constexpr std::array<std::uint8_t, 32> k256_half_order = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
constexpr std::array<std::uint8_t, 32> p256_half_order = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using sig_ptr = std::unique_ptr<ECDSA_SIG, deleter<ECDSA_SIG, ECDSA_SIG_free>>;

pkey_ptr load_key(const public_key& key) {
    param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld) return nullptr;
    const char* group = key.type == curve::k256 ? "secp256k1" : "prime256v1";
    if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, key.point.data(), key.point.size()))
        return nullptr;
    params_ptr params(OSSL_PARAM_BLD_to_param(bld.get()));
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
    pkey_ptr pkey(raw);
    // The point must lie on the curve; fromdata alone does not promise that.
    pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return pkey;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

}  // namespace

std::string_view to_string(signature_status s) noexcept {
    switch (s) {
        case signature_status::valid: return "valid";
        case signature_status::invalid: return "signature does not match the key";
        case signature_status::high_s: return "high-S signature (atproto requires low-S)";
        case signature_status::malformed_signature: return "signature is not 64 bytes of r||s";
        case signature_status::malformed_key: return "public key is not a valid curve point";
    }
    return "unknown";
}

signature_status verify_signature(const public_key& key, std::span<const std::uint8_t> message,
                                  std::span<const std::uint8_t> signature) {
    if (signature.size() != 64) return signature_status::malformed_signature;
    const std::uint8_t* r = signature.data();
    const std::uint8_t* s = signature.data() + 32;
    if (all_zero(r, 32) || all_zero(s, 32)) return signature_status::malformed_signature;
    const auto& half = key.type == curve::k256 ? k256_half_order : p256_half_order;
    if (std::memcmp(s, half.data(), 32) > 0) return signature_status::high_s;

    auto pkey = load_key(key);
    if (!pkey) return signature_status::malformed_key;

    sig_ptr sig(ECDSA_SIG_new());
    BIGNUM* br = BN_bin2bn(r, 32, nullptr);
    BIGNUM* bs = BN_bin2bn(s, 32, nullptr);
    if (!sig || !br || !bs || ECDSA_SIG_set0(sig.get(), br, bs) != 1) {
        BN_free(br);
        BN_free(bs);
        return signature_status::malformed_signature;
    }
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0) return signature_status::malformed_signature;
    std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owner(der, [](unsigned char* p) { OPENSSL_free(p); });

    md_ctx_ptr md(EVP_MD_CTX_new());
    if (!md || EVP_DigestVerifyInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, pkey.get(), nullptr) != 1)
        return signature_status::malformed_key;
    int ok = EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len), message.data(), message.size());
    return ok == 1 ? signature_status::valid : signature_status::invalid;
}

}  // namespace bsky::crypto
