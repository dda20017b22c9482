// Backfills on the composition root (lib/service), with the GIL released
// while the event loop runs on the calling thread. A watcher on the same loop
// takes the GIL every 100 ms to let Python handle signals (Ctrl-C stops the
// run as SIGINT stops `bsky-backfill run`: no new DIDs, those in flight end,
// the state stays resumable) and to report progress.
#include <cstdio>
#include <cstdlib>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pybind11/stl.h>

#include "backfill/runner.hpp"
#include "core.hpp"
#include "service/backfill_service.hpp"
#include "service/list_intake.hpp"
#include "syntax/syntax.hpp"

namespace bsky::python {

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// What the watcher found while the loop ran; read after it returns, with the GIL.
struct run_state {
    std::optional<py::error_already_set> interrupt;  ///< KeyboardInterrupt, or the progress callback's exception
    py::object progress;                             ///< None or callable(dict)
    std::size_t total = 0;
    bool finished = false;
    std::uint64_t final_done = 0, final_records = 0, final_bytes = 0;  ///< the figures when the run ended
};

py::dict progress_dict(const run_state& st, std::uint64_t done, std::uint64_t records, std::uint64_t bytes) {
    py::dict d;
    d["dids_done"] = done;
    d["dids_total"] = st.total;
    d["records"] = records;
    d["bytes"] = bytes;
    return d;
}

// With the GIL held: a pending signal's exception, or the progress callback's.
void check_python(service::backfill_service& svc, run_state& st, bool report, log::logger& logger) {
    py::gil_scoped_acquire gil;
    auto stop_with = [&](py::error_already_set&& e) {
        if (!st.interrupt) {
            st.interrupt.emplace(std::move(e));
            logger.warn("interrupted; finishing the DIDs in flight (interrupt again to abandon them); call again to resume");
            svc.stop();
        } else {
            logger.warn("interrupted again; abandoning the DIDs in flight (they are backfilled by the next call)");
            svc.abandon();
        }
    };
    if (PyErr_CheckSignals() != 0) stop_with(py::error_already_set());
    if (!report || st.progress.is_none()) return;
    const auto& pr = svc.progress();
    auto d = progress_dict(st, pr.dids_finished.load(), pr.records.load(), pr.bytes.load());
    try {
        st.progress(d);
    } catch (py::error_already_set& e) {
        stop_with(std::move(e));
    }
}

asio::awaitable<void> watch(service::backfill_service& svc, run_state& st, log::logger& logger) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto last_report = std::chrono::steady_clock::now();
    while (!st.finished) {
        timer.expires_after(100ms);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (st.finished) break;
        auto now = std::chrono::steady_clock::now();
        bool report = now - last_report >= 500ms;
        if (report) last_report = now;
        check_python(svc, st, report, logger);
    }
}

// Runs `work(service, state, logger)` to its end on a loop of its own; rethrows
// its exception, or the interrupt that stopped it. Called with the GIL held.
template <class T, class Work>
T run_service(const config::config& cfg, py::object progress, std::size_t total, Work work) {
    python_logger plog;
    run_state st;
    st.progress = std::move(progress);
    st.total = total;
    std::optional<T> result;
    std::exception_ptr failure;
    {
        py::gil_scoped_release release;
        try {
            asio::io_context io;
            service::backfill_service svc(io.get_executor(), cfg, plog.get());
            asio::co_spawn(io, work(svc, st, plog.get()), [&](std::exception_ptr e, T r) {
                failure = e;
                if (!e) result.emplace(std::move(r));
                st.finished = true;
            });
            asio::co_spawn(io, watch(svc, st, plog.get()), [&](std::exception_ptr e) {
                if (e && !failure) failure = e;
            });
            io.run();
            const auto& pr = svc.progress();
            st.final_done = pr.dids_finished.load();
            st.final_records = pr.records.load();
            st.final_bytes = pr.bytes.load();
        } catch (...) {
            failure = std::current_exception();
        }
    }
    if (st.interrupt) throw *st.interrupt;
    // A run shorter than the reporting interval is reported too, and every run ends with its final figures.
    if (!failure && !st.progress.is_none()) st.progress(progress_dict(st, st.final_done, st.final_records, st.final_bytes));
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const backfill_error&) {
            throw;
        } catch (const config::config_error& e) {
            throw configuration_error(e.what());
        } catch (const std::exception& e) {
            throw backfill_error(e.what());
        }
    }
    return std::move(*result);
}

