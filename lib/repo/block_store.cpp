#include "repo/block_store.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace bsky::repo {

namespace {
constexpr std::uint64_t length_mask = (1ull << 24) - 1;
constexpr std::size_t default_chunk = 1 << 21;

// Chunks are aligned to 2 MiB so that a store's second and later chunks can
// be offered to transparent huge pages (a hint, ignored where THP is off):
// one fault per chunk instead of 512 for a large repo, while a small repo's
// one chunk keeps 4 KiB pages and costs only the pages it touches.
constexpr std::size_t huge_page = 1 << 21;
std::uint8_t* allocate_chunk(std::size_t size) {
    void* p = size % huge_page == 0 ? std::aligned_alloc(huge_page, size) : std::malloc(size);
    if (!p) throw std::bad_alloc();
    return static_cast<std::uint8_t*>(p);
}

// Fresh pages cost a fault and a kernel memset each; a backfill reads one repo
// after another, so chunks are kept for the next store (up to a bound).
class chunk_pool {
public:
    ~chunk_pool() {
        for (auto* chunk : free_) std::free(chunk);
    }
    std::uint8_t* acquire() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) return allocate_chunk(default_chunk);
        auto* chunk = free_.back();
        free_.pop_back();
        return chunk;
    }
    /// Keeps `chunk` or frees it.
    void release(std::uint8_t* chunk) {
        std::lock_guard lock(mutex_);
        if (free_.size() < max_free) free_.push_back(chunk);
        else std::free(chunk);
    }

private:
    static constexpr std::size_t max_free = 32;  // 64 MiB kept at most
    std::mutex mutex_;
    std::vector<std::uint8_t*> free_;
};

chunk_pool& pool() {
    static chunk_pool instance;
    return instance;
}
}  // namespace

