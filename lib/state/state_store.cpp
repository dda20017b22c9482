#include "state/state_store.hpp"

#include "fault/fault.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <chrono>

namespace bsky::state {

namespace {
constexpr std::array<std::string_view, 9> names{"pending", "running", "committing", "done", "failed",
                                                 "not_found", "takendown", "deactivated", "suspended"};
std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

std::string_view to_string(did_status s) noexcept { return names[static_cast<std::size_t>(s)]; }

std::optional<did_status> parse_status(std::string_view s) noexcept {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == s) return static_cast<did_status>(i);
    return std::nullopt;
}

bool is_final(did_status s) noexcept { return s >= did_status::done; }
bool is_success(did_status s) noexcept { return is_final(s) && s != did_status::failed; }

int state_store::lock(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto path = dir / "lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw sqlite_error(path.string() + ": cannot open the lock file: " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        throw sqlite_error(dir.string() + " is in use by another bsky-backfill process (it holds " + path.string() +
                           "); wait for it to finish or stop it");
    }
    return fd;
}

state_store::~state_store() { ::close(lock_fd_); }

state_store::state_store(const std::filesystem::path& dir) : lock_fd_(lock(dir)), db_(dir / "state.db") {
    // A list of millions of DIDs makes B-trees of hundreds of MB; the default
    // 2 MB cache held not even their inner pages, so every insert read some.
    // 32 MiB is the most this ever takes (SQLite allocates pages as it uses them).
    db_.exec("PRAGMA cache_size=-32768");
    db_.exec(R"(CREATE TABLE IF NOT EXISTS batches(
        id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, dids INTEGER NOT NULL, created_at INTEGER NOT NULL))");
    db_.exec(R"(CREATE TABLE IF NOT EXISTS dids(
        did TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        pds TEXT, rev TEXT, counts TEXT, records INTEGER DEFAULT 0, skipped INTEGER DEFAULT 0, invalid INTEGER DEFAULT 0,
        bytes INTEGER DEFAULT 0, duration_ms INTEGER DEFAULT 0, batch INTEGER, created_at INTEGER, updated_at INTEGER))");
    db_.exec("CREATE INDEX IF NOT EXISTS dids_by_status ON dids(status)");
    db_.exec(R"(CREATE TABLE IF NOT EXISTS batch_dids(
        batch INTEGER NOT NULL, seq INTEGER NOT NULL, did TEXT NOT NULL, PRIMARY KEY(batch, did)))");
    db_.exec("CREATE INDEX IF NOT EXISTS batch_dids_by_seq ON batch_dids(batch, seq)");
    db_.exec("CREATE TABLE IF NOT EXISTS rejected(batch INTEGER NOT NULL, source TEXT, line INTEGER, text TEXT, reason TEXT)");
    create_spool_schema();
}

std::int64_t state_store::add_batch(std::string_view source, const std::vector<std::string>& dids) {
    auto batch = begin_batch(source);
    add_to_batch(batch, dids);
    return batch;
}

std::int64_t state_store::begin_batch(std::string_view source) {
    db_.prepare("INSERT INTO batches(source, dids, created_at) VALUES(?, 0, ?)").bind(1, source).bind(2, now_ms()).run();
    return db_.last_insert_rowid();
}

std::size_t state_store::add_to_batch(std::int64_t batch, const std::vector<std::string>& dids) {
    // Accepted DIDs must survive a power cut: the input may be gone after this.
    database::full_sync durable(db_);
    database::transaction tx(db_);
    auto& last = db_.cached("SELECT COALESCE(MAX(seq), 0) FROM batch_dids WHERE batch = ?");
    last.bind(1, batch);
    last.step();
    auto base = last.column_int(0);
    last.reset();
    // Inserted in DID order: the DID-keyed B-trees (dids, batch_dids) then take
    // a chunk as one pass over their leaves instead of a random page per DID,
    // which was the whole cost of a large list. A DID keeps its input position
    // as its seq (gaps where duplicates were), so the input order stays the
    // work order; a stable sort keeps the first of a DID's repeats.
    std::vector<std::uint32_t> order(dids.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return dids[a] < dids[b]; });
    auto now = now_ms();
    auto& insert_did = db_.cached("INSERT OR IGNORE INTO dids(did, status, batch, created_at, updated_at) VALUES(?, 'pending', ?, ?, ?)");
    auto& insert_member = db_.cached("INSERT OR IGNORE INTO batch_dids(batch, seq, did) VALUES(?, ?, ?)");
    std::size_t duplicates = 0;
    for (auto i : order) {
        const auto& did = dids[i];
        insert_did.bind(1, did).bind(2, batch).bind(3, now).bind(4, now).run();
        insert_member.bind(1, batch).bind(2, base + 1 + static_cast<std::int64_t>(i)).bind(3, did).run();
        if (db_.changes() == 0) ++duplicates;
    }
    // Counted by what this chunk added: a COUNT(*) over the batch would make a
    // list of N DIDs cost N^2 / chunk row visits to accept.
    db_.cached("UPDATE batches SET dids = dids + ? WHERE id = ?")
        .bind(1, static_cast<std::int64_t>(dids.size() - duplicates)).bind(2, batch).run();
    BSKY_FAULT_POINT("state.accept-dids");
    tx.commit();
    return duplicates;
}

