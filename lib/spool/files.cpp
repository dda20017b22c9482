#include "spool/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace bsky::spool::files {

namespace fs = std::filesystem;

namespace {
std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code fsync_directory(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}
}  // namespace

state::file_identity identity_of(const struct stat& st) noexcept {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::optional<state::file_identity> identity_at(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
    return identity_of(st);
}

std::error_code move_durably(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) return last_error();
    if (auto ec = fsync_directory(to.parent_path())) return ec;
    return fsync_directory(from.parent_path());
}

atomic_file::atomic_file(fs::path path) : path_(std::move(path)), tmp_(path_.string() + ".tmp") {
    out_ = std::fopen(tmp_.c_str(), "wb");
    if (!out_) throw std::system_error(last_error(), tmp_.string() + ": cannot create");
}

atomic_file::~atomic_file() {
    if (!out_) return;
    std::fclose(out_);
    ::unlink(tmp_.c_str());
}

void atomic_file::commit() {
    auto fail = [&](const char* what) { throw std::system_error(last_error(), tmp_.string() + ": " + what); };
    if (std::fflush(out_) != 0 || std::ferror(out_)) fail("cannot write");
    if (::fsync(::fileno(out_)) != 0) fail("cannot fsync");
    auto closed = std::fclose(out_);
    out_ = nullptr;
    if (closed != 0) fail("cannot close");
    if (auto ec = move_durably(tmp_, path_)) throw std::system_error(ec, tmp_.string() + ": cannot rename to " + path_.string());
}

void write_text_atomically(const fs::path& path, std::string_view text) {
    atomic_file file(path);
    std::fwrite(text.data(), 1, text.size(), file.stream());
    file.commit();
}

}  // namespace bsky::spool::files
