#pragma once
// Holds CAR blocks until the tree walk reaches them. Memory is bounded: past
// `memory_limit` bytes, blocks go to an unlinked temporary file. The index is
// compact (24 bytes a block) so a repo of millions of blocks stays small.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "cid/cid.hpp"

namespace bsky::repo {

class block_store {
public:
    /// `expected_blocks` sizes the index up front (0: grow as needed).
    explicit block_store(std::uint64_t memory_limit, std::filesystem::path spill_dir = {}, std::uint64_t expected_blocks = 0);
    ~block_store();
    block_store(const block_store&) = delete;
    block_store& operator=(const block_store&) = delete;

    /// Stores a block unless one with the same digest is present; false for a duplicate.
    bool put(const cid::cid& id, std::span<const std::uint8_t> bytes, std::error_code& ec);
    bool contains(const cid::cid& id) const noexcept;
    /// The block's bytes: a view into memory, or read into `scratch` from the
    /// spill file. False when absent; ec is set on an I/O error.
    bool get(const cid::cid& id, std::span<const std::uint8_t>& bytes, std::vector<std::uint8_t>& scratch,
             std::error_code& ec) const;

    /// Hints that `id` will be read soon: first call brings its index slot
    /// into cache, a later call its bytes. Walks use it to overlap the memory
    /// latency of blocks stored long before they are needed.
    void prefetch_slot(const cid::cid& id) const noexcept;
    void prefetch_bytes(const cid::cid& id) const noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t memory_bytes() const noexcept { return memory_bytes_; }
    std::uint64_t spilled_bytes() const noexcept { return spilled_bytes_; }
    std::uint64_t index_bytes() const noexcept { return slots_.capacity() * sizeof(slot); }

private:
    struct slot {
        std::uint64_t key0 = 0, key1 = 0;  ///< first 16 bytes of the sha2-256 digest; 0,0 = empty
        std::uint64_t location = 0;        ///< bit 63: spilled; bits 39..62: length; bits 0..38: offset
    };

    static void key_of(const cid::cid& id, std::uint64_t& k0, std::uint64_t& k1) noexcept;
    const slot* find(std::uint64_t k0, std::uint64_t k1) const noexcept;
    void grow();

    std::uint64_t memory_limit_;
    std::filesystem::path spill_dir_;
    std::vector<slot> slots_;
    std::uint64_t count_ = 0;
    std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
    std::vector<std::size_t> chunk_sizes_;
    std::size_t chunk_used_ = 0;
    std::size_t chunk_size_ = 0;
    std::vector<std::uint64_t> chunk_bases_;
    std::uint64_t memory_bytes_ = 0;
    std::uint64_t spilled_bytes_ = 0;
    int spill_fd_ = -1;
};

}  // namespace bsky::repo
