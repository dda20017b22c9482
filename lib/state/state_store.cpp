#include "state/state_store.hpp"

#include "fault/fault.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

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
    auto seq = last.column_int(0);
    last.reset();
    auto now = now_ms();
    auto& insert_did = db_.cached("INSERT OR IGNORE INTO dids(did, status, batch, created_at, updated_at) VALUES(?, 'pending', ?, ?, ?)");
    auto& insert_member = db_.cached("INSERT OR IGNORE INTO batch_dids(batch, seq, did) VALUES(?, ?, ?)");
    std::size_t duplicates = 0;
    for (const auto& did : dids) {
        insert_did.bind(1, did).bind(2, batch).bind(3, now).bind(4, now).run();
        insert_member.bind(1, batch).bind(2, seq + 1).bind(3, did).run();
        if (db_.changes() == 0) ++duplicates;
        else ++seq;
    }
    db_.cached("UPDATE batches SET dids = (SELECT COUNT(*) FROM batch_dids WHERE batch = ?) WHERE id = ?").bind(1, batch).bind(2, batch).run();
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

}  // namespace bsky::state
