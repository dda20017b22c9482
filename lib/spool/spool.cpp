#include "spool/spool.hpp"

#include "backfill/intake.hpp"
#include "backfill/runner.hpp"
#include "export/exporter.hpp"
#include "fault/fault.hpp"
#include "spool/decisions.hpp"
#include "spool/files.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <optional>

namespace bsky::spool {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using state::spool_file_row;
using state::spool_state;
using state::state_store;

namespace {

constexpr std::size_t read_block = 1 << 20;
constexpr std::size_t max_line_bytes = 1 << 20;

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// Structural UTF-8 check (no overlong lead bytes, nothing past U+10FFFF).
bool is_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t extra = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 4;
        if (extra == 4 || (extra > 0 && i + extra >= s.size())) return false;
        for (std::size_t k = 1; k <= extra; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += extra + 1;
    }
    return true;
}

std::string json_string(std::string_view s) { return boost::json::serialize(boost::json::string(s)); }

}  // namespace

struct spool_intake::impl {
    impl(spool_intake& o, asio::any_io_executor ex, exporter::exporter& e, spool_params p, log::logger& l)
        : owner(o), executor(std::move(ex)), exporter(e), params(std::move(p)), logger(l) {}

    spool_intake& owner;
    asio::any_io_executor executor;
    exporter::exporter& exporter;
    spool_params params;
    log::logger& logger;
    std::optional<asio::posix::stream_descriptor> inotify;
    bool stopping = false, checking = false, check_again = false;
    // Recorded files whose move failed (or that a test hook stopped): not read
    // again by this intake, they wait for recovery at the next start.
    std::vector<state::file_identity> left_alone;

    fs::path in_spool(const std::string& name) const { return params.dir / name; }
    fs::path accepted(const std::string& stored) const { return params.dir / "accepted" / stored; }
    fs::path finished(const std::string& stored) const { return params.dir / "finished" / (stored + ".result.json"); }
    bool step_done(step s, const fs::path& file) const { return !owner.after_step || owner.after_step(s, file); }

    // Runs f(state_store&) on the exporter thread and returns its result.
    template <class F>
    asio::awaitable<std::invoke_result_t<F&, state_store&>> on_store(F& f) {
        std::optional<std::invoke_result_t<F&, state_store&>> out;
        std::function<void(state_store&)> work = [&](state_store& store) { out.emplace(f(store)); };
        co_await exporter.visit(work);
        co_return std::move(*out);
    }

    void open_watch();
    asio::awaitable<void> recover();
    asio::awaitable<void> scan();
    asio::awaitable<void> watch();
    asio::awaitable<void> process(std::string name);
    asio::awaitable<std::optional<std::string>> record(spool_file_row& row, int fd);
    asio::awaitable<void> accept(const spool_file_row& row, bool move);
    asio::awaitable<void> write_report(const spool_file_row& row);
    asio::awaitable<void> check_finished();
    void reject(const std::string& name, const std::optional<state::file_identity>& identity, std::string_view reason);
    void tidy_rejected();
};

void spool_intake::impl::open_watch() {
    for (const char* sub : {"accepted", "finished", "rejected"}) fs::create_directories(params.dir / sub);
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "spool: inotify_init1");
    inotify.emplace(executor, fd);
    // Only complete files: closed after writing, or renamed into the directory.
    if (::inotify_add_watch(fd, params.dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0)
        throw std::system_error(errno, std::generic_category(),
                                "spool: cannot watch " + params.dir.string() + " (check that it exists and is readable)");
}

