// bsky_backfill._core: the C++ side of the bsky_backfill package. The
// package's __init__.py documents and wraps these; users import that.
#include "core.hpp"

#ifndef BSKY_VERSION
#define BSKY_VERSION "0.1.0"
#endif

PYBIND11_MODULE(_core, m) {
    namespace py = pybind11;
    using namespace bsky::python;
    m.doc() = "bsky-backfill's C++ core (use the bsky_backfill package, not this module)";
    m.attr("__version__") = BSKY_VERSION;
    // Derived classes are registered after their base: pybind11 tries the
    // newest translator first, so each C++ type meets its own Python class.
    auto base = py::register_exception<backfill_error>(m, "BackfillError");
    py::register_exception<configuration_error>(m, "ConfigurationError", base);
    py::register_exception<network_error>(m, "NetworkError", base);
    py::register_exception<repo_verification_error>(m, "RepoVerificationError", base);
    bind_records(m);
    bind_car(m);
    bind_runs(m);
    bind_stream(m);
}
