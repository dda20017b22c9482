#pragma once
// An incremental CAR v1 reader with a push API: feed any chunk sizes (one
// byte at a time works); it emits the header roots and every block after
// checking the block's bytes against its CID. Errors stick until reset().
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "cid/cid.hpp"

namespace bsky::car {

enum class error {
    bad_varint = 1,
    header_too_large,
    bad_header,
    unsupported_version,
    zero_length_section,
    section_too_large,
    bad_cid,
    unsupported_cid,
    hash_mismatch,
    truncated,
    too_large,
};
const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

struct reader_options {
    std::uint64_t max_header_bytes = 64 * 1024;
    std::uint64_t max_block_bytes = 2 * 1024 * 1024;
    std::uint64_t max_total_bytes = 0;  ///< 0: no limit
    bool verify_hashes = true;          ///< only sha2-256 CIDs are accepted when set
};

/// Receives the reader's events. A non-empty error_code stops the reader.
class handler {
public:
    virtual ~handler() = default;
    virtual std::error_code on_header(std::span<const cid::cid> roots) = 0;
    /// A hint: the block `id` is about to be hashed. Lets the handler start
    /// fetching what on_block will need (a cold index slot) while the hash runs.
    virtual void on_block_id(const cid::cid& /*id*/) noexcept {}
    /// `bytes` is valid only during the call.
    virtual std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> bytes,
                                     std::uint64_t section_offset) = 0;
};

class reader {
public:
    reader(handler& h, reader_options options = {}) : handler_(h), options_(options) {}

    /// Consumes `data`; returns the bytes consumed (all of them unless an error is set).
    std::size_t put(std::span<const std::uint8_t> data, std::error_code& ec);
    /// Marks the end of input: an error when the stream stops inside the header or a section.
    std::error_code finish();
    void reset();

    std::uint64_t bytes_consumed() const noexcept { return consumed_; }
    std::uint64_t blocks() const noexcept { return blocks_; }
    bool header_done() const noexcept { return header_done_; }
    /// Byte offset of the failing item and a sentence describing the failure.
    std::uint64_t error_offset() const noexcept { return error_offset_; }
    const std::string& error_detail() const noexcept { return error_detail_; }

private:
    enum class state { length, body, failed };

    bool fail(std::error_code ec, std::uint64_t offset, std::string detail);
    bool on_item(std::span<const std::uint8_t> bytes);
    bool on_header_bytes(std::span<const std::uint8_t> bytes);
    bool on_section(std::span<const std::uint8_t> bytes);

    handler& handler_;
    reader_options options_;
    state state_ = state::length;
    std::uint8_t varint_buf_[10]{};
    std::size_t varint_len_ = 0;
    std::uint64_t need_ = 0;
    std::uint64_t item_offset_ = 0;
    std::vector<std::uint8_t> buf_;
    cid::cid section_id_;  ///< parsed in place: a cid is large, and sections are many
    std::uint64_t consumed_ = 0;
    std::uint64_t blocks_ = 0;
    bool header_done_ = false;
    std::error_code error_;
    std::uint64_t error_offset_ = 0;
    std::string error_detail_;
};

}  // namespace bsky::car

template <>
struct std::is_error_code_enum<bsky::car::error> : std::true_type {};
