#pragma once
// Repo reader: CAR bytes in (any chunk sizes, any block order), a verified
// commit and every record in MST key order out. No I/O besides the spill file.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "cbor/value.hpp"
#include "cid/cid.hpp"
#include "crypto/did_key.hpp"

namespace bsky::repo {

enum class error {
    no_single_root = 1,
    commit_missing,
    bad_commit,
    did_mismatch,
    signature_failed,
    bad_record,
    incomplete_tree,
    storage_failed,
};
const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

enum class signature_state { unverified, verified, failed };
std::string_view to_string(signature_state s) noexcept;

struct commit_info {
    cid::cid id;
    std::string did;
    std::string rev;      ///< empty for v2 commits
    std::int64_t version = 0;
    cid::cid data;        ///< MST root
    std::optional<cid::cid> prev;
    signature_state signature = signature_state::unverified;
};

struct record_view {
    std::string_view path;        ///< "collection/rkey"
    std::string_view collection;
    std::string_view rkey;
    const cid::cid& id;
    cbor::value_ref value;        ///< valid only during the callback
    std::span<const std::uint8_t> bytes;
};

/// Receives the reader's output. Returning an error stops the read.
class record_sink {
public:
    virtual ~record_sink() = default;
    virtual std::error_code on_commit(const commit_info&) { return {}; }
    virtual std::error_code on_record(const record_view& record) = 0;
    /// Asked before each record: true holds the walk (the reader keeps storing
    /// blocks) until repo_reader::resume(), so a consumer that writes records
    /// out asynchronously bounds what waits in memory.
    virtual bool should_pause() const noexcept { return false; }
};

struct reader_options {
    std::string expected_did;                 ///< empty: accept any DID
    std::optional<crypto::public_key> key;    ///< verify the commit signature with this key
    std::uint64_t spill_threshold_bytes = 64ull << 20;
    std::filesystem::path spill_dir;          ///< empty: the system temp directory
    std::uint64_t max_block_bytes = 2ull << 20;
    std::uint64_t max_car_bytes = 0;          ///< 0: no limit
    std::uint64_t expected_bytes = 0;         ///< size hint (file size, Content-Length) to size indexes; 0: unknown
    std::uint32_t max_cbor_depth = 64;
    bool allow_partial = false;               ///< skip missing subtrees/records instead of failing
};

struct reader_stats {
    std::uint64_t bytes = 0;
    std::uint64_t blocks = 0;
    std::uint64_t duplicate_blocks = 0;
    std::uint64_t records = 0;
    std::uint64_t mst_nodes = 0;
    std::uint64_t missing = 0;            ///< skipped in allow_partial mode
    std::uint64_t spilled_bytes = 0;
    std::uint64_t peak_memory_bytes = 0;  ///< block store memory, excluding the index
};

/// @par Thread Safety
/// Distinct objects: safe. Shared objects: unsafe.
class repo_reader {
public:
    repo_reader(record_sink& sink, reader_options options);
    ~repo_reader();
    repo_reader(const repo_reader&) = delete;
    repo_reader& operator=(const repo_reader&) = delete;

    /// Feeds the next bytes of the CAR stream; the error sticks.
    std::error_code put(std::span<const std::uint8_t> bytes);
    /// End of stream: completes the walk or reports what is missing. When the
    /// sink pauses the walk, returns without error and paused() is true:
    /// resume() goes on from there, to the same end.
    std::error_code finish();
    /// Whether the sink held the walk (records remain to be emitted).
    bool paused() const noexcept;
    /// Continues a held walk as far as the blocks allow (and, after finish(),
    /// to the end); it may pause again.
    std::error_code resume();

    /// "offset N: <what failed and why>" for the sticky error.
    const std::string& error_message() const noexcept;
    const std::optional<commit_info>& commit() const noexcept;
    reader_stats stats() const noexcept;
    /// Lines describing skipped blocks in allow_partial mode.
    const std::vector<std::string>& missing() const noexcept;

private:
    std::error_code walk_to_end();
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bsky::repo

template <>
struct std::is_error_code_enum<bsky::repo::error> : std::true_type {};