asio::awaitable<void> spool_intake::impl::recover() {
    tidy_rejected();
    auto rows_in = [&](spool_state s) -> asio::awaitable<std::vector<spool_file_row>> {
        auto query = [&](state_store& store) { return store.spool_files(s); };
        co_return co_await on_store(query);
    };
    for (const auto& row : co_await rows_in(spool_state::recording)) {
        auto roll_back = [&](state_store& store) { return store.roll_back_spool_file(row.id), 0; };
        co_await on_store(roll_back);
        logger.info("spool: {}: reading was interrupted; its partial batch {} was dropped and the file is read again", row.name,
                    row.batch);
    }
    for (const auto& row : co_await rows_in(spool_state::recorded)) {
        on_disk disk{fs::exists(accepted(row.stored_name)), files::identity_at(in_spool(row.name))};
        bool move = next_recovery_step(row, disk) == recovery_step::move;
        logger.info("spool: {}: recorded as batch {} before a restart; finishing its acceptance", row.name, row.batch);
        co_await accept(row, move);
    }
}

asio::awaitable<void> spool_intake::impl::scan() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(params.dir))
        if (classify_entry(entry.path().filename().string()) == entry_kind::did_list) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
        if (stopping) break;
        co_await process(std::move(name));
    }
}

namespace {

struct inotify_batch {
    std::vector<std::string> names;
    bool overflow = false, gone = false;
};

// A plain function: the event header is copied out of the buffer (a coroutine
// frame keeps no alignment for it, and cannot hold the flexible-array struct).
inotify_batch read_events(std::span<const char> bytes) {
    inotify_batch out;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= bytes.size();) {
        inotify_event event;
        std::memcpy(&event, bytes.data() + at, sizeof event);
        const char* name = bytes.data() + at + sizeof(inotify_event);
        if (event.mask & IN_Q_OVERFLOW) out.overflow = true;
        if (event.mask & IN_IGNORED) out.gone = true;
        if (event.len > 0 && at + sizeof(inotify_event) + event.len <= bytes.size())
            out.names.emplace_back(name, ::strnlen(name, event.len));
        at += sizeof(inotify_event) + event.len;
    }
    return out;
}

}  // namespace

asio::awaitable<void> spool_intake::impl::watch() {
    std::array<char, 64 * 1024> buffer;
    while (!stopping) {
        auto [ec, n] = co_await inotify->async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted || stopping) break;
        if (ec) throw std::system_error(ec, "spool: reading inotify events for " + params.dir.string());
        auto events = read_events({buffer.data(), n});
        if (events.gone) throw std::runtime_error("spool: " + params.dir.string() + " was removed or unmounted; recreate it and restart");
        if (events.overflow) {
            // Events were lost: the directory itself says what is waiting.
            logger.warn("spool: the inotify queue overflowed; rescanning {}", params.dir.string());
            co_await scan();
        } else {
            for (auto& name : events.names) {
                if (stopping) break;
                co_await process(std::move(name));
            }
        }
        co_await check_finished();
    }
}