namespace {
constexpr int fragment_shift = 37;
constexpr std::uint64_t fragment_mask = (1ull << 27) - 1;
constexpr std::uint64_t spilled_flag = 1ull << 36;
constexpr std::uint64_t location_mask = (1ull << 36) - 1;
constexpr std::size_t header_bytes = 20;  // 16 bytes of digest, 4 of length
constexpr std::size_t max_slots = std::size_t{1} << 27;
constexpr std::size_t max_chunks = 1 << 12;  // chunk << 24 | offset fits the 36 location bits
constexpr std::size_t peek_bytes = 1024;     // a spilled header and most blocks in one read
constexpr std::size_t window_bytes = 64 << 10;  // a read-back window, for runs of nearby spilled blocks
constexpr std::size_t useful_window_hits = 8;   // fewer, and the window cost more than the reads it saved
// Spilled blocks are appended through a buffer: one write per MiB, not one
// per 250-byte block (a syscall each, most of a spilling repo's kernel time).
constexpr std::size_t spill_buffer_bytes = 1 << 20;

std::uint64_t home_bits(std::uint64_t k0) noexcept { return k0 & fragment_mask; }

bool read_at(int fd, std::uint8_t* out, std::size_t n, std::uint64_t offset, std::size_t& got) noexcept {
    got = 0;
    while (got < n) {
        auto r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return false;
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

/// Writes all of `parts` at `offset`, resuming after short writes.
bool write_at(int fd, struct iovec* parts, int count, std::uint64_t offset, std::error_code& ec) noexcept {
    while (count > 0) {
        auto n = ::pwritev(fd, parts, count, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ec = std::error_code(errno, std::generic_category());
            return false;
        }
        offset += static_cast<std::uint64_t>(n);
        auto done = static_cast<std::size_t>(n);
        for (; count > 0 && done >= parts->iov_len; ++parts, --count) done -= parts->iov_len;
        if (count > 0) {
            parts->iov_base = static_cast<std::uint8_t*>(parts->iov_base) + done;
            parts->iov_len -= done;
        }
    }
    return true;
}
}  // namespace

block_store::block_store(std::uint64_t memory_limit, std::filesystem::path spill_dir, std::uint64_t expected_blocks)
    : memory_limit_(memory_limit), spill_dir_(std::move(spill_dir)) {
    std::size_t slots = 1024;
    while (slots * 3 < expected_blocks * 4 && slots < max_slots) slots *= 2;
    slots_.resize(slots);
}

block_store::~block_store() {
    if (spill_fd_ >= 0) ::close(spill_fd_);
    for (std::size_t i = 0; i < chunks_.size(); ++i)
        if (chunk_sizes_[i] == default_chunk) pool().release(chunks_[i].release());
}

void block_store::chunk_free::operator()(std::uint8_t* p) const noexcept { std::free(p); }

block_store::key block_store::key_of(const cid::cid& id) noexcept {
    auto d = id.digest();
    std::uint8_t buf[16]{};
    std::memcpy(buf, d.data(), std::min<std::size_t>(d.size(), 16));
    key k;
    std::memcpy(&k.k0, buf, 8);
    std::memcpy(&k.k1, buf + 8, 8);
    return k;
}

const std::uint8_t* block_store::memory_at(std::uint64_t location) const noexcept {
    return chunks_[location >> 24].get() + (location & ((1u << 24) - 1));
}

bool block_store::matches(slot s, const key& k, found& out) const noexcept {
    if ((s >> fragment_shift) != home_bits(k.k0)) return false;
    std::uint64_t location = (s & location_mask) - 1;
    const std::uint8_t* header;
    if (s & spilled_flag) {
        header = spilled_at(location);
        if (!header) return false;
    } else {
        header = memory_at(location);
    }
    key stored;
    std::memcpy(&stored.k0, header, 8);
    std::memcpy(&stored.k1, header + 8, 8);
    if (!(stored == k)) return false;
    std::memcpy(&out.length, header + 16, 4);
    out.spilled = s & spilled_flag;
    out.location = location;
    out.bytes = out.spilled ? nullptr : header + header_bytes;
    return true;
}

bool block_store::find(const key& k, found& out) const noexcept {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(k.k0) & mask;; i = (i + 1) & mask) {
        slot s = slots_[i];
        if (s == 0) return false;
        if (matches(s, k, out)) return true;
    }
}

void block_store::prefetch_slot(const cid::cid& id) const noexcept {
    __builtin_prefetch(&slots_[static_cast<std::size_t>(key_of(id).k0) & (slots_.size() - 1)]);
}

void block_store::prefetch_bytes(const cid::cid& id) const noexcept {
    // A hint only: the first slot whose fragment matches (its header is not read, that is the miss to hide).
    auto k = key_of(id);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(k.k0) & mask;; i = (i + 1) & mask) {
        slot s = slots_[i];
        if (s == 0) return;
        if ((s >> fragment_shift) != home_bits(k.k0)) continue;
        if (s & spilled_flag) return;
        const std::uint8_t* p = memory_at((s & location_mask) - 1);
        // Records are a few cache lines; the decoder reads all of them.
        for (std::size_t line = 0; line < 384; line += 64) __builtin_prefetch(p + line);
        return;
    }
}

