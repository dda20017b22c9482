#pragma once
// A CAR file read offline, verified, its records as JSON lines: what
// `bsky-backfill inspect` prints and the Python module's read_car yields.
// One reading loop and one formatter for both, so they cannot drift apart.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "backfill/classify.hpp"
#include "repo/repo_reader.hpp"

namespace bsky::backfill {

/// Formats each record (SPEC §6, pipeline or raw) and hands the line, without
/// its newline, to `emit`; an error from `emit` stops the reader with it.
/// `pause` (optional) holds the walk while the consumer is behind.
class record_lines final : public repo::record_sink {
public:
    using emit_fn = std::function<std::error_code(std::string_view line)>;
    record_lines(time_range range, bool pipeline, emit_fn emit, std::function<bool()> pause = {});

    std::error_code on_commit(const repo::commit_info& c) override;
    std::error_code on_record(const repo::record_view& r) override;
    bool should_pause() const noexcept override { return pause_ && pause_(); }

private:
    time_range range_;
    bool pipeline_;
    emit_fn emit_;
    std::function<bool()> pause_;
    std::string did_, rev_, line_, uri_, cid_;  ///< reused: no allocation per record
};

/// Feeds a CAR file to a repo reader in 64 KiB chunks, its size as the
/// reader's hint. step() goes one move forward (resumes a held walk, or puts
/// the next chunk, or finishes at the end), so a consumer may pull.
class car_file_reader {
public:
    car_file_reader(std::string path, repo::record_sink& sink, repo::reader_options options);
    ~car_file_reader();
    car_file_reader(const car_file_reader&) = delete;
    car_file_reader& operator=(const car_file_reader&) = delete;

    /// False when the file could not be opened (error() says why); nothing else is read then.
    bool opened() const noexcept { return opened_; }
    /// One move forward; false once the file is read through or failed.
    bool step();
    /// Steps to the end. True when the file was read and verified through.
    bool run();
    /// "PATH: what failed" (cannot open, read error, or the reader's offset and reason); "" when none.
    const std::string& error() const noexcept { return error_; }
    const repo::repo_reader& reader() const noexcept { return *reader_; }
    /// Closes the file early (the consumer stopped); step() then returns false.
    void close() noexcept;

private:
    void fail(const std::string& why);

    std::string path_;
    std::FILE* file_ = nullptr;
    std::unique_ptr<repo::repo_reader> reader_;
    std::string error_;
    bool opened_ = false, finished_ = false, done_ = false;
};

}  // namespace bsky::backfill
