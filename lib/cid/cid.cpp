#include "cid/cid.hpp"

#include "cid/multibase.hpp"
#include "cid/varint.hpp"

#include <algorithm>

namespace bsky::cid {

std::optional<cid> cid::read_prefix(std::span<const std::uint8_t> in, std::size_t& used) noexcept {
    std::optional<cid> c(std::in_place);
    if (!read_prefix(in, used, *c)) return std::nullopt;
    return c;
}

bool cid::parse(std::span<const std::uint8_t> in, cid& out) noexcept {
    std::size_t used = 0;
    return read_prefix(in, used, out) && used == in.size();
}

bool cid::read_prefix(std::span<const std::uint8_t> in, std::size_t& used, cid& c) noexcept {
    // Nearly every atproto CID is v1 / dag-cbor or raw / sha2-256 / 32 bytes.
    if (in.size() >= 36 && in[0] == 0x01 && (in[1] == 0x71 || in[1] == 0x55) && in[2] == 0x12 && in[3] == 0x20) {
        std::memcpy(c.bytes_.data(), in.data(), 36);
        c.size_ = 36;
        c.version_ = 1;
        c.codec_ = in[1];
        c.hash_code_ = hash_sha2_256;
        c.digest_offset_ = 4;
        c.digest_size_ = 32;
        used = 36;
        return true;
    }
    // CIDv0 is a bare sha2-256 multihash.
    if (in.size() >= 2 && in[0] == 0x12 && in[1] == 0x20) {
        if (in.size() < 34) return false;
        std::memcpy(c.bytes_.data(), in.data(), 34);
        c.size_ = 34;
        c.version_ = 0;
        c.codec_ = codec_dag_pb;
        c.hash_code_ = hash_sha2_256;
        c.digest_offset_ = 2;
        c.digest_size_ = 32;
        used = 34;
        return true;
    }
    std::size_t pos = 0;
    std::uint64_t fields[4];
    for (auto& f : fields) {
        auto r = read_varint(in.subspan(pos));
        if (r.status != varint_status::ok) return false;
        f = r.value;
        pos += r.length;
    }
    if (fields[0] != 1) return false;
    std::uint64_t digest_len = fields[3];
    if (digest_len > 64 || pos + digest_len > in.size() || pos + digest_len > max_size) return false;
    c.version_ = 1;
    c.codec_ = fields[1];
    c.hash_code_ = fields[2];
    c.digest_offset_ = static_cast<std::uint8_t>(pos);
    c.digest_size_ = static_cast<std::uint8_t>(digest_len);
    c.size_ = static_cast<std::uint8_t>(pos + digest_len);
    std::memcpy(c.bytes_.data(), in.data(), c.size_);
    used = c.size_;
    return true;
}

bool is_binary_cid(std::span<const std::uint8_t> in) noexcept {
    if (in.size() >= 2 && in[0] == 0x12 && in[1] == 0x20) return in.size() == 34;
    std::size_t pos = 0;
    std::uint64_t fields[4];
    for (auto& f : fields) {
        auto r = read_varint(in.subspan(pos));
        if (r.status != varint_status::ok) return false;
        f = r.value;
        pos += r.length;
    }
    return fields[0] == 1 && fields[3] <= 64 && pos + fields[3] == in.size() && in.size() <= cid::max_size;
}

std::optional<cid> cid::from_bytes(std::span<const std::uint8_t> in) noexcept {
    std::size_t used = 0;
    auto c = read_prefix(in, used);
    if (!c || used != in.size()) return std::nullopt;
    return c;
}

std::optional<cid> cid::from_string(std::string_view text) noexcept {
    try {
        std::optional<std::vector<std::uint8_t>> raw;
        if (text.size() == 46 && text.starts_with("Qm")) raw = base58btc_decode(text);
        else if (text.size() > 1 && (text[0] == 'b' || text[0] == 'z')) raw = multibase_decode(text);
        if (!raw) return std::nullopt;
        auto c = from_bytes(*raw);
        if (!c) return std::nullopt;
        // A v0 CID must not be wrapped in multibase, and v1 must not look like v0.
        if ((c->version_ == 0) != text.starts_with("Qm")) return std::nullopt;
        return c;
    } catch (...) {
        return std::nullopt;
    }
}

cid cid::make_v1_sha256(std::uint64_t codec, std::span<const std::uint8_t, 32> digest) noexcept {
    cid c;
    std::size_t pos = 0;
    pos += write_varint(1, c.bytes_.data() + pos);
    pos += write_varint(codec, c.bytes_.data() + pos);
    pos += write_varint(hash_sha2_256, c.bytes_.data() + pos);
    pos += write_varint(32, c.bytes_.data() + pos);
    std::memcpy(c.bytes_.data() + pos, digest.data(), 32);
    c.version_ = 1;
    c.codec_ = codec;
    c.hash_code_ = hash_sha2_256;
    c.digest_offset_ = static_cast<std::uint8_t>(pos);
    c.digest_size_ = 32;
    c.size_ = static_cast<std::uint8_t>(pos + 32);
    return c;
}

bool cid::is_atproto_blessed() const noexcept {
    return version_ == 1 && hash_code_ == hash_sha2_256 && digest_size_ == 32 &&
           (codec_ == codec_dag_cbor || codec_ == codec_raw);
}

std::string cid::to_string() const {
    std::string out;
    append_to(out);
    return out;
}

void cid::append_to(std::string& out) const {
    if (version_ == 0) {
        out += base58btc_encode(bytes());
        return;
    }
    out.push_back('b');
    base32_append(bytes(), out);
}

bool operator<(const cid& a, const cid& b) noexcept {
    return std::lexicographical_compare(a.bytes_.begin(), a.bytes_.begin() + a.size_, b.bytes_.begin(),
                                        b.bytes_.begin() + b.size_);
}

}  // namespace bsky::cid
