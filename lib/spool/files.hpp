#pragma once
// The file operations the spool protocol is built from, each durable when it
// returns: a crash afterwards cannot undo it.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <sys/stat.h>

#include "state/state_store.hpp"

namespace bsky::spool::files {

state::file_identity identity_of(const struct stat& st) noexcept;
/// The identity of `path` (not following a symlink), or nothing when it does not exist.
std::optional<state::file_identity> identity_at(const std::filesystem::path& path);

/// rename(2), then fsync of both directories.
std::error_code move_durably(const std::filesystem::path& from, const std::filesystem::path& to);

/// A file written beside its final name (`<name>.tmp`) and renamed over it on commit().
class atomic_file {
public:
    explicit atomic_file(std::filesystem::path path);
    ~atomic_file();  ///< removes the temporary when not committed
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    std::FILE* stream() const noexcept { return out_; }
    /// flush + fsync + rename + fsync of the directory; throws std::system_error naming the file.
    void commit();

private:
    std::filesystem::path path_, tmp_;
    std::FILE* out_ = nullptr;
};

void write_text_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace bsky::spool::files