asio::awaitable<void> spool_intake::impl::process(std::string name) {
    if (classify_entry(name) != entry_kind::did_list) co_return;
    auto path = in_spool(name);
    fd_guard file{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
    if (file.fd < 0) {
        int err = errno;
        if (err == ENOENT) co_return;  // already taken (a second event for the same file) or withdrawn
        if (err == ELOOP || err == EACCES || err == ENXIO) reject(name, files::identity_at(path), std::strerror(err));
        else logger.error("spool: {}: cannot open: {}; it is read again at the next start", path.string(), std::strerror(err));
        co_return;
    }
    struct stat st {};
    ::fstat(file.fd, &st);
    auto identity = files::identity_of(st);
    if (!S_ISREG(st.st_mode)) {
        reject(name, identity, "not a regular file");
        co_return;
    }
    if (std::find(left_alone.begin(), left_alone.end(), identity) != left_alone.end()) co_return;
    auto begin = [&](state_store& store) {
        auto stored = stored_name(name, [&](std::string_view candidate) {
            auto c = std::string(candidate);
            return store.spool_name_taken(c) || fs::exists(accepted(c)) || fs::exists(finished(c));
        });
        return store.begin_spool_file(name, stored, identity);
    };
    BSKY_FAULT_POINT("spool.begin");
    auto row = co_await on_store(begin);
    if (auto failure = co_await record(row, file.fd)) {
        auto roll_back = [&](state_store& store) { return store.roll_back_spool_file(row.id), 0; };
        co_await on_store(roll_back);
        reject(name, identity, *failure);
        co_return;
    }
    if (owner.on_recorded) owner.on_recorded();
    if (!step_done(step::recorded, path)) {
        left_alone.push_back(identity);
        co_return;
    }
    co_await accept(row, true);
}

// Streams the file into its batch; returns why it cannot be read as a DID list.
asio::awaitable<std::optional<std::string>> spool_intake::impl::record(spool_file_row& row, int fd) {
    backfill::did_line_reader reader(row.name);
    std::vector<std::string> chunk;
    std::int64_t& duplicates = row.duplicates;
    std::size_t line_number = 0;
    auto flush = [&](bool last) -> asio::awaitable<void> {
        std::vector<state::rejected_input> rejected;
        for (auto& r : reader.take_rejected())
            rejected.push_back({r.source, static_cast<std::int64_t>(r.line), std::move(r.text), std::move(r.reason)});
        if (!rejected.empty()) co_await exporter.add_rejected(row.batch, std::move(rejected));
        if (chunk.size() >= params.chunk_dids || (last && !chunk.empty())) {
            // Moved from a named vector: GCC 12 destroys a temporary argument of a coroutine twice.
            duplicates += static_cast<std::int64_t>(co_await exporter.add_to_batch(row.batch, std::move(chunk)));
            chunk.clear();
        }
    };
    auto feed = [&](std::string_view line) -> std::optional<std::string> {
        ++line_number;
        if (!is_utf8(line)) return "line " + std::to_string(line_number) + " is not UTF-8 text";
        if (auto did = reader.feed(line)) chunk.push_back(std::move(*did));
        return std::nullopt;
    };
    std::string carry;
    std::vector<char> buffer(read_block);
    for (std::uint64_t offset = 0;;) {
        auto n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) co_return "read error at byte offset " + std::to_string(offset) + ": " + std::strerror(errno);
        if (n == 0) break;
        std::string_view data(buffer.data(), static_cast<std::size_t>(n));
        if (auto nul = data.find('\0'); nul != std::string_view::npos)
            co_return "byte offset " + std::to_string(offset + nul) + " is a NUL byte: binary content, not a DID list";
        for (std::size_t start = 0;;) {
            auto newline = data.find('\n', start);
            if (newline == std::string_view::npos) {
                carry.append(data.substr(start));
                break;
            }
            carry.append(data.substr(start, newline - start));
            if (auto failure = feed(carry)) co_return failure;
            carry.clear();
            start = newline + 1;
        }
        if (carry.size() > max_line_bytes)
            co_return "line " + std::to_string(line_number + 1) + " is longer than 1 MiB: not a DID list";
        offset += static_cast<std::uint64_t>(n);
        co_await flush(false);
    }
    if (!carry.empty())
        if (auto failure = feed(carry)) co_return failure;
    co_await flush(true);
    BSKY_FAULT_POINT("spool.complete");
    auto complete = [&](state_store& store) { return store.complete_spool_file(row.id, duplicates), 0; };
    co_await on_store(complete);
    co_return std::nullopt;
}

