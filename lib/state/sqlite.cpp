#include "state/sqlite.hpp"

#include <sqlite3.h>

#include <cstring>
#include <utility>

namespace bsky::state {

database::database(const std::filesystem::path& path) : path_(path) {
    if (path.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) throw sqlite_error(path.parent_path().string() + ": cannot create the directory: " + ec.message());
    }
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw sqlite_error(path.string() + ": cannot open: " + why);
    }
    sqlite3_busy_timeout(db_, 10'000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
}

database::database(const std::filesystem::path& path, read_only_t) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw sqlite_error(path.string() + ": cannot open read-only: " + why);
    }
    sqlite3_busy_timeout(db_, 10'000);
}

database::~database() {
    cache_.clear();  // statements first: they belong to the connection
    sqlite3_close_v2(db_);
}

statement& database::cached(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(std::string(sql), std::make_unique<statement>(*this, sql)).first;
    return *it->second;
}

namespace {
// The system's reason, only for the errors that come from a failed system
// call: for others, sqlite3_system_errno() may still hold an older one.
std::string system_reason(sqlite3* db) {
    int code = sqlite3_errcode(db) & 0xff;
    if (code != SQLITE_IOERR && code != SQLITE_FULL && code != SQLITE_CANTOPEN) return "";
    int e = sqlite3_system_errno(db);
    return e ? std::string(" (") + std::strerror(e) + ")" : "";
}
}  // namespace

std::string database::why() const { return sqlite3_errmsg(db_) + system_reason(db_); }

void database::fail(std::string_view what) const {
    throw sqlite_error(path_.string() + ": " + std::string(what) + ": " + why());
}

void database::exec(std::string_view sql) {
    std::string text(sql);
    char* message = nullptr;
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string reason = message ? message : "unknown error";
        sqlite3_free(message);
        reason += system_reason(db_);
        throw sqlite_error(path_.string() + ": " + text.substr(0, 80) + ": " + reason);
    }
}

statement database::prepare(std::string_view sql) { return statement(*this, sql); }
std::int64_t database::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
int database::changes() const noexcept { return sqlite3_changes(db_); }

database::full_sync::full_sync(database& db) : db_(db) { db_.exec("PRAGMA synchronous=FULL"); }
database::full_sync::~full_sync() { sqlite3_exec(db_.db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr); }

database::transaction::transaction(database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
database::transaction::~transaction() {
    if (!done_) sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}
void database::transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

statement::statement(database& db, std::string_view sql) : db_(&db), sql_(sql) {
    if (sqlite3_prepare_v2(db.db_, sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, nullptr) != SQLITE_OK)
        db.fail("preparing " + sql_.substr(0, 80));
}
statement::~statement() { sqlite3_finalize(stmt_); }
statement::statement(statement&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), sql_(std::move(o.sql_)) {}

statement& statement::bind(int index, std::string_view text) {
    if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        db_->fail("binding " + sql_.substr(0, 60));
    return *this;
}
statement& statement::bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_->fail("binding " + sql_.substr(0, 60));
    return *this;
}
statement& statement::bind_null(int index) {
    if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) db_->fail("binding " + sql_.substr(0, 60));
    return *this;
}
bool statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    std::string reason = db_->why();
    reset();  // a cached statement must be usable again after a failure
    throw sqlite_error(db_->path_.string() + ": running " + sql_.substr(0, 80) + ": " + reason);
}
void statement::run() {
    while (step()) {
    }
    reset();
}
void statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}
std::int64_t statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
std::string statement::column_text(int index) const {
    auto* text = sqlite3_column_text(stmt_, index);
    return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))) : std::string();
}
bool statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

}  // namespace bsky::state
