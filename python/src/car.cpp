// read_car: a CAR file's records, verified, one JSON line at a time, as
// `bsky-backfill inspect` prints them. The walk is held while lines wait for
// Python, so a file of any size is read in bounded memory.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>

#include <pybind11/stl.h>

#include "backfill/classify.hpp"
#include "backfill/transform.hpp"
#include "core.hpp"
#include "crypto/did_key.hpp"
#include "repo/repo_reader.hpp"
#include "syntax/syntax.hpp"

namespace bsky::python {

namespace {

constexpr std::size_t max_waiting_lines = 1024;

// The lines of inspect's record_printer (daemon/bsky_backfill.cpp), queued instead of printed.
class line_queue final : public repo::record_sink {
public:
    line_queue(backfill::time_range range, bool pipeline) : range_(range), pipeline_(pipeline) {}

    std::error_code on_commit(const repo::commit_info& c) override {
        did_ = c.did;
        rev_ = c.rev;
        return {};
    }

    std::error_code on_record(const repo::record_view& r) override {
        auto type = backfill::record_type(r.collection, r.value).type;
        auto sync = backfill::compute_synctimestamp(r.value["createdAt"], range_);
        std::string uri = "at://" + did_ + "/" + std::string(r.path), cid;
        r.id.append_to(cid);
        backfill::record_meta meta{uri, cid, did_, r.collection, r.rkey, type,
                                   sync.value ? std::optional<std::string_view>(sync.value->view()) : std::nullopt, rev_};
        std::string line;
        if (pipeline_) backfill::write_pipeline_record(r.value, meta, line);
        else backfill::write_raw_record(r.value, meta, line);
        lines.push_back(std::move(line));
        return {};
    }

    bool should_pause() const noexcept override { return lines.size() >= max_waiting_lines; }

    std::deque<std::string> lines;

private:
    backfill::time_range range_;
    bool pipeline_;
    std::string did_, rev_;
};

class car_records {
public:
    car_records(std::string path, std::optional<std::string> did, std::optional<std::string> key, std::string format)
        : path_(std::move(path)), lines_(time_range_of_defaults(), check_format(format)) {
        repo::reader_options options;
        if (did) {
            if (!syntax::is_did(*did)) throw py::value_error("did '" + *did + "' is not a DID");
            options.expected_did = *did;
        }
        if (key) {
            options.key = crypto::parse_did_key(*key);
            if (!options.key) throw py::value_error("key '" + *key + "' is not a did:key of a secp256k1 or P-256 key");
        }
        file_ = std::fopen(path_.c_str(), "rb");
        if (!file_) throw repo_verification_error(path_ + ": cannot open: " + std::strerror(errno));
        std::error_code size_ec;
        options.expected_bytes = std::filesystem::file_size(path_, size_ec);
        reader_ = std::make_unique<repo::repo_reader>(lines_, options);
    }
    ~car_records() { close(); }
    car_records(const car_records&) = delete;
    car_records& operator=(const car_records&) = delete;

    void close() {
        if (file_) std::fclose(file_);
        file_ = nullptr;
    }

    /// The next record's JSON line; nullopt at the end. Throws repo_verification_error.
    std::optional<std::string> next() {
        while (lines_.lines.empty()) {
            if (done_) return std::nullopt;
            step();
        }
        auto line = std::move(lines_.lines.front());
        lines_.lines.pop_front();
        return line;
    }

    /// inspect's summary line, as a dict's fields.
    py::dict summary() const {
        auto stats = reader_->stats();
        const auto& commit = reader_->commit();
        py::dict d;
        d["file"] = path_;
        d["did"] = commit ? commit->did : "";
        d["rev"] = commit ? commit->rev : "";
        d["blocks"] = stats.blocks;
        d["records"] = stats.records;
        d["mst_nodes"] = stats.mst_nodes;
        d["bytes"] = stats.bytes;
        d["signature"] = std::string(repo::to_string(commit ? commit->signature : repo::signature_state::unverified));
        return d;
    }

private:
    static backfill::time_range time_range_of_defaults() {
        auto cfg = config::defaults();
        return {cfg.time_range.start_time, cfg.time_range.end_time};
    }
    static bool check_format(const std::string& format) {
        if (format != "raw" && format != "pipeline") throw py::value_error("format must be raw or pipeline, not '" + format + "'");
        return format == "pipeline";
    }

    // One move forward: a held walk goes on, or the next chunk is read, or the end is reached.
    void step() {
        std::error_code ec;
        if (reader_->paused()) {
            ec = reader_->resume();
        } else if (!finished_) {
            std::uint8_t chunk[1 << 16];
            auto n = file_ ? std::fread(chunk, 1, sizeof chunk, file_) : 0;
            if (n > 0) {
                ec = reader_->put({chunk, n});
            } else {
                bool read_error = file_ && std::ferror(file_);
                close();
                if (read_error) fail(path_ + ": read error");
                finished_ = true;
                ec = reader_->finish();
            }
        } else {
            done_ = true;
        }
        if (ec) fail(path_ + ": " + reader_->error_message());
    }

    [[noreturn]] void fail(const std::string& message) {
        done_ = true;
        close();
        throw repo_verification_error(message);
    }

    std::string path_;
    line_queue lines_;
    std::FILE* file_ = nullptr;
    std::unique_ptr<repo::repo_reader> reader_;
    bool finished_ = false, done_ = false;
};

}  // namespace

void bind_car(py::module_& m) {
    py::class_<car_records>(m, "CarRecords")
        .def(py::init<std::string, std::optional<std::string>, std::optional<std::string>, std::string>(), py::arg("path"),
             py::arg("did") = py::none(), py::arg("key") = py::none(), py::arg("format") = "pipeline")
        .def("next_line", &car_records::next, py::call_guard<py::gil_scoped_release>())
        .def("summary", &car_records::summary)
        .def("close", &car_records::close);
}

}  // namespace bsky::python