// recorded -> (moved) -> report written -> accepted
asio::awaitable<void> spool_intake::impl::accept(const spool_file_row& row, bool move) {
    auto from = in_spool(row.name), to = accepted(row.stored_name);
    if (move) {
        BSKY_FAULT_POINT("spool.move");
        if (files::identity_at(from) != row.identity) {
            logger.warn("spool: {} was replaced before it could be moved to accepted/; its DIDs are recorded (batch {}), "
                        "and the new file is read as a batch of its own", from.string(), row.batch);
        } else if (auto ec = files::move_durably(from, to)) {
            left_alone.push_back(row.identity);
            logger.error("spool: {}: recorded as batch {} but cannot be moved to {}: {}; fix the permissions and restart", from.string(),
                         row.batch, to.string(), ec.message());
            co_return;
        }
        if (!step_done(step::moved, to)) co_return;
    }
    BSKY_FAULT_POINT("spool.report");
    co_await write_report(row);
    if (!step_done(step::reported, to)) co_return;
    BSKY_FAULT_POINT("spool.mark-accepted");
    auto mark = [&](state_store& store) { return store.set_spool_state(row.id, spool_state::accepted), 0; };
    co_await on_store(mark);
    logger.info("spool: {}: accepted as batch {}; report in {}.report.json", row.name, row.batch, to.string());
}

asio::awaitable<void> spool_intake::impl::write_report(const spool_file_row& row) {
    auto path = params.dir / "accepted" / (row.stored_name + ".report.json");
    files::atomic_file report(path);
    auto write = [&](state_store& store) {
        auto* out = report.stream();
        fmt::print(out, "{{\"file\":{},\"stored_as\":{},\"batch\":{},\"dids\":{},\"duplicates\":{},\"rejected_lines\":{},\"rejected\":[",
                   json_string(row.name), json_string(row.stored_name), row.batch, store.batch_count(row.batch), row.duplicates,
                   store.rejected_count(row.batch));
        bool first = true;
        store.for_each_rejected(row.batch, [&](const state::rejected_input& r) {
            fmt::print(out, "{}{{\"line\":{},\"text\":{},\"reason\":{}}}", first ? "" : ",", r.line, json_string(r.text),
                       json_string(r.reason));
            first = false;
        });
        std::fputs("]}\n", out);
        return 0;
    };
    co_await on_store(write);
    report.commit();
}

asio::awaitable<void> spool_intake::impl::check_finished() {
    // One pass at a time: a call during a pass asks for another pass.
    if (checking) {
        check_again = true;
        co_return;
    }
    checking = true;
    struct done_checking {
        bool& flag;
        ~done_checking() { flag = false; }
    } reset{checking};
    do {
        check_again = false;
        auto query = [&](state_store& store) { return store.spool_files(spool_state::accepted); };
        for (const auto& row : co_await on_store(query)) {
            std::int64_t dids = -1;
            auto count_if_finished = [&](state_store& store) { return store.batch_finished(row.batch) ? store.batch_count(row.batch) : -1; };
            dids = co_await on_store(count_if_finished);
            if (dids < 0) continue;
            auto per_batch = static_cast<std::int64_t>(std::max<std::size_t>(1, params.batch_size));
            auto path = finished(row.stored_name);
            BSKY_FAULT_POINT("spool.result");
            files::atomic_file result(path);
            co_await backfill::write_stored_summary(exporter, row.batch, static_cast<std::size_t>((dids + per_batch - 1) / per_batch),
                                                    result.stream());
            result.commit();
            if (!step_done(step::result_written, path)) continue;
            BSKY_FAULT_POINT("spool.mark-finished");
            auto mark = [&](state_store& store) { return store.set_spool_state(row.id, spool_state::finished), 0; };
            co_await on_store(mark);
            logger.info("spool: {}: all {} DIDs ended; result in {}", row.name, dids, path.string());
        }
    } while (check_again);
}

