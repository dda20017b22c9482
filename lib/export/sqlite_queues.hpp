#pragma once
// The embedded sink: one SQLite queue per record type,
// {output_dir}/queue/output_backfill_sync_{type}.db, table
// queue(id, payload, metadata, created_at, status). A DID's rows are first
// written to a `staging` table in the same file and moved into `queue` in
// one transaction when the DID commits, so `queue` only ever holds rows of
// DIDs that completed.
//
// @par Thread Safety
// Not thread-safe: the exporter thread owns it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "export/sink.hpp"
#include "state/sqlite.hpp"

namespace bsky::exporter {

class sqlite_queues final : public sink {
public:
    explicit sqlite_queues(std::filesystem::path output_dir);

    /// Writes one queue row (a JSON array of records) to the type's staging table.
    void stage(const std::string& type, const std::string& did, const std::string& payload, std::size_t records,
               std::size_t batch_size, const std::string& rev) override;
    /// Moves the DID's staged rows into `queue` for each of `types`.
    void commit(const std::string& did, const std::set<std::string>& types) override;
    /// Moves the staged rows of every DID of the group, one transaction (one fsync) per queue file.
    void commit_group(const std::vector<commit_item>& group) override;
    /// Deletes the DID's staged rows from every queue file.
    void discard(const std::string& did) override;
    /// Moves whatever is still staged for the DID, in every queue file, into `queue`.
    void roll_forward(const std::string& did) override;
    /// After a crash: rolls the `committing` DIDs forward and discards every other staged row.
    void recover(const std::vector<std::string>& committing) override;
    bool wants_lines() const noexcept override { return false; }

    std::filesystem::path file_for(const std::string& type) const;

private:
    state::database& open(const std::string& type);
    std::vector<std::string> existing_types() const;

    std::filesystem::path dir_;
    std::map<std::string, std::unique_ptr<state::database>> dbs_;
};

}  // namespace bsky::exporter