void state_store::add_rejected(std::int64_t batch, const std::vector<rejected_input>& lines) {
    database::transaction tx(db_);
    auto& insert = db_.cached("INSERT INTO rejected(batch, source, line, text, reason) VALUES(?, ?, ?, ?, ?)");
    for (const auto& r : lines) insert.bind(1, batch).bind(2, r.source).bind(3, r.line).bind(4, r.text).bind(5, r.reason).run();
    tx.commit();
}

std::vector<std::pair<std::int64_t, std::string>> state_store::unfinished(std::int64_t batch, std::int64_t after_seq, std::size_t limit) {
    auto& st = db_.cached(
        "SELECT b.seq, b.did FROM batch_dids b JOIN dids d ON d.did = b.did WHERE b.batch = ? AND b.seq > ? "
        "AND d.status IN ('pending', 'running', 'committing') ORDER BY b.seq LIMIT ?");
    st.bind(1, batch).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
    std::vector<std::pair<std::int64_t, std::string>> out;
    while (st.step()) out.emplace_back(st.column_int(0), st.column_text(1));
    st.reset();
    return out;
}

std::vector<queued_did> state_store::unfinished_after(std::int64_t after_batch, std::int64_t after_seq, std::size_t limit) {
    auto& st = db_.cached(
        "SELECT b.batch, b.seq, b.did FROM batch_dids b JOIN dids d ON d.did = b.did WHERE (b.batch > ?1 OR (b.batch = ?1 AND b.seq > ?2)) "
        "AND d.status IN ('pending', 'running', 'committing') "
        // A spool file's batch is worked only once the whole file is recorded.
        "AND b.batch NOT IN (SELECT batch FROM spool_files WHERE state = 'recording') ORDER BY b.batch, b.seq LIMIT ?3");
    st.bind(1, after_batch).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
    std::vector<queued_did> out;
    while (st.step()) out.push_back({st.column_int(0), st.column_int(1), st.column_text(2)});
    st.reset();
    return out;
}

std::int64_t state_store::batch_count(std::int64_t batch) {
    auto& st = db_.cached("SELECT COUNT(*) FROM batch_dids WHERE batch = ?");
    st.bind(1, batch);
    st.step();
    auto n = st.column_int(0);
    st.reset();
    return n;
}

did_row state_store::read_row(statement& st, std::string did, int c) {
    did_row row;
    row.did = std::move(did);
    row.status = parse_status(st.column_text(c)).value_or(did_status::pending);
    row.attempts = st.column_int(c + 1);
    row.last_error = st.column_text(c + 2);
    row.result = {st.column_text(c + 3), st.column_text(c + 4), st.column_text(c + 5), st.column_int(c + 6), st.column_int(c + 7),
                  st.column_int(c + 8), st.column_int(c + 9), st.column_int(c + 10)};
    row.batch = st.column_int(c + 11);
    return row;
}

std::vector<std::string> state_store::recover() {
    database::transaction tx(db_);
    db_.prepare("UPDATE dids SET status = 'pending', updated_at = ? WHERE status = 'running'").bind(1, now_ms()).run();
    BSKY_FAULT_POINT("state.recover");
    tx.commit();
    return with_status(did_status::committing);
}

void state_store::mark_running(const std::string& did) {
    BSKY_FAULT_POINT("state.running");
    db_.cached("UPDATE dids SET status = 'running', attempts = attempts + 1, updated_at = ? WHERE did = ?")
        .bind(1, now_ms()).bind(2, did).run();
}

void state_store::mark_done(const std::string& did, const did_result& r) { mark_final(did, did_status::done, "", r); }

