// Library log lines into Python's `logging`, under the logger "bsky_backfill".
#include "core.hpp"

namespace bsky::python {

namespace {

int python_level(log::level lvl) {
    switch (lvl) {
        case log::level::trace: return 5;
        case log::level::debug: return 10;
        case log::level::info: return 20;
        case log::level::warn: return 30;
        case log::level::error: return 40;
        default: return 50;
    }
}

log::level library_level(int python) {
    if (python <= 5) return log::level::trace;
    if (python <= 10) return log::level::debug;
    if (python <= 20) return log::level::info;
    if (python <= 30) return log::level::warn;
    if (python <= 40) return log::level::error;
    return log::level::critical;
}

}  // namespace

struct python_logger::state {
    py::object logger;
};

python_logger::python_logger() : state_(std::make_unique<state>()) {
    state_->logger = py::module_::import("logging").attr("getLogger")("bsky_backfill");
    auto* s = state_.get();
    // The exporter's thread logs too: each message takes the GIL, which the
    // thread running the event loop has released while it works.
    logger_ = std::make_unique<log::logger>(
        [s](log::level lvl, std::string_view message) {
            if (!Py_IsInitialized()) return;
            py::gil_scoped_acquire gil;
            try {
                s->logger.attr("log")(python_level(lvl), py::str(message.data(), message.size()));
            } catch (py::error_already_set& e) {
                e.discard_as_unraisable("bsky_backfill logging");
            }
        },
        library_level(state_->logger.attr("getEffectiveLevel")().cast<int>()));
}

python_logger::~python_logger() = default;

}  // namespace bsky::python
