#pragma once
// A thin RAII layer over SQLite: a connection, prepared statements, and
// errors that name the database file and the statement.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace bsky::state {

/// An SQLite failure: what() names the file and what was being done.
class sqlite_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class statement;

class database {
public:
    /// Opens (creating) the file in WAL mode with a busy timeout.
    explicit database(const std::filesystem::path& path);
    struct read_only_t {};
    /// Opens an existing file read-only (SQLITE_OPEN_READONLY): a report that
    /// runs beside the writer (a WAL reader never blocks it) and never changes
    /// the file. Throws sqlite_error naming the file when it is missing.
    database(const std::filesystem::path& path, read_only_t);
    ~database();
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    void exec(std::string_view sql);
    statement prepare(std::string_view sql);
    /// A prepared statement kept for reuse (hot paths: parsing SQL costs more than running it).
    statement& cached(std::string_view sql);
    std::int64_t last_insert_rowid() const noexcept;
    int changes() const noexcept;
    const std::filesystem::path& path() const noexcept { return path_; }
    sqlite3* handle() const noexcept { return db_; }

    /// PRAGMA synchronous=FULL for the life of the object, NORMAL again afterwards
    /// (also when what it guards throws).
    class full_sync {
    public:
        explicit full_sync(database& db);
        ~full_sync();
        full_sync(const full_sync&) = delete;
        full_sync& operator=(const full_sync&) = delete;

    private:
        database& db_;
    };

    /// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed uncommitted.
    class transaction {
    public:
        explicit transaction(database& db);
        ~transaction();
        void commit();

    private:
        database& db_;
        bool done_ = false;
    };

private:
    friend class statement;
    [[noreturn]] void fail(std::string_view what) const;
    /// SQLite's message, and the system's reason (errno) when an I/O call failed.
    std::string why() const;
    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
    std::map<std::string, std::unique_ptr<statement>, std::less<>> cache_;
};

class statement {
public:
    statement(database& db, std::string_view sql);
    ~statement();
    statement(statement&& o) noexcept;
    statement(const statement&) = delete;

    statement& bind(int index, std::string_view text);
    statement& bind(int index, std::int64_t value);
    statement& bind_null(int index);
    /// Steps once: true while a row is available.
    bool step();
    /// Steps to completion (for statements without rows).
    void run();
    void reset();

    std::int64_t column_int(int index) const;
    std::string column_text(int index) const;
    bool column_is_null(int index) const;

private:
    database* db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

}  // namespace bsky::state
