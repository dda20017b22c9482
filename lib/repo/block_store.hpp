#pragma once
// Holds CAR blocks until the tree walk reaches them. Memory is bounded: past
// `memory_limit` bytes, blocks go to an unlinked temporary file. Each stored
// block is preceded by its 16-byte digest prefix and its length; the index is
// 8 bytes a slot (a 24-bit digest fragment and the block's location), small
// enough to stay in cache for repos of tens of thousands of blocks, and a
// fragment match is confirmed against the full prefix beside the bytes.
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
    /// Reads from the spill file so far (each fills the read-back window).
    std::uint64_t spill_file_reads() const noexcept { return spill_file_reads_; }
    std::uint64_t index_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint64_t); }

private:
    /// A slot: bits 37..63 the low 27 bits of the digest's first word (they
    /// also give the slot's home, so the index grows without reading blocks),
    /// bit 36 spilled, bits 0..35 where the block's header starts, plus one
    /// (memory: chunk << 24 | offset; spill file: its offset); 0 is empty.
    using slot = std::uint64_t;
    struct key {
        std::uint64_t k0 = 0, k1 = 0;  ///< the first 16 bytes of the digest
        bool operator==(const key&) const = default;
    };
    struct found {
        const std::uint8_t* bytes = nullptr;  ///< memory: the block's bytes
        std::uint64_t location = 0;           ///< spilled: file offset of its header
        std::uint32_t length = 0;
        bool spilled = false;
    };

    static key key_of(const cid::cid& id) noexcept;
    /// True when `s` holds the block with key `k`; fills `out`.
    bool matches(slot s, const key& k, found& out) const noexcept;
    bool find(const key& k, found& out) const noexcept;
    const std::uint8_t* memory_at(std::uint64_t location) const noexcept;
    void grow();
    /// Writes the spill buffer to the file; on failure it stays, still readable.
    bool flush_spill(std::error_code& ec);
    /// Reads spilled bytes from the file or, past what was flushed, the buffer.
    bool read_spilled(std::uint8_t* out, std::size_t n, std::uint64_t offset, std::size_t& got) const noexcept;
    /// Spilled bytes from `location` on, at least a header's worth, through
    /// the read-back window (they run to its end); nullptr (and io_error_)
    /// when they cannot be read.
    const std::uint8_t* spilled_at(std::uint64_t location) const noexcept;

    std::uint64_t memory_limit_;
    std::filesystem::path spill_dir_;
    std::vector<slot> slots_;
    std::uint64_t count_ = 0;
    /// Spilled bytes read back: [window_start_, window_start_ + window_size_) of the file.
    mutable std::vector<std::uint8_t> window_;
    mutable std::uint64_t window_start_ = 0;
    mutable std::size_t window_size_ = 0;
    mutable std::size_t window_hits_ = 0;
    mutable std::uint64_t last_miss_ = ~0ull;
    mutable std::uint64_t spill_file_reads_ = 0;
    mutable std::size_t window_backoff_ = 0;             ///< 0, 1, 3, 7 … 64 after wasted windows
    mutable std::size_t small_reads_before_window_ = 0;  ///< nearby misses to read small before trying again
    mutable std::error_code io_error_;
    struct chunk_free {
        void operator()(std::uint8_t* p) const noexcept;
    };
    using chunk_ptr = std::unique_ptr<std::uint8_t[], chunk_free>;
    std::vector<chunk_ptr> chunks_;
    std::vector<std::size_t> chunk_sizes_;
    std::size_t chunk_used_ = 0;
    std::size_t chunk_size_ = 0;
    std::uint64_t memory_bytes_ = 0;
    std::uint64_t spilled_bytes_ = 0;  ///< flushed to the file, plus buffered
    std::uint64_t spill_flushed_ = 0;
    std::vector<std::uint8_t> spill_buffer_;
    int spill_fd_ = -1;
};

}  // namespace bsky::repo
