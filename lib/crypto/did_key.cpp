#include "crypto/did_key.hpp"

#include "cid/multibase.hpp"
#include "cid/varint.hpp"

namespace bsky::crypto {

namespace {
constexpr std::uint64_t multicodec_k256 = 0xe7;
constexpr std::uint64_t multicodec_p256 = 0x1200;

bool plausible_point(const std::vector<std::uint8_t>& p) {
    return (p.size() == 33 && (p[0] == 0x02 || p[0] == 0x03)) || (p.size() == 65 && p[0] == 0x04);
}

std::optional<public_key> from_prefixed(const std::vector<std::uint8_t>& bytes) {
    auto code = cid::read_varint(bytes);
    if (code.status != cid::varint_status::ok) return std::nullopt;
    public_key key;
    if (code.value == multicodec_k256) key.type = curve::k256;
    else if (code.value == multicodec_p256) key.type = curve::p256;
    else return std::nullopt;
    key.point.assign(bytes.begin() + static_cast<std::ptrdiff_t>(code.length), bytes.end());
    if (!plausible_point(key.point)) return std::nullopt;
    return key;
}
}  // namespace

std::optional<public_key> parse_multikey(std::string_view multibase) {
    if (!multibase.starts_with('z')) return std::nullopt;
    auto bytes = cid::multibase_decode(multibase);
    if (!bytes) return std::nullopt;
    return from_prefixed(*bytes);
}

std::optional<public_key> parse_did_key(std::string_view did_key) {
    if (!did_key.starts_with("did:key:")) return std::nullopt;
    return parse_multikey(did_key.substr(8));
}

std::optional<public_key> parse_verification_method(std::string_view type, std::string_view multibase) {
    if (type == "Multikey") return parse_multikey(multibase);
    curve c;
    if (type == "EcdsaSecp256k1VerificationKey2019") c = curve::k256;
    else if (type == "EcdsaSecp256r1VerificationKey2019") c = curve::p256;
    else return std::nullopt;
    auto bytes = cid::multibase_decode(multibase);
    if (!bytes) return std::nullopt;
    // Older documents hold the bare SEC1 point; some hold the multicodec form.
    if (plausible_point(*bytes)) return public_key{c, std::move(*bytes)};
    auto key = from_prefixed(*bytes);
    if (!key || key->type != c) return std::nullopt;
    return key;
}

std::string to_did_key(const public_key& key) {
    std::vector<std::uint8_t> bytes(10);
    bytes.resize(cid::write_varint(key.type == curve::k256 ? multicodec_k256 : multicodec_p256, bytes.data()));
    if (key.point.size() == 65) {
        bytes.push_back(static_cast<std::uint8_t>(0x02 | (key.point[64] & 1)));
        bytes.insert(bytes.end(), key.point.begin() + 1, key.point.begin() + 33);
    } else {
        bytes.insert(bytes.end(), key.point.begin(), key.point.end());
    }
    return "did:key:z" + cid::base58btc_encode(bytes);
}

}  // namespace bsky::crypto
