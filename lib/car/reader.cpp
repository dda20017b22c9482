#include "car/reader.hpp"

#include "cbor/decoder.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"

#include <algorithm>
#include <cstring>

namespace bsky::car {

namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "car"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::bad_varint: return "malformed length varint";
            case error::header_too_large: return "CAR header larger than the limit";
            case error::bad_header: return "CAR header is not {roots:[CID...], version:1}";
            case error::unsupported_version: return "unsupported CAR version (only CARv1 is accepted)";
            case error::zero_length_section: return "zero-length CAR section";
            case error::section_too_large: return "CAR block larger than the limit";
            case error::bad_cid: return "malformed CID in CAR section";
            case error::unsupported_cid: return "CID is not CIDv1 with a sha2-256 hash";
            case error::hash_mismatch: return "block bytes do not hash to their CID";
            case error::truncated: return "CAR stream ends inside the header or a section";
            case error::too_large: return "CAR stream larger than the limit";
        }
        return "unknown CAR error";
    }
};

std::string hex_prefix(std::span<const std::uint8_t> b) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < std::min<std::size_t>(b.size(), 16); ++i) {
        s.push_back(hex[b[i] >> 4]);
        s.push_back(hex[b[i] & 15]);
    }
    return s;
}

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

void reader::reset() {
    state_ = state::length;
    varint_len_ = 0;
    need_ = 0;
    item_offset_ = 0;
    buf_.clear();
    consumed_ = 0;
    blocks_ = 0;
    header_done_ = false;
    error_.clear();
    error_offset_ = 0;
    error_detail_.clear();
}

bool reader::fail(std::error_code ec, std::uint64_t offset, std::string detail) {
    state_ = state::failed;
    error_ = ec;
    error_offset_ = offset;
    error_detail_ = std::move(detail);
    buf_.clear();
    buf_.shrink_to_fit();
    return false;
}

std::size_t reader::put(std::span<const std::uint8_t> data, std::error_code& ec) {
    if (state_ == state::failed) {
        ec = error_;
        return 0;
    }
    if (options_.max_total_bytes && consumed_ + data.size() > options_.max_total_bytes) {
        fail(make_error_code(error::too_large), options_.max_total_bytes,
             "the CAR stream exceeds the limit of " + std::to_string(options_.max_total_bytes) + " bytes");
        ec = error_;
        return 0;
    }
    std::size_t pos = 0;
    while (pos < data.size()) {
        if (state_ == state::length) {
            if (varint_len_ == 0) item_offset_ = consumed_;
            std::uint8_t b = data[pos++];
            ++consumed_;
            varint_buf_[varint_len_++] = b;
            if (b & 0x80) {
                if (varint_len_ >= 9) {
                    fail(make_error_code(error::bad_varint), item_offset_, "length varint longer than 9 bytes");
                    break;
                }
                continue;
            }
            auto r = cid::read_varint({varint_buf_, varint_len_});
            varint_len_ = 0;
            if (r.status != cid::varint_status::ok) {
                fail(make_error_code(error::bad_varint), item_offset_, "length varint is not minimally encoded");
                break;
            }
            std::uint64_t limit = header_done_ ? options_.max_block_bytes + cid::cid::max_size : options_.max_header_bytes;
            if (r.value == 0) {
                fail(make_error_code(header_done_ ? error::zero_length_section : error::bad_header), item_offset_,
                     header_done_ ? "zero-length section (not allowed in CARv1)" : "zero-length CAR header");
                break;
            }
            if (r.value > limit) {
                fail(make_error_code(header_done_ ? error::section_too_large : error::header_too_large), item_offset_,
                     std::string(header_done_ ? "section" : "header") + " claims " + std::to_string(r.value) +
                         " bytes, over the limit of " + std::to_string(limit));
                break;
            }
            need_ = r.value;
            state_ = state::body;
            buf_.clear();
            continue;
        }
        // state::body
        std::size_t avail = data.size() - pos;
        if (buf_.empty() && avail >= need_) {
            // The whole item is in this chunk: no copy.
            auto n = static_cast<std::size_t>(need_);
            consumed_ += n;
            pos += n;
            state_ = state::length;
            if (!on_item(data.subspan(pos - n, n))) break;
            continue;
        }
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(need_ - buf_.size(), avail));
        buf_.insert(buf_.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                    data.begin() + static_cast<std::ptrdiff_t>(pos + take));
        pos += take;
        consumed_ += take;
        if (buf_.size() == need_) {
            state_ = state::length;
            bool ok = on_item(buf_);
            buf_.clear();
            if (!ok) break;
        }
    }
    if (state_ == state::failed) {
        ec = error_;
        return pos;
    }
    return pos;
}

