#pragma once
// The durable state of every DID (SQLite, WAL): status, attempts, errors,
// PDS, rev, counts, bytes, timings; and the batches DIDs arrived in.
//
// @par Thread Safety
// Not thread-safe: the exporter thread owns it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/sqlite.hpp"

namespace bsky::state {

enum class did_status { pending, running, committing, done, failed, not_found, takendown, deactivated, suspended };
std::string_view to_string(did_status s) noexcept;
std::optional<did_status> parse_status(std::string_view s) noexcept;
/// done, failed, and the account states: nothing more will happen to the DID.
bool is_final(did_status s) noexcept;
/// A final state that is not a failure (done, or an account state).
bool is_success(did_status s) noexcept;

struct did_result {
    std::string pds;
    std::string rev;
    std::string counts_json;  ///< {"post":3,...}
    std::int64_t records = 0, skipped = 0, invalid = 0, bytes = 0, duration_ms = 0;
};

struct rejected_input {
    std::string source;
    std::int64_t line = 0;
    std::string text;
    std::string reason;
};

/// A DID at its input position.
struct queued_did {
    std::int64_t batch = 0;
    std::int64_t seq = 0;
    std::string did;
};

/// What tells two files of the same name apart (a re-drop from a file whose move was interrupted).
struct file_identity {
    std::uint64_t dev = 0, ino = 0;
    std::int64_t size = 0, mtime_ns = 0;
    bool operator==(const file_identity&) const = default;
};

/// A spool file's progress: recording (its batch is being filled, not yet
/// workable) -> recorded (batch complete) -> accepted (moved, report written)
/// -> finished (every DID final, result written).
enum class spool_state { recording, recorded, accepted, finished };
std::string_view to_string(spool_state s) noexcept;

struct spool_file_row {
    std::int64_t id = 0;
    std::string name;         ///< as dropped into spool_dir
    std::string stored_name;  ///< its name in accepted/ and finished/ (unique)
    std::int64_t batch = 0;
    file_identity identity;
    spool_state state = spool_state::recording;
    std::int64_t duplicates = 0;
};

struct did_row {
    std::string did;
    did_status status = did_status::pending;
    std::int64_t attempts = 0;
    std::string last_error;
    did_result result;
    std::int64_t batch = 0;
};

class state_store {
public:
    /// Opens {dir}/state.db, creating the schema. Takes {dir}/lock for the
    /// life of the object: a second process on the same state is refused
    /// (sqlite_error) rather than allowed to redo the same DIDs.
    explicit state_store(const std::filesystem::path& dir);
    ~state_store();

    /// Records DIDs durably as one batch (already known DIDs keep their state); returns the batch id.
    std::int64_t add_batch(std::string_view source, const std::vector<std::string>& dids);
    /// A batch filled in chunks (lists too large to hold in memory).
    std::int64_t begin_batch(std::string_view source);
    /// Adds DIDs to the batch in input order; returns how many were already in it.
    std::size_t add_to_batch(std::int64_t batch, const std::vector<std::string>& dids);
    void add_rejected(std::int64_t batch, const std::vector<rejected_input>& lines);
    /// The next DIDs of the batch after input position `after_seq` that are not final, in input order.
    std::vector<std::pair<std::int64_t, std::string>> unfinished(std::int64_t batch, std::int64_t after_seq, std::size_t limit);
    /// The next unfinished DIDs of every batch after position (after_batch, after_seq), by batch then input order.
    std::vector<queued_did> unfinished_after(std::int64_t after_batch, std::int64_t after_seq, std::size_t limit);
    std::int64_t batch_count(std::int64_t batch);
    /// Every DID of the batch in input order; every rejected line.
    template <class F> void for_each_in_batch(std::int64_t batch, F&& f);
    template <class F> void for_each_rejected(std::int64_t batch, F&& f);
    /// After a crash: DIDs left `running` go back to `pending`; returns the DIDs left
    /// `committing` (their queue rows must be rolled forward, then they are done).
    std::vector<std::string> recover();

    void mark_running(const std::string& did);
    void mark_done(const std::string& did, const did_result& result);
    void mark_final(const std::string& did, did_status status, std::string_view error, const did_result& result = {});
    /// One DID of a group commit.
    struct final_mark {
        std::string did;
        did_result result;
    };
    /// mark_final(did, status, "", result) for several DIDs in one transaction.
    /// `committing` is on disk when this returns (one fsync for the group); `done`
    /// is not synced (see the .cpp: a DID whose `done` is lost is rolled forward).
    void mark_group(did_status status, const std::vector<final_mark>& dids);
    /// Back to `pending` with the reason (a write error, not the DID's fault): the next run redoes it.
    void mark_retryable(const std::string& did, std::string_view error);
    /// Keeps the reason without changing the status (a DID left `committing`).
    void note_error(const std::string& did, std::string_view error);

    std::optional<did_row> get(const std::string& did);
    std::vector<std::string> with_status(did_status status, std::size_t limit = 1u << 30);
    std::map<did_status, std::int64_t> status_counts();
    /// `run --retry-failed`: every failed DID back to pending with a fresh
    /// attempt count (its last error is kept until it ends again); returns them.
    std::vector<std::string> requeue_failed();
    /// The connection, for read-only reports (lib/report) run on the owner's thread.
    database& db() noexcept { return db_; }

    // --- spool files (lib/spool) ---
    /// A new batch and its spool row (state recording), in one transaction.
    spool_file_row begin_spool_file(std::string_view name, std::string_view stored_name, const file_identity& identity);
    /// Whether a spool row already uses `stored_name`.
    bool spool_name_taken(std::string_view stored_name);
    /// The last chunk is in: the batch becomes workable (recording -> recorded), durably.
    void complete_spool_file(std::int64_t id, std::int64_t duplicates);
    void set_spool_state(std::int64_t id, spool_state state);
    /// Deletes a spool row still `recording` with its half-filled batch (its
    /// DIDs that no other batch holds and that never started), so the file
    /// can be read again from the start.
    void roll_back_spool_file(std::int64_t id);
    std::vector<spool_file_row> spool_files(spool_state state);
    /// Whether every DID of the batch is in a final state.
    bool batch_finished(std::int64_t batch);
    std::int64_t rejected_count(std::int64_t batch);

private:
    void create_spool_schema();
    void write_final(const std::string& did, did_status status, std::string_view error, const did_result& result);
    did_row read_row(statement& st, std::string did, int first_column);
    static int lock(const std::filesystem::path& dir);
    int lock_fd_;
    database db_;
};

template <class F>
void state_store::for_each_in_batch(std::int64_t batch, F&& f) {
    auto st = db_.prepare(
        "SELECT d.did, d.status, d.attempts, d.last_error, d.pds, d.rev, d.counts, d.records, d.skipped, d.invalid, d.bytes, "
        "d.duration_ms, d.batch FROM batch_dids b JOIN dids d ON d.did = b.did WHERE b.batch = ? ORDER BY b.seq");
    st.bind(1, batch);
    while (st.step()) f(read_row(st, st.column_text(0), 1));
}

template <class F>
void state_store::for_each_rejected(std::int64_t batch, F&& f) {
    auto st = db_.prepare("SELECT source, line, text, reason FROM rejected WHERE batch = ? ORDER BY rowid");
    st.bind(1, batch);
    while (st.step()) f(rejected_input{st.column_text(0), st.column_int(1), st.column_text(2), st.column_text(3)});
}

}  // namespace bsky::state
