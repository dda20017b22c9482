#pragma once
// What the exporter writes to: SQLite queues or JSONL files. Every sink
// stages a DID's records out of sight and makes them visible in commit(),
// all at once; recover() rolls forward DIDs that were mid-commit at a crash
// and throws away every other staged record. Every failure to write (a full
// disk, an I/O error, a read-only directory) throws an exception whose
// what() names the file and the system's reason; a failed commit() leaves the
// DID to roll_forward(), which may be called again until it succeeds.
//
// @par Thread Safety
// Not thread-safe: the exporter thread owns the sink.
#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace bsky::exporter {

class sink {
public:
    virtual ~sink() = default;
    /// `records` is a JSON array (sqlite) or newline-terminated JSON lines (jsonl).
    virtual void stage(const std::string& type, const std::string& did, const std::string& records, std::size_t count,
                       std::size_t batch_size, const std::string& rev) = 0;
    virtual void commit(const std::string& did, const std::set<std::string>& types) = 0;
    /// One DID's part of a group commit.
    struct commit_item {
        std::string did;
        std::set<std::string> types;
    };
    /// Several DIDs' commit() at once, each still all or nothing. A sink may share
    /// one transaction and one fsync per file between them (the exporter groups
    /// the commits that arrive while it is busy). After a throw every DID of the
    /// group is left to roll_forward(), in the group's order.
    virtual void commit_group(const std::vector<commit_item>& group) {
        for (const auto& item : group) commit(item.did, item.types);
    }
    virtual void discard(const std::string& did) = 0;
    /// Finishes a commit() that was interrupted (by a crash or a write error), from
    /// what is still staged; nothing of another DID may have been committed since.
    virtual void roll_forward(const std::string& did) = 0;
    virtual void recover(const std::vector<std::string>& committing) = 0;
    /// Whether stage() takes JSON lines rather than a JSON array.
    virtual bool wants_lines() const noexcept = 0;
    /// Whether a failed commit can be finished from what is staged (the embedded
    /// sinks). A sink that cannot (NATS: what was published is out of its hands)
    /// gets its DID back as pending after a failed commit or a crash mid-commit,
    /// and the redo must be harmless (NATS drops messages it already stored).
    virtual bool rolls_forward() const noexcept { return true; }
};

}  // namespace bsky::exporter
