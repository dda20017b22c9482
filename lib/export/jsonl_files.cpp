#include "export/jsonl_files.hpp"

#include "state/sqlite.hpp"
#include "syntax/syntax.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace bsky::exporter {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
    throw state::sqlite_error(path.string() + ": " + what + ": " + std::strerror(errno));
}

void fsync_path(const fs::path& path, bool directory = false) {
    int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) fail(path, "cannot open to sync");
    if (::fsync(fd) != 0) {
        ::close(fd);
        fail(path, "fsync failed");
    }
    ::close(fd);
}

void append_file(const fs::path& from, const fs::path& to) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary | std::ios::app);
    if (!in || !out) fail(to, "cannot append " + from.string());
    out << in.rdbuf();
    out.close();
    if (!out) fail(to, "writing failed");
    fsync_path(to);
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
    fs::create_directories(type_dir);
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
    fs::create_directories(d);
    std::ofstream out(d / (type + ".jsonl"), std::ios::binary | std::ios::app);
    out << lines;
    if (!out) fail(d / (type + ".jsonl"), "cannot write staged records");
}

void jsonl_files::commit(const std::string& did, const std::set<std::string>& types) {
    auto d = staging_dir(did);
    // An empty repo (or one with nothing of the wanted types) staged nothing.
    if (!fs::exists(d)) return;
    // 1. The journal: where each part file ends before this DID's lines.
    std::ostringstream journal;
    for (const auto& type : types) {
        if (!fs::exists(d / (checked_type(type) + ".jsonl"))) continue;
        auto part = current_part(type);
        std::uint64_t length = fs::exists(part) ? fs::file_size(part) : 0;
        // The part's file name only: the output directory may contain spaces.
        journal << type << ' ' << part.filename().string() << ' ' << length << '\n';
    }
    {
        std::ofstream out(d / "journal.tmp", std::ios::binary);
        out << journal.str();
        if (!out) fail(d / "journal.tmp", "cannot write the commit journal");
    }
    fsync_path(d / "journal.tmp");
    fs::rename(d / "journal.tmp", d / "journal");
    fsync_path(d, true);
    apply(did);
}

// 2. Append each staged file at the journaled length (truncating a partial
// earlier append), fsync, 3. remove the staging directory.
void jsonl_files::apply(const std::string& did) {
    auto d = staging_dir(did);
    std::ifstream in(d / "journal");
    std::string type, name;
    std::uint64_t length = 0;
    while (in >> type >> name >> length) {
        // (A journal from before part names were relative holds an absolute path, which `/` keeps.)
        auto part = dir_ / checked_type(type) / name;
        if (fs::exists(part) && fs::file_size(part) > length) fs::resize_file(part, length);
        append_file(d / (type + ".jsonl"), part);
    }
    fs::remove_all(d);
    fsync_path(dir_ / ".staging", true);
}

void jsonl_files::discard(const std::string& did) {
    std::error_code ec;
    fs::remove_all(staging_dir(did), ec);
}

void jsonl_files::recover(const std::vector<std::string>& committing) {
    for (const auto& did : committing) {
        auto d = staging_dir(did);
        if (fs::exists(d / "journal")) {
            apply(did);
        } else if (fs::exists(d)) {
            // The crash came before the journal: commit from the start.
            std::set<std::string> types;
            for (const auto& e : fs::directory_iterator(d))
                if (e.path().extension() == ".jsonl" && syntax::is_output_name(e.path().stem().string()))
                    types.insert(e.path().stem().string());
            commit(did, types);
        }
        // No staging directory: the commit had finished.
    }
    std::error_code ec;
    fs::remove_all(dir_ / ".staging", ec);
}

}  // namespace bsky::exporter
