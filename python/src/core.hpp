#pragma once
// What the bsky_backfill._core extension's parts share: the exception types
// Python sees as the BackfillError hierarchy, the options a run takes by
// keyword, and the logger that forwards to Python's `logging`.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

#include "config/config.hpp"
#include "log/log.hpp"

namespace bsky::python {

namespace py = pybind11;

/// Base of every error the module raises on purpose (Python: BackfillError).
struct backfill_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// A bad option or configuration file (Python: ConfigurationError).
struct configuration_error : backfill_error {
    using backfill_error::backfill_error;
};
/// The PLC directory or a PDS could not be reached or refused (Python: NetworkError).
struct network_error : backfill_error {
    using backfill_error::backfill_error;
};
/// A repo (CAR) that is corrupt, truncated or fails its signature (Python: RepoVerificationError).
struct repo_verification_error : backfill_error {
    using backfill_error::backfill_error;
};

/// run's flags, by keyword (None: the config file's value or the default).
struct run_options {
    std::optional<std::string> config_path, output, output_dir, plc_url, start_timestamp, end_timestamp, format, mode;
    std::optional<std::vector<std::string>> types;
    std::optional<unsigned> concurrency, per_host_concurrency;
    std::optional<bool> verify_signatures;
};

/// The configuration `bsky-backfill run` would use for the same flags; throws configuration_error.
config::config make_config(const run_options& o);

/// A logger whose sink calls logging.getLogger("bsky_backfill").log(...)
/// with the GIL taken for each message, from whichever thread logs; its level
/// is that logger's effective level when made. Make and destroy it with the GIL held.
class python_logger {
public:
    python_logger();
    ~python_logger();
    log::logger& get() noexcept { return *logger_; }

private:
    struct state;
    std::unique_ptr<state> state_;
    std::unique_ptr<log::logger> logger_;
};

void bind_records(py::module_& m);
void bind_car(py::module_& m);
void bind_runs(py::module_& m);
void bind_stream(py::module_& m);

}  // namespace bsky::python
