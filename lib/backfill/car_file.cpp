#include "backfill/car_file.hpp"

#include "backfill/transform.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace bsky::backfill {

record_lines::record_lines(time_range range, bool pipeline, emit_fn emit, std::function<bool()> pause)
    : range_(range), pipeline_(pipeline), emit_(std::move(emit)), pause_(std::move(pause)) {}

std::error_code record_lines::on_commit(const repo::commit_info& c) {
    did_ = c.did;
    rev_ = c.rev;
    return {};
}

std::error_code record_lines::on_record(const repo::record_view& r) {
    auto type = record_type(r.collection, r.value).type;
    auto sync = compute_synctimestamp(r.value["createdAt"], range_);
    uri_.assign("at://").append(did_).append("/").append(r.path);
    cid_.clear();
    r.id.append_to(cid_);
    record_meta meta{uri_, cid_, did_, r.collection, r.rkey, type,
                     sync.value ? std::optional<std::string_view>(sync.value->view()) : std::nullopt, rev_};
    line_.clear();
    if (pipeline_) write_pipeline_record(r.value, meta, line_);
    else write_raw_record(r.value, meta, line_);
    return emit_(line_);
}

car_file_reader::car_file_reader(std::string path, repo::record_sink& sink, repo::reader_options options) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_) {
        opened_ = true;
        std::error_code size_ec;
        options.expected_bytes = std::filesystem::file_size(path_, size_ec);
    } else {
        error_ = path_ + ": cannot open: " + std::strerror(errno);
        done_ = true;
    }
    reader_ = std::make_unique<repo::repo_reader>(sink, std::move(options));
}

car_file_reader::~car_file_reader() { close(); }

void car_file_reader::close() noexcept {
    if (file_) std::fclose(file_);
    file_ = nullptr;
    if (!finished_) done_ = true;
}

void car_file_reader::fail(const std::string& why) {
    error_ = path_ + ": " + why;
    done_ = true;
    close();
}

bool car_file_reader::step() {
    if (done_) return false;
    std::error_code ec;
    if (reader_->paused()) {
        ec = reader_->resume();
    } else if (finished_) {
        done_ = true;
        return false;
    } else {
        std::uint8_t chunk[1 << 16];
        auto n = std::fread(chunk, 1, sizeof chunk, file_);
        if (n > 0) {
            ec = reader_->put({chunk, n});
        } else {
            bool read_error = std::ferror(file_);
            finished_ = true;
            close();
            if (read_error) {
                fail("read error");
                return false;
            }
            ec = reader_->finish();
        }
    }
    if (ec) {
        fail(reader_->error_message());
        return false;
    }
    return true;
}

bool car_file_reader::run() {
    while (step()) {
    }
    return opened_ && error_.empty();
}

}  // namespace bsky::backfill
