// read_car: a CAR file's records, verified, one JSON line at a time, as
// `bsky-backfill inspect` prints them. The walk is held while lines wait for
// Python, so a file of any size is read in bounded memory.
#include <deque>

#include <pybind11/stl.h>

#include "backfill/car_file.hpp"
#include "core.hpp"
#include "crypto/did_key.hpp"
#include "syntax/syntax.hpp"

namespace bsky::python {

namespace {

constexpr std::size_t max_waiting_lines = 1024;

class car_records {
public:
    car_records(std::string path, std::optional<std::string> did, std::optional<std::string> key, std::string format)
        : path_(std::move(path)),
          lines_(time_range_of_defaults(), check_format(format),
                 [this](std::string_view line) {
                     waiting_.emplace_back(line);
                     return std::error_code{};
                 },
                 [this] { return waiting_.size() >= max_waiting_lines; }) {
        repo::reader_options options;
        if (did) {
            if (!syntax::is_did(*did)) throw py::value_error("did '" + *did + "' is not a DID");
            options.expected_did = *did;
        }
        if (key) {
            options.key = crypto::parse_did_key(*key);
            if (!options.key) throw py::value_error("key '" + *key + "' is not a did:key of a secp256k1 or P-256 key");
        }
        file_ = std::make_unique<backfill::car_file_reader>(path_, lines_, std::move(options));
        if (!file_->opened()) throw repo_verification_error(file_->error());
    }
    car_records(const car_records&) = delete;
    car_records& operator=(const car_records&) = delete;

    void close() { file_->close(); }

    /// The next record's JSON line; nullopt at the end. Throws repo_verification_error.
    std::optional<std::string> next() {
        while (waiting_.empty()) {
            if (file_->step()) continue;
            if (!file_->error().empty()) throw repo_verification_error(file_->error());
            return std::nullopt;
        }
        auto line = std::move(waiting_.front());
        waiting_.pop_front();
        return line;
    }

    /// inspect's summary line, as a dict's fields.
    py::dict summary() const {
        const auto& reader = file_->reader();
        auto stats = reader.stats();
        const auto& commit = reader.commit();
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

    std::string path_;
    std::deque<std::string> waiting_;  ///< lines formatted ahead of Python; the walk holds at max_waiting_lines
    backfill::record_lines lines_;
    std::unique_ptr<backfill::car_file_reader> file_;
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
