#include "export/jsonl_files.hpp"

#include "fault/fault.hpp"
#include "syntax/syntax.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

namespace bsky::exporter {

namespace fs = std::filesystem;

namespace {

// Takes errno first thing, before building the message: anything called in
// between (close, an allocation) may change it.
[[noreturn]] void fail_errno(const fs::path& path, std::string_view what) {
    int error = errno;
    throw std::system_error(error, std::generic_category(), path.string() + ": " + std::string(what));
}

// An open file descriptor, closed on every path out.
class file {
public:
    file(const fs::path& path, int flags) : path_(path), fd_(::open(path.c_str(), flags | O_CLOEXEC, 0644)) {
        if (fd_ < 0) fail_errno(path, "cannot open");
    }
    ~file() {
        if (fd_ >= 0) ::close(fd_);
    }
    file(const file&) = delete;
    file& operator=(const file&) = delete;

    void write_all(std::string_view data, const char* what) {
        while (!data.empty()) {
            auto n = ::write(fd_, data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail_errno(path_, what);
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    std::size_t read_some(char* buf, std::size_t size) {
        for (;;) {
            auto n = ::read(fd_, buf, size);
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) fail_errno(path_, "cannot read");
        }
    }
    void sync() {
        if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed");
    }
    /// close() reports write-back errors some file systems only find then.
    void close() {
        int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0) fail_errno(path_, "closing failed");
    }

private:
    fs::path path_;
    int fd_;
};

void fsync_directory(const fs::path& dir) {
    file d(dir, O_RDONLY | O_DIRECTORY);
    d.sync();
    d.close();
}

void fsync_file(const fs::path& path) {
    file f(path, O_RDONLY);
    f.sync();
    f.close();
}

void append_file(const fs::path& from, const fs::path& to) {
    file in(from, O_RDONLY);
    file out(to, O_WRONLY | O_CREAT | O_APPEND);
    std::vector<char> buf(1 << 16);
    while (auto n = in.read_some(buf.data(), buf.size())) out.write_all({buf.data(), n}, ("appending " + from.string()).c_str());
    BSKY_FAULT_POINT("jsonl.commit.fsync-part");
    out.sync();
    out.close();
}

std::string read_file(const fs::path& path) {
    file in(path, O_RDONLY);
    std::string text;
    char buf[4096];
    while (auto n = in.read_some(buf, sizeof buf)) text.append(buf, n);
    return text;
}

// std::filesystem calls throw filesystem_error with the path and the system's reason already.
void make_directories(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::system_error(ec, dir.string() + ": cannot create the directory");
}

// The last line of defence: a type becomes a directory and a journal word.
const std::string& checked_type(const std::string& type) {
    if (!syntax::is_output_name(type))
        throw std::invalid_argument("jsonl sink: record type '" + type.substr(0, 64) +
                                    "' is not a safe file name (1-63 ASCII letters and digits); nothing written");
    return type;
}

// DIDs may contain ':' and '%': name staging directories safely.
std::string safe_name(const std::string& did) {
    std::string out;
    for (char c : did) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
    return out;
}

}  // namespace

jsonl_files::jsonl_files(fs::path output_dir, std::uint64_t rotate_bytes) : dir_(std::move(output_dir)), rotate_bytes_(rotate_bytes) {}

fs::path jsonl_files::staging_dir(const std::string& did) const { return dir_ / ".staging" / safe_name(did); }

fs::path jsonl_files::current_part(const std::string& type) {
    auto type_dir = dir_ / checked_type(type);
    make_directories(type_dir);
    int last = -1;
    for (const auto& e : fs::directory_iterator(type_dir)) {
        auto name = e.path().filename().string();
        if (name.starts_with("part-") && name.ends_with(".jsonl")) last = std::max(last, std::atoi(name.c_str() + 5));
    }
    auto part = [&](int n) {
        char name[32];
        std::snprintf(name, sizeof name, "part-%06d.jsonl", n);
        return type_dir / name;
    };
    if (last < 0) return part(0);
    if (fs::file_size(part(last)) >= rotate_bytes_) return part(last + 1);
    return part(last);
}

void jsonl_files::stage(const std::string& type, const std::string& did, const std::string& lines, std::size_t, std::size_t,
                        const std::string&) {
    auto d = staging_dir(did);
    checked_type(type);
    make_directories(d);
    BSKY_FAULT_POINT("jsonl.stage");
    file out(d / (type + ".jsonl"), O_WRONLY | O_CREAT | O_APPEND);
    out.write_all(lines, "cannot write staged records");
    out.close();
}

void jsonl_files::commit(const std::string& did, const std::set<std::string>& types) {
    auto d = staging_dir(did);
    // An empty repo (or one with nothing of the wanted types) staged nothing.
    if (!fs::exists(d)) return;
    // 1. The journal: where each part file ends before this DID's lines. The
    // staged lines reach the disk first, or a power cut could leave a journal
    // pointing at staged files that lost their end.
    std::ostringstream journal;
    for (const auto& type : types) {
        auto staged = d / (checked_type(type) + ".jsonl");
        if (!fs::exists(staged)) continue;
        BSKY_FAULT_POINT("jsonl.commit.fsync-staged");
        fsync_file(staged);
        auto part = current_part(type);
        std::uint64_t length = fs::exists(part) ? fs::file_size(part) : 0;
        // The part's file name only: the output directory may contain spaces.
        journal << type << ' ' << part.filename().string() << ' ' << length << '\n';
    }
    {
        BSKY_FAULT_POINT("jsonl.commit.write-journal");
        file out(d / "journal.tmp", O_WRONLY | O_CREAT | O_TRUNC);
        out.write_all(journal.str(), "cannot write the commit journal");
        BSKY_FAULT_POINT("jsonl.commit.fsync-journal");
        out.sync();
        out.close();
    }
    BSKY_FAULT_POINT("jsonl.commit.rename-journal");
    fs::rename(d / "journal.tmp", d / "journal");
    BSKY_FAULT_POINT("jsonl.commit.fsync-staging-dir");
    fsync_directory(d);
    apply(did);
}

// 2. Append each staged file at the journaled length (truncating a partial
// earlier append), fsync, 3. retire the staging directory.
void jsonl_files::apply(const std::string& did) {
    auto d = staging_dir(did);
    std::istringstream in(read_file(d / "journal"));
    std::string type, name;
    std::uint64_t length = 0;
    while (in >> type >> name >> length) {
        // (A journal from before part names were relative holds an absolute path, which `/` keeps.)
        auto part = dir_ / checked_type(type) / name;
        if (fs::exists(part) && fs::file_size(part) > length) {
            BSKY_FAULT_POINT("jsonl.commit.truncate-part");
            fs::resize_file(part, length);
        }
        BSKY_FAULT_POINT("jsonl.commit.append-part");
        try {
            append_file(d / (type + ".jsonl"), part);
        } catch (const std::exception&) {
            // No half line stays visible: back to the journaled end (a truncation
            // frees space, so it works on a full disk); the roll-forward appends again.
            std::error_code ec;
            fs::resize_file(part, length, ec);
            throw;
        }
    }
    // 3. One atomic rename ends the commit: removing the directory file by file
    // could be cut short after the journal went and before the staged files, and
    // recovery would then append those again as if the commit had not begun.
    auto applied = d;
    applied += "+applied";  // safe_name() never makes a "+": no DID's staging directory has this name
    std::error_code ec;
    fs::remove_all(applied, ec);
    BSKY_FAULT_POINT("jsonl.commit.rename-staging");
    fs::rename(d, applied);
    BSKY_FAULT_POINT("jsonl.commit.fsync-staging-root");
    fsync_directory(dir_ / ".staging");
    BSKY_FAULT_POINT("jsonl.commit.remove-staging");
    fs::remove_all(applied, ec);  // what is left goes at the next start
}

void jsonl_files::discard(const std::string& did) {
    std::error_code ec;
    fs::remove_all(staging_dir(did), ec);
}

void jsonl_files::roll_forward(const std::string& did) {
    auto d = staging_dir(did);
    if (fs::exists(d / "journal")) {
        apply(did);
    } else if (fs::exists(d)) {
        // Interrupted before the journal: commit from the start.
        std::set<std::string> types;
        for (const auto& e : fs::directory_iterator(d))
            if (e.path().extension() == ".jsonl" && syntax::is_output_name(e.path().stem().string()))
                types.insert(e.path().stem().string());
        commit(did, types);
    }
    // No staging directory: the commit had finished.
}

void jsonl_files::recover(const std::vector<std::string>& committing) {
    // A group commit (sink::commit_group) leaves several DIDs `committing`, at
    // most one of them with a journal: that one first, since its roll-forward
    // truncates the parts back to its journal, which would cut off the lines of
    // a DID committed from the start before it.
    for (const auto& did : committing)
        if (fs::exists(staging_dir(did) / "journal")) roll_forward(did);
    for (const auto& did : committing) roll_forward(did);
    std::error_code ec;
    fs::remove_all(dir_ / ".staging", ec);
}

}  // namespace bsky::exporter