bool reader::on_item(std::span<const std::uint8_t> bytes) {
    return header_done_ ? on_section(bytes) : on_header_bytes(bytes);
}

bool reader::on_header_bytes(std::span<const std::uint8_t> bytes) {
    std::uint64_t body_offset = item_offset_;
    cbor::document doc;
    std::size_t at = 0;
    if (auto ec = cbor::decode(bytes, doc, {.max_depth = 4}, &at))
        return fail(make_error_code(error::bad_header), body_offset, "header is not DAG-CBOR: " + ec.message());
    auto root = doc.root();
    auto version = root["version"].as_int();
    if (!root.is(cbor::kind::map) || !version)
        return fail(make_error_code(error::bad_header), body_offset, "header has no integer 'version'");
    if (*version != 1)
        return fail(make_error_code(error::unsupported_version), body_offset,
                    "CAR version " + std::to_string(*version) + "; only CARv1 is accepted");
    auto roots = root["roots"];
    if (!roots.is(cbor::kind::array))
        return fail(make_error_code(error::bad_header), body_offset, "header 'roots' is missing or not a list");
    std::vector<cid::cid> ids;
    for (auto r : roots) {
        auto link = r.as_link();
        if (!link) return fail(make_error_code(error::bad_header), body_offset, "header root is not a CID link");
        ids.push_back(*link);
    }
    header_done_ = true;
    if (auto ec = handler_.on_header(ids)) return fail(ec, body_offset, ec.message());
    return true;
}

bool reader::on_section(std::span<const std::uint8_t> bytes) {
    std::uint64_t section = item_offset_;
    std::size_t cid_len = 0;
    if (!cid::cid::read_prefix(bytes, cid_len, section_id_))
        return fail(make_error_code(error::bad_cid), section, "section does not start with a valid CID");
    const cid::cid& id = section_id_;
    auto block = bytes.subspan(cid_len);
    if (block.size() > options_.max_block_bytes)
        return fail(make_error_code(error::section_too_large), section,
                    "block " + id.to_string() + " has " + std::to_string(block.size()) + " bytes, over the limit of " +
                        std::to_string(options_.max_block_bytes));
    if (options_.verify_hashes) {
        if (id.version() != 1 || id.hash_code() != cid::hash_sha2_256 || id.digest().size() != 32)
            return fail(make_error_code(error::unsupported_cid), section,
                        "block CID " + id.to_string() + " is not CIDv1 with a sha2-256 hash");
        handler_.on_block_id(id);
        auto digest = crypto::sha256(block);
        if (std::memcmp(digest.data(), id.digest().data(), 32) != 0)
            return fail(make_error_code(error::hash_mismatch), section,
                        "block bytes hash to sha256:" + hex_prefix(digest) + "…, not to their CID " + id.to_string());
    }
    ++blocks_;
    if (auto ec = handler_.on_block(id, block, section)) return fail(ec, section, ec.message());
    return true;
}

std::error_code reader::finish() {
    if (state_ == state::failed) return error_;
    if (!header_done_ || state_ == state::body || varint_len_ != 0) {
        std::string detail = !header_done_ ? "the stream ends before the CAR header is complete"
                                           : "the stream ends inside a section (" + std::to_string(buf_.size()) + " of " +
                                                 std::to_string(need_) + " bytes)";
        if (state_ == state::length && header_done_) detail = "the stream ends inside a section length";
        fail(make_error_code(error::truncated), item_offset_, detail);
        return error_;
    }
    return {};
}

}  // namespace bsky::car
