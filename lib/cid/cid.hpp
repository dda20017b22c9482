#pragma once
// Content identifiers. A cid holds its binary form inline (no allocation);
// atproto "blessed" CIDs are v1 + dag-cbor (0x71) or raw (0x55) + sha2-256.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bsky::cid {

inline constexpr std::uint64_t codec_raw = 0x55;
inline constexpr std::uint64_t codec_dag_cbor = 0x71;
inline constexpr std::uint64_t codec_dag_pb = 0x70;
inline constexpr std::uint64_t hash_sha2_256 = 0x12;

class cid {
public:
    static constexpr std::size_t max_size = 96;

    cid() = default;

    /// Parses a binary CID that must span `bytes` exactly.
    static std::optional<cid> from_bytes(std::span<const std::uint8_t> bytes) noexcept;
    /// Parses a binary CID at the start of `bytes`; `used` receives its length.
    static std::optional<cid> read_prefix(std::span<const std::uint8_t> bytes, std::size_t& used) noexcept;
    /// The same into `out`, for hot loops: a cid is 120 bytes, and the
    /// optional's copy costs more than parsing the usual 36.
    static bool read_prefix(std::span<const std::uint8_t> bytes, std::size_t& used, cid& out) noexcept;
    /// from_bytes into `out`.
    static bool parse(std::span<const std::uint8_t> bytes, cid& out) noexcept;
    /// Parses text: base32 "b…" (v1), base58btc "z…" (v1) or "Qm…" (v0).
    static std::optional<cid> from_string(std::string_view text) noexcept;
    /// A CIDv1 sha2-256 CID for a digest.
    static cid make_v1_sha256(std::uint64_t codec, std::span<const std::uint8_t, 32> digest) noexcept;

    std::uint64_t version() const noexcept { return version_; }
    std::uint64_t codec() const noexcept { return codec_; }
    std::uint64_t hash_code() const noexcept { return hash_code_; }
    std::span<const std::uint8_t> digest() const noexcept { return {bytes_.data() + digest_offset_, digest_size_}; }
    std::span<const std::uint8_t> bytes() const noexcept { return {bytes_.data(), size_}; }
    bool empty() const noexcept { return size_ == 0; }

    /// CIDv1, sha2-256 with a 32-byte digest, codec dag-cbor or raw.
    bool is_atproto_blessed() const noexcept;

    /// Base32 "b…" for v1, base58btc "Qm…" for v0.
    std::string to_string() const;
    /// The same, appended to `out`.
    void append_to(std::string& out) const;

    friend bool operator==(const cid& a, const cid& b) noexcept {
        return a.size_ == b.size_ && std::memcmp(a.bytes_.data(), b.bytes_.data(), a.size_) == 0;
    }
    friend bool operator<(const cid& a, const cid& b) noexcept;

private:
    std::array<std::uint8_t, max_size> bytes_;  ///< only the first size_ bytes are meaningful
    std::uint8_t size_ = 0;
    std::uint8_t digest_offset_ = 0;
    std::uint8_t digest_size_ = 0;
    std::uint8_t version_ = 0;
    std::uint64_t codec_ = 0;
    std::uint64_t hash_code_ = 0;
};

/// True when `bytes` is exactly one binary CID (v0 or v1); cheaper than
/// constructing a cid when only validity matters.
bool is_binary_cid(std::span<const std::uint8_t> bytes) noexcept;

struct cid_hash {
    std::size_t operator()(const cid& c) const noexcept {
        auto d = c.digest();
        std::size_t h = 0;
        std::memcpy(&h, d.data(), std::min(d.size(), sizeof h));
        return h ^ c.bytes().size();
    }
};

}  // namespace bsky::cid