void state_store::mark_final(const std::string& did, did_status status, std::string_view error, const did_result& r) {
    // `committing` and the final states order the two-phase commit against the
    // queue files: they must reach the disk before anything that follows.
    // (`running`/`pending` may be lost in a power cut: recovery redoes the DID.)
    database::full_sync durable(db_);
    write_final(did, status, error, r);
}

void state_store::mark_group(did_status status, const std::vector<final_mark>& dids) {
    // `committing` must be on disk before any queue row of these DIDs moves. A
    // group's `done` needs no fsync of its own: its rows are durable already,
    // and if a power cut takes the mark (never later ones: a WAL keeps the
    // order of its commits) the DID is still `committing`, which recovery
    // finishes with nothing left to move. The next group's fsync carries it.
    std::optional<database::full_sync> durable;
    if (status != did_status::done) durable.emplace(db_);
    database::transaction tx(db_);
    for (const auto& d : dids) write_final(d.did, status, "", d.result);
    tx.commit();
}

void state_store::write_final(const std::string& did, did_status status, std::string_view error, const did_result& r) {
    BSKY_FAULT_POINT(status == did_status::committing ? "state.committing" : "state.final");
    auto& st = db_.cached(
        "UPDATE dids SET status = ?, last_error = ?, pds = ?, rev = ?, counts = ?, records = ?, skipped = ?, invalid = ?, "
        "bytes = ?, duration_ms = ?, updated_at = ? WHERE did = ?");
    st.bind(1, to_string(status));
    if (error.empty()) st.bind_null(2);
    else st.bind(2, error);
    st.bind(3, r.pds).bind(4, r.rev).bind(5, r.counts_json.empty() ? "{}" : r.counts_json).bind(6, r.records).bind(7, r.skipped)
        .bind(8, r.invalid).bind(9, r.bytes).bind(10, r.duration_ms).bind(11, now_ms()).bind(12, did).run();
}

void state_store::mark_retryable(const std::string& did, std::string_view error) {
    database::full_sync durable(db_);
    BSKY_FAULT_POINT("state.retryable");
    db_.cached("UPDATE dids SET status = 'pending', last_error = ?, updated_at = ? WHERE did = ?")
        .bind(1, error).bind(2, now_ms()).bind(3, did).run();
}

void state_store::note_error(const std::string& did, std::string_view error) {
    db_.cached("UPDATE dids SET last_error = ?, updated_at = ? WHERE did = ?").bind(1, error).bind(2, now_ms()).bind(3, did).run();
}

std::optional<did_row> state_store::get(const std::string& did) {
    auto& st = db_.cached(
        "SELECT status, attempts, last_error, pds, rev, counts, records, skipped, invalid, bytes, duration_ms, batch "
        "FROM dids WHERE did = ?");
    st.bind(1, did);
    if (!st.step()) {
        st.reset();
        return std::nullopt;
    }
    auto row = read_row(st, did, 0);
    st.reset();
    return row;
}

std::vector<std::string> state_store::with_status(did_status status, std::size_t limit) {
    auto st = db_.prepare("SELECT did FROM dids WHERE status = ? ORDER BY rowid LIMIT ?");
    st.bind(1, to_string(status)).bind(2, static_cast<std::int64_t>(limit));
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.column_text(0));
    return out;
}

std::map<did_status, std::int64_t> state_store::status_counts() {
    auto st = db_.prepare("SELECT status, COUNT(*) FROM dids GROUP BY status");
    std::map<did_status, std::int64_t> out;
    while (st.step())
        if (auto s = parse_status(st.column_text(0))) out[*s] = st.column_int(1);
    return out;
}

std::vector<std::string> state_store::requeue_failed() {
    database::full_sync durable(db_);
    database::transaction tx(db_);
    auto failed = with_status(did_status::failed);
    db_.prepare("UPDATE dids SET status = 'pending', attempts = 0, updated_at = ? WHERE status = 'failed'").bind(1, now_ms()).run();
    tx.commit();
    return failed;
}

// --- spool files (lib/spool) ---

namespace {
constexpr std::array<std::string_view, 4> spool_state_names{"recording", "recorded", "accepted", "finished"};

// The state-changing spool steps order file moves and writes against the
// store: each must be on disk before the step that follows it.
struct synchronous_full {
    database& db;
    explicit synchronous_full(database& d) : db(d) { db.exec("PRAGMA synchronous=FULL"); }
    ~synchronous_full() {
        try {
            db.exec("PRAGMA synchronous=NORMAL");
        } catch (...) {
        }
    }
};
}  // namespace