void spool_intake::impl::reject(const std::string& name, const std::optional<state::file_identity>& identity, std::string_view reason) {
    auto from = in_spool(name);
    if (!identity || files::identity_at(from) != identity) return;  // replaced meanwhile: the newer file has its own event
    auto rejected = params.dir / "rejected";
    // Only a file in rejected/ takes its name: an .error alone is what a crash
    // between the two steps leaves, and its file is this one, read again.
    auto target = stored_name(name, [&](std::string_view candidate) { return fs::exists(rejected / candidate); });
    auto error = rejected / (target + ".error");
    // The reason first, durably: a crash before the move leaves the file in
    // spool_dir (read again at the next start), never a rejected file without why.
    BSKY_FAULT_POINT("spool.reject-error");
    try {
        files::write_text_atomically(error, fmt::format("{}: cannot be read as a DID list: {}\n"
                                                        "Fix it and drop it into the spool directory again.\n",
                                                        name, reason));
    } catch (const std::system_error& e) {
        logger.error("spool: {} cannot be read ({}) and its reason cannot be written: {}; it stays in the spool directory "
                     "and is read again at the next start", from.string(), reason, e.what());
        left_alone.push_back(*identity);
        return;
    }
    if (!step_done(step::error_written, error)) {
        left_alone.push_back(*identity);
        return;
    }
    BSKY_FAULT_POINT("spool.reject");
    if (auto ec = files::move_durably(from, rejected / target)) {
        std::error_code ignored;
        fs::remove(error, ignored);
        left_alone.push_back(*identity);
        logger.error("spool: {} cannot be read ({}) nor moved to rejected/: {}; fix the permissions of {} and restart", from.string(),
                     reason, ec.message(), rejected.string());
        return;
    }
    logger.warn("spool: {}: cannot be read as a DID list ({}); moved to {}", name, reason, (rejected / target).string());
}

// What a crash during a rejection leaves in rejected/: an .error whose file was
// not moved yet (the file is still in spool_dir and is rejected again, under the
// same name), or, from builds that moved first, a file without its .error.
void spool_intake::impl::tidy_rejected() {
    auto rejected = params.dir / "rejected";
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(rejected)) entries.push_back(entry.path());
    for (const auto& path : entries) {
        auto name = path.filename().string();
        if (name.ends_with(".tmp")) continue;  // a temporary .error of atomic_file, replaced when the file is rejected again
        if (name.ends_with(".error")) {
            auto file = rejected / name.substr(0, name.size() - 6);
            if (fs::exists(file) || fs::is_symlink(file)) continue;
            std::error_code ignored;
            fs::remove(path, ignored);
            logger.info("spool: {}: a rejection was interrupted before its file moved; the file is read again", path.string());
        } else if (!fs::exists(rejected / (name + ".error"))) {
            files::write_text_atomically(rejected / (name + ".error"),
                                         fmt::format("{}: rejected before a restart; the reason was lost. Look for \"spool: {}\" "
                                                     "in the daemon's log, fix the file and drop it into the spool directory again.\n",
                                                     name, name));
        }
    }
}

spool_intake::spool_intake(asio::any_io_executor executor, exporter::exporter& exporter, spool_params params, log::logger& logger)
    : impl_(std::make_unique<impl>(*this, std::move(executor), exporter, std::move(params), logger)) {}

spool_intake::~spool_intake() = default;

asio::awaitable<void> spool_intake::run() {
    auto& s = *impl_;
    s.stopping = false;
    // The watch starts before the scan, so no file slips between the two.
    s.open_watch();
    co_await s.recover();
    co_await s.scan();
    co_await s.check_finished();
    s.logger.debug("spool: watching {}", s.params.dir.string());
    co_await s.watch();
}

asio::awaitable<void> spool_intake::check_finished() { co_await impl_->check_finished(); }

asio::awaitable<std::vector<std::int64_t>> spool_intake::open_batches() {
    auto query = [&](state_store& store) {
        std::vector<std::int64_t> out;
        for (auto s : {spool_state::recorded, spool_state::accepted})
            for (const auto& row : store.spool_files(s)) out.push_back(row.batch);
        std::sort(out.begin(), out.end());
        return out;
    };
    co_return co_await impl_->on_store(query);
}

void spool_intake::set_batch_size(std::size_t batch_size) noexcept { impl_->params.batch_size = batch_size; }

void spool_intake::stop() {
    impl_->stopping = true;
    if (impl_->inotify) impl_->inotify->cancel();
}

}  // namespace bsky::spool