void block_store::grow() {
    std::vector<slot> old(slots_.size() * 2);
    old.swap(slots_);
    std::size_t mask = slots_.size() - 1;
    for (slot s : old) {
        if (s == 0) continue;
        std::size_t i = static_cast<std::size_t>(s >> fragment_shift) & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

bool block_store::contains(const cid::cid& id) const noexcept {
    found f;
    return find(key_of(id), f);
}

bool block_store::put(const cid::cid& id, std::span<const std::uint8_t> bytes, std::error_code& ec) {
    auto k = key_of(id);
    if (bytes.size() > length_mask) {
        ec = std::make_error_code(std::errc::value_too_large);
        return false;
    }
    if ((count_ + 1) * 4 > slots_.size() * 3 && slots_.size() < max_slots) grow();
    if (count_ + 1 >= slots_.size()) {
        ec = std::make_error_code(std::errc::no_buffer_space);
        return false;
    }
    // One probe finds either the block or the free slot it goes into.
    std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(k.k0) & mask;
    found existing;
    for (; slots_[i] != 0; i = (i + 1) & mask)
        if (matches(slots_[i], k, existing)) return false;

    std::uint8_t header[header_bytes];
    std::memcpy(header, &k.k0, 8);
    std::memcpy(header + 8, &k.k1, 8);
    auto length = static_cast<std::uint32_t>(bytes.size());
    std::memcpy(header + 16, &length, 4);
    const std::size_t entry = header_bytes + bytes.size();

    std::uint64_t location;
    bool in_memory = memory_bytes_ + entry <= memory_limit_ &&
                     (!chunks_.empty() && chunk_used_ + entry <= chunk_size_ ? true : chunks_.size() < max_chunks);
    if (in_memory) {
        if (chunks_.empty() || chunk_used_ + entry > chunk_size_) {
            chunk_size_ = std::max(default_chunk, entry);
            chunks_.emplace_back(chunk_size_ == default_chunk ? pool().acquire() : allocate_chunk(chunk_size_));
            if (chunks_.size() > 1 && chunk_size_ % huge_page == 0) ::madvise(chunks_.back().get(), chunk_size_, MADV_HUGEPAGE);
            chunk_sizes_.push_back(chunk_size_);
            chunk_used_ = 0;
        }
        std::uint8_t* at = chunks_.back().get() + chunk_used_;
        std::memcpy(at, header, header_bytes);
        if (!bytes.empty()) std::memcpy(at + header_bytes, bytes.data(), bytes.size());
        location = ((chunks_.size() - 1) << 24) | chunk_used_;  // 24 bits of in-chunk offset are enough for 16 MiB chunks
        chunk_used_ += entry;
        memory_bytes_ += entry;
    } else {
        if (spill_fd_ < 0) {
            auto dir = spill_dir_.empty() ? std::filesystem::temp_directory_path() : spill_dir_;
            // O_TMPFILE: the file has no name, so a crash leaves nothing behind.
            spill_fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            if (spill_fd_ < 0) {
                auto pattern = (dir / "bsky-backfill-spill-XXXXXX").string();
                spill_fd_ = ::mkstemp(pattern.data());
                if (spill_fd_ >= 0) ::unlink(pattern.c_str());
            }
            if (spill_fd_ < 0) {
                ec = std::error_code(errno, std::generic_category());
                return false;
            }
        }
        location = spilled_bytes_;
        if (location + entry >= location_mask) {
            ec = std::make_error_code(std::errc::file_too_large);
            return false;
        }
        if (spill_buffer_.size() + entry > spill_buffer_bytes && !flush_spill(ec)) return false;
        if (entry > spill_buffer_bytes) {  // a block bigger than the buffer goes straight to the file
            struct iovec parts[2] = {{header, header_bytes}, {const_cast<std::uint8_t*>(bytes.data()), bytes.size()}};
            if (!write_at(spill_fd_, parts, 2, location, ec)) return false;
            spill_flushed_ += entry;
        } else {
            if (spill_buffer_.capacity() == 0) spill_buffer_.reserve(spill_buffer_bytes);
            spill_buffer_.insert(spill_buffer_.end(), header, header + header_bytes);
            spill_buffer_.insert(spill_buffer_.end(), bytes.begin(), bytes.end());
        }
        spilled_bytes_ += entry;
        location |= spilled_flag;
    }
    slots_[i] = (home_bits(k.k0) << fragment_shift) | (location & spilled_flag) | ((location & location_mask) + 1);
    ++count_;
    return true;
}

bool block_store::flush_spill(std::error_code& ec) {
    if (spill_buffer_.empty()) return true;
    struct iovec part = {spill_buffer_.data(), spill_buffer_.size()};
    if (!write_at(spill_fd_, &part, 1, spill_flushed_, ec)) return false;  // the buffer stays readable
    spill_flushed_ += spill_buffer_.size();
    spill_buffer_.clear();
    return true;
}

bool block_store::read_spilled(std::uint8_t* out, std::size_t n, std::uint64_t offset, std::size_t& got) const noexcept {
    got = 0;
    if (offset < spill_flushed_) {
        auto from_file = static_cast<std::size_t>(std::min<std::uint64_t>(n, spill_flushed_ - offset));
        ++spill_file_reads_;
        if (!read_at(spill_fd_, out, from_file, offset, got)) return false;
        if (got < from_file) return true;  // the file is shorter than it should be: the caller sees a short read
    }
    std::uint64_t at = offset + got;
    if (got < n && at - spill_flushed_ < spill_buffer_.size()) {
        auto in_buffer = static_cast<std::size_t>(at - spill_flushed_);
        std::size_t take = std::min(n - got, spill_buffer_.size() - in_buffer);
        std::memcpy(out + got, spill_buffer_.data() + in_buffer, take);
        got += take;
    }
    return true;
}

// A walk of a real repo reads spilled blocks in runs, mostly backwards:
// getRepo sends the newest blocks first, and TID record keys run oldest
// first. So a miss near the previous miss loads a 64 KiB window ending just
// past the block (starting at it, when reading forwards); a far miss reads
// one block's worth. Nearby but scattered reads (blocks of one large commit)
// would waste big windows: each wasted one doubles how many nearby misses
// read small before the next try.
const std::uint8_t* block_store::spilled_at(std::uint64_t location) const noexcept {
    if (location >= window_start_ && location + header_bytes <= window_start_ + window_size_) {
        ++window_hits_;
    } else {
        bool near = last_miss_ != ~0ull && (location > last_miss_ ? location - last_miss_ : last_miss_ - location) <= window_bytes;
        if (window_size_ > peek_bytes) {  // judge the big window now left
            window_backoff_ = window_hits_ >= useful_window_hits ? 0 : std::min<std::size_t>(window_backoff_ * 2 + 1, 64);
            small_reads_before_window_ = window_backoff_;
        }
        std::size_t span = peek_bytes;
        std::uint64_t start = location;
        if (near && small_reads_before_window_ == 0) {
            span = window_bytes;
            if (location < last_miss_) start = location + peek_bytes > window_bytes ? location + peek_bytes - window_bytes : 0;
        } else if (near) {
            --small_reads_before_window_;
        }
        last_miss_ = location;
        window_hits_ = 0;
        window_.resize(std::max(window_.size(), span));
        std::size_t got = 0;
        bool read = read_spilled(window_.data(), span, start, got);
        window_start_ = start;
        window_size_ = read ? got : 0;
        if (!read || location + header_bytes > start + window_size_) {
            io_error_ = read ? std::make_error_code(std::errc::io_error) : std::error_code(errno, std::generic_category());
            window_size_ = 0;
            return nullptr;
        }
    }
    return window_.data() + (location - window_start_);
}

bool block_store::get(const cid::cid& id, std::span<const std::uint8_t>& bytes, std::vector<std::uint8_t>& scratch,
                      std::error_code& ec) const {
    found f;
    io_error_.clear();
    if (!find(key_of(id), f)) {
        if (io_error_) {
            ec = io_error_;
            return true;
        }
        return false;
    }
    if (!f.spilled) {
        bytes = {f.bytes, f.length};
        return true;
    }
    scratch.resize(f.length);
    // find() left the block's header, and as much of it as was read, in the window.
    const std::uint8_t* start = window_.data() + (f.location - window_start_) + header_bytes;
    std::size_t have = std::min<std::size_t>(f.length, window_start_ + window_size_ - (f.location + header_bytes));
    if (have) std::memcpy(scratch.data(), start, have);
    if (have < f.length) {
        std::size_t got = 0;
        bool read = read_spilled(scratch.data() + have, f.length - have, f.location + header_bytes + have, got);
        if (!read || got != f.length - have) {
            ec = read ? std::make_error_code(std::errc::io_error) : std::error_code(errno, std::generic_category());
            return true;
        }
    }
    bytes = {scratch.data(), static_cast<std::size_t>(f.length)};
    return true;
}

}  // namespace bsky::repo