std::string take_stream(std::FILE* f, char* buffer, std::size_t size) {
    std::fclose(f);
    std::string out(buffer, size);
    std::free(buffer);
    return out;
}

// run's final JSON, exactly as `bsky-backfill run --dids ...` prints it.
std::string run_batched(std::vector<std::string> dids, std::size_t dids_per_batch, const run_options& o, py::object progress) {
    if (dids_per_batch == 0) throw configuration_error("batch_size must be at least 1");
    auto cfg = make_config(o);
    auto total = dids.size();
    return run_service<std::string>(cfg, std::move(progress), total, [&dids, dids_per_batch](service::backfill_service& svc, run_state& st,
                                                                                        log::logger& logger) -> asio::awaitable<std::string> {
        service::intake_totals intake;
        std::string source = "--dids";
        auto batch = co_await svc.exporter().begin_batch(source);
        std::size_t i = 0;
        auto next = [&](std::string& line) {
            if (i >= dids.size()) return false;
            line = dids[i++];
            return true;
        };
        co_await service::record_lines(svc.exporter(), batch, source, next, logger, intake);
        if (intake.duplicates) logger.info("{} duplicate DIDs removed", intake.duplicates);
        st.total = intake.accepted;
        auto total_batches = co_await svc.run_batch(batch, dids_per_batch);
        char* buffer = nullptr;
        std::size_t size = 0;
        std::FILE* f = ::open_memstream(&buffer, &size);
        if (!f) throw std::runtime_error("cannot open a memory stream for the summary");
        try {
            co_await backfill::write_stored_summary(svc.exporter(), batch, total_batches, f);
        } catch (...) {
            take_stream(f, buffer, size);
            throw;
        }
        co_return take_stream(f, buffer, size);
    });
}

py::dict outcome_dict(const backfill::did_outcome& o) {
    py::dict d;
    d["did"] = o.did;
    d["status"] = std::string(state::to_string(o.status));
    d["error"] = o.error;
    d["counts"] = o.counts;
    d["skipped"] = o.skipped;
    d["invalid"] = o.invalid;
    d["filtered"] = o.filtered;
    d["bytes"] = o.bytes;
    d["rev"] = o.rev;
    d["pds"] = o.pds;
    d["seconds"] = o.seconds;
    return d;
}

// Each DID's outcome, in input order (DIDs finished by an earlier call included).
py::list backfill_users(std::vector<std::string> dids, std::size_t dids_per_batch, const run_options& o, py::object progress) {
    for (const auto& did : dids)
        if (!syntax::is_did(did)) throw py::value_error("'" + did + "' is not a DID (only did:plc and did:web are backfilled)");
    if (dids_per_batch == 0) throw configuration_error("batch_size must be at least 1");
    auto cfg = make_config(o);
    auto total = dids.size();
    auto report = run_service<backfill::run_report>(
        cfg, std::move(progress), total,
        [&dids, dids_per_batch](service::backfill_service& svc, run_state&, log::logger&) -> asio::awaitable<backfill::run_report> {
            co_return co_await svc.run_dids(dids, dids_per_batch, "python");
        });
    py::list out;
    for (const auto& outcome : report.outcomes) out.append(outcome_dict(outcome));
    return out;
}

}  // namespace

void bind_runs(py::module_& m) {
    py::class_<run_options>(m, "RunOptions")
        .def(py::init<>())
        .def_readwrite("config_path", &run_options::config_path)
        .def_readwrite("output", &run_options::output)
        .def_readwrite("output_dir", &run_options::output_dir)
        .def_readwrite("plc_url", &run_options::plc_url)
        .def_readwrite("start_timestamp", &run_options::start_timestamp)
        .def_readwrite("end_timestamp", &run_options::end_timestamp)
        .def_readwrite("format", &run_options::format)
        .def_readwrite("time_range_mode", &run_options::mode)
        .def_readwrite("types", &run_options::types)
        .def_readwrite("concurrency", &run_options::concurrency)
        .def_readwrite("per_host_concurrency", &run_options::per_host_concurrency)
        .def_readwrite("verify_signatures", &run_options::verify_signatures);
    m.def("run_batched_backfill", &run_batched, py::arg("dids"), py::arg("batch_size"), py::arg("options"), py::arg("progress"));
    m.def("backfill_users", &backfill_users, py::arg("dids"), py::arg("batch_size"), py::arg("options"), py::arg("progress"));
}

}  // namespace bsky::python