std::string_view to_string(spool_state s) noexcept { return spool_state_names[static_cast<std::size_t>(s)]; }

void state_store::create_spool_schema() {
    db_.exec(R"(CREATE TABLE IF NOT EXISTS spool_files(
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, stored_name TEXT NOT NULL UNIQUE, batch INTEGER NOT NULL,
        dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        state TEXT NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0, created_at INTEGER, updated_at INTEGER))");
    db_.exec("CREATE INDEX IF NOT EXISTS spool_files_by_state ON spool_files(state)");
}

spool_file_row state_store::begin_spool_file(std::string_view name, std::string_view stored_name, const file_identity& identity) {
    synchronous_full full(db_);
    database::transaction tx(db_);
    spool_file_row row{0, std::string(name), std::string(stored_name), begin_batch(name), identity, spool_state::recording, 0};
    auto now = now_ms();
    db_.prepare("INSERT INTO spool_files(name, stored_name, batch, dev, ino, size, mtime_ns, state, created_at, updated_at) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, 'recording', ?, ?)")
        .bind(1, name).bind(2, stored_name).bind(3, row.batch).bind(4, static_cast<std::int64_t>(identity.dev))
        .bind(5, static_cast<std::int64_t>(identity.ino)).bind(6, identity.size).bind(7, identity.mtime_ns).bind(8, now).bind(9, now)
        .run();
    row.id = db_.last_insert_rowid();
    tx.commit();
    return row;
}

bool state_store::spool_name_taken(std::string_view stored_name) {
    auto st = db_.prepare("SELECT 1 FROM spool_files WHERE stored_name = ?");
    st.bind(1, stored_name);
    return st.step();
}

void state_store::complete_spool_file(std::int64_t id, std::int64_t duplicates) {
    synchronous_full full(db_);
    db_.prepare("UPDATE spool_files SET state = 'recorded', duplicates = ?, updated_at = ? WHERE id = ? AND state = 'recording'")
        .bind(1, duplicates).bind(2, now_ms()).bind(3, id).run();
}

void state_store::set_spool_state(std::int64_t id, spool_state state) {
    synchronous_full full(db_);
    db_.prepare("UPDATE spool_files SET state = ?, updated_at = ? WHERE id = ?").bind(1, to_string(state)).bind(2, now_ms()).bind(3, id).run();
}

void state_store::roll_back_spool_file(std::int64_t id) {
    auto find = db_.prepare("SELECT batch FROM spool_files WHERE id = ? AND state = 'recording'");
    find.bind(1, id);
    if (!find.step()) return;
    auto batch = find.column_int(0);
    synchronous_full full(db_);
    database::transaction tx(db_);
    db_.prepare("DELETE FROM dids WHERE batch = ?1 AND status = 'pending' AND attempts = 0 AND did NOT IN "
                "(SELECT did FROM batch_dids WHERE batch <> ?1)")
        .bind(1, batch).run();
    db_.prepare("DELETE FROM batch_dids WHERE batch = ?").bind(1, batch).run();
    db_.prepare("DELETE FROM rejected WHERE batch = ?").bind(1, batch).run();
    db_.prepare("DELETE FROM batches WHERE id = ?").bind(1, batch).run();
    db_.prepare("DELETE FROM spool_files WHERE id = ?").bind(1, id).run();
    tx.commit();
}

std::vector<spool_file_row> state_store::spool_files(spool_state state) {
    auto st = db_.prepare("SELECT id, name, stored_name, batch, dev, ino, size, mtime_ns, duplicates FROM spool_files "
                          "WHERE state = ? ORDER BY id");
    st.bind(1, to_string(state));
    std::vector<spool_file_row> out;
    while (st.step()) {
        file_identity identity{static_cast<std::uint64_t>(st.column_int(4)), static_cast<std::uint64_t>(st.column_int(5)),
                               st.column_int(6), st.column_int(7)};
        out.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_int(3), identity, state, st.column_int(8)});
    }
    return out;
}

bool state_store::batch_finished(std::int64_t batch) { return unfinished(batch, 0, 1).empty(); }

std::int64_t state_store::rejected_count(std::int64_t batch) {
    auto st = db_.prepare("SELECT COUNT(*) FROM rejected WHERE batch = ?");
    st.bind(1, batch);
    st.step();
    return st.column_int(0);
}

}  // namespace bsky::state
