#include "repo/block_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace bsky::repo {

namespace {
constexpr std::uint64_t spilled_bit = 1ull << 63;
constexpr int length_shift = 39;
constexpr std::uint64_t offset_mask = (1ull << length_shift) - 1;
constexpr std::uint64_t length_mask = (1ull << 24) - 1;
constexpr std::size_t default_chunk = 1 << 20;

// Fresh pages cost a fault and a kernel memset each; a backfill reads one repo
// after another, so chunks are kept for the next store (up to a bound).
class chunk_pool {
public:
    std::unique_ptr<std::uint8_t[]> acquire() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[default_chunk]);
        auto chunk = std::move(free_.back());
        free_.pop_back();
        return chunk;
    }
    void release(std::unique_ptr<std::uint8_t[]> chunk) {
        std::lock_guard lock(mutex_);
        if (free_.size() < max_free) free_.push_back(std::move(chunk));
    }

private:
    static constexpr std::size_t max_free = 64;  // 64 MiB kept at most
    std::mutex mutex_;
    std::vector<std::unique_ptr<std::uint8_t[]>> free_;
};

chunk_pool& pool() {
    static chunk_pool instance;
    return instance;
}
}  // namespace

block_store::block_store(std::uint64_t memory_limit, std::filesystem::path spill_dir, std::uint64_t expected_blocks)
    : memory_limit_(memory_limit), spill_dir_(std::move(spill_dir)) {
    std::size_t slots = 1024;
    while (slots * 3 < expected_blocks * 4 && slots < (std::size_t{1} << 28)) slots *= 2;
    slots_.resize(slots);
}

void block_store::prefetch_slot(const cid::cid& id) const noexcept {
    std::uint64_t k0, k1;
    key_of(id, k0, k1);
    __builtin_prefetch(&slots_[static_cast<std::size_t>(k0) & (slots_.size() - 1)]);
}

void block_store::prefetch_bytes(const cid::cid& id) const noexcept {
    std::uint64_t k0, k1;
    key_of(id, k0, k1);
    const slot* s = find(k0, k1);
    if (!s || (s->location & spilled_bit)) return;
    std::uint64_t chunk = (s->location & offset_mask) >> 24;
    std::uint64_t offset = s->location & ((1u << 24) - 1);
    std::uint64_t length = (s->location >> length_shift) & length_mask;
    const std::uint8_t* p = chunks_[chunk].get() + offset;
    // Records are a few cache lines; the decoder reads all of them.
    for (std::uint64_t line = 0; line < std::min<std::uint64_t>(length, 512); line += 64) __builtin_prefetch(p + line);
}

block_store::~block_store() {
    if (spill_fd_ >= 0) ::close(spill_fd_);
    for (std::size_t i = 0; i < chunks_.size(); ++i)
        if (chunk_sizes_[i] == default_chunk) pool().release(std::move(chunks_[i]));
}

void block_store::key_of(const cid::cid& id, std::uint64_t& k0, std::uint64_t& k1) noexcept {
    auto d = id.digest();
    std::uint8_t buf[16]{};
    std::memcpy(buf, d.data(), std::min<std::size_t>(d.size(), 16));
    std::memcpy(&k0, buf, 8);
    std::memcpy(&k1, buf + 8, 8);
    // 0,0 marks an empty slot; a real digest with that prefix is astronomically unlikely, but stay correct.
    if (k0 == 0 && k1 == 0) k1 = 1;
}

const block_store::slot* block_store::find(std::uint64_t k0, std::uint64_t k1) const noexcept {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(k0) & mask;; i = (i + 1) & mask) {
        const slot& s = slots_[i];
        if (s.key0 == 0 && s.key1 == 0) return nullptr;
        if (s.key0 == k0 && s.key1 == k1) return &s;
    }
}

void block_store::grow() {
    std::vector<slot> old(slots_.size() * 2);
    old.swap(slots_);
    std::size_t mask = slots_.size() - 1;
    for (const slot& s : old) {
        if (s.key0 == 0 && s.key1 == 0) continue;
        std::size_t i = static_cast<std::size_t>(s.key0) & mask;
        while (slots_[i].key0 != 0 || slots_[i].key1 != 0) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

bool block_store::contains(const cid::cid& id) const noexcept {
    std::uint64_t k0, k1;
    key_of(id, k0, k1);
    return find(k0, k1) != nullptr;
}

bool block_store::put(const cid::cid& id, std::span<const std::uint8_t> bytes, std::error_code& ec) {
    std::uint64_t k0, k1;
    key_of(id, k0, k1);
    if (bytes.size() > length_mask) {
        ec = std::make_error_code(std::errc::value_too_large);
        return false;
    }
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    // One probe finds either the block or the free slot it goes into.
    std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(k0) & mask;
    for (; slots_[i].key0 != 0 || slots_[i].key1 != 0; i = (i + 1) & mask)
        if (slots_[i].key0 == k0 && slots_[i].key1 == k1) return false;

    std::uint64_t location;
    if (memory_bytes_ + bytes.size() <= memory_limit_) {
        if (chunks_.empty() || chunk_used_ + bytes.size() > chunk_size_) {
            chunk_size_ = std::max(default_chunk, bytes.size());
            chunks_.push_back(chunk_size_ == default_chunk ? pool().acquire() : std::unique_ptr<std::uint8_t[]>(new std::uint8_t[chunk_size_]));
            chunk_sizes_.push_back(chunk_size_);
            chunk_used_ = 0;
        }
        if (!bytes.empty()) std::memcpy(chunks_.back().get() + chunk_used_, bytes.data(), bytes.size());
        std::uint64_t chunk_index = chunks_.size() - 1;
        location = (chunk_index << 24) | chunk_used_;  // 24 bits of in-chunk offset are enough for 16 MiB chunks
        chunk_used_ += bytes.size();
        memory_bytes_ += bytes.size();
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
        std::uint64_t offset = spilled_bytes_;
        if (offset > offset_mask) {
            ec = std::make_error_code(std::errc::file_too_large);
            return false;
        }
        std::size_t done = 0;
        while (done < bytes.size()) {
            auto n = ::pwrite(spill_fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                ec = std::error_code(errno, std::generic_category());
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        spilled_bytes_ += bytes.size();
        location = spilled_bit | offset;
    }
    location |= static_cast<std::uint64_t>(bytes.size()) << length_shift;

    slots_[i] = {k0, k1, location};
    ++count_;
    return true;
}

bool block_store::get(const cid::cid& id, std::span<const std::uint8_t>& bytes, std::vector<std::uint8_t>& scratch,
                      std::error_code& ec) const {
    std::uint64_t k0, k1;
    key_of(id, k0, k1);
    const slot* s = find(k0, k1);
    if (!s) return false;
    std::uint64_t length = (s->location >> length_shift) & length_mask;
    if (s->location & spilled_bit) {
        std::uint64_t offset = s->location & offset_mask;
        scratch.resize(length);
        std::size_t done = 0;
        while (done < length) {
            auto n = ::pread(spill_fd_, scratch.data() + done, length - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                ec = n < 0 ? std::error_code(errno, std::generic_category()) : std::make_error_code(std::errc::io_error);
                return true;
            }
            done += static_cast<std::size_t>(n);
        }
        bytes = {scratch.data(), static_cast<std::size_t>(length)};
        return true;
    }
    std::uint64_t chunk = (s->location & offset_mask) >> 24;
    std::uint64_t offset = s->location & ((1u << 24) - 1);
    bytes = {chunks_[chunk].get() + offset, static_cast<std::size_t>(length)};
    return true;
}

}  // namespace bsky::repo
