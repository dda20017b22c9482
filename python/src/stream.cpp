// get_bsky_records_for_user: one DID's verified records as they stream in,
// and get_plc_directory_doc. The fetch runs on a C++ thread of its own (its
// own event loop) feeding a bounded queue that the Python iterator drains with
// the GIL released while it waits: a full queue holds the reader, the reader
// holds the socket, so a repo of any size passes in bounded memory.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <pybind11/stl.h>

#include "backfill/classify.hpp"
#include "backfill/settings.hpp"
#include "backfill/transform.hpp"
#include "core.hpp"
#include "net/xrpc.hpp"
#include "repo/repo_reader.hpp"
#include "resolve/did_document.hpp"
#include "syntax/syntax.hpp"

namespace bsky::python {

namespace {

namespace asio = boost::asio;

constexpr std::size_t max_waiting_records = 256;

// An HTTP client, limiter, polite fetcher and resolver, as the service builds them.
struct network_stack {
    network_stack(asio::any_io_executor ex, const config::config& cfg)
        : pds_client(ex, backfill::client_settings(cfg)), plc_client(ex, backfill::client_settings(cfg)),
          pds_limiter(ex, backfill::pds_limiter_settings(cfg)), plc_limiter(ex, backfill::plc_limiter_settings(cfg)),
          pds(pds_client, pds_limiter, backfill::retry_settings(cfg)), plc(plc_client, plc_limiter, backfill::retry_settings(cfg)),
          resolver(plc, backfill::resolver_settings(cfg)) {}
    net::http_client pds_client, plc_client;
    rate::host_limiter pds_limiter, plc_limiter;
    net::fetcher pds, plc;
    resolve::resolver resolver;
};

enum class failure_kind { none, network, verification, other };

class record_stream final : public repo::record_sink {
public:
    record_stream(std::string did, config::config cfg, std::optional<std::vector<std::string>> types)
        : did_(std::move(did)), cfg_(std::move(cfg)) {
        if (!syntax::is_did(did_)) throw py::value_error("'" + did_ + "' is not a DID (only did:plc and did:web are backfilled)");
        if (types) types_ = std::set<std::string>(types->begin(), types->end());
        range_ = {cfg_.time_range.start_time, cfg_.time_range.end_time};
        pipeline_ = cfg_.output.format == config::output_format::pipeline;
        thread_ = std::thread([this] { produce(); });
    }
    ~record_stream() override {
        if (PyGILState_Check()) {
            py::gil_scoped_release release;
            close();
        } else {
            close();
        }
    }

    /// Stops the fetch (at its next record or chunk) and waits for the thread.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        changed_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    /// The next record's JSON line; nullopt at the end. Throws what the fetch failed with.
    std::optional<std::string> next() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !lines_.empty() || finished_; });
        if (!lines_.empty()) {
            auto line = std::move(lines_.front());
            lines_.pop_front();
            lock.unlock();
            changed_.notify_all();
            return line;
        }
        auto kind = std::exchange(failure_, failure_kind::none);
        if (kind == failure_kind::network) throw network_error(message_);
        if (kind == failure_kind::verification) throw repo_verification_error(message_);
        if (kind == failure_kind::other) throw backfill_error(message_);
        return std::nullopt;
    }

    std::error_code on_commit(const repo::commit_info& c) override {
        rev_ = c.rev;
        return {};
    }

    std::error_code on_record(const repo::record_view& r) override {
        // A retried fetch reads the repo again from its start: what went out already is not sent twice.
        if (++seen_in_attempt_ <= emitted_) return {};
        ++emitted_;
        auto type = backfill::record_type(r.collection, r.value).type;
        if (types_ && !types_->contains(type) && !types_->contains(std::string(r.collection))) return {};
        auto sync = backfill::compute_synctimestamp(r.value["createdAt"], range_);
        std::string uri = "at://" + did_ + "/" + std::string(r.path), cid, line;
        r.id.append_to(cid);
        backfill::record_meta meta{uri, cid, did_, r.collection, r.rkey, type,
                                   sync.value ? std::optional<std::string_view>(sync.value->view()) : std::nullopt, rev_};
        if (pipeline_) backfill::write_pipeline_record(r.value, meta, line);
        else backfill::write_raw_record(r.value, meta, line);
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return lines_.size() < max_waiting_records || closed_; });
        if (closed_) return std::make_error_code(std::errc::operation_canceled);
        lines_.push_back(std::move(line));
        lock.unlock();
        changed_.notify_all();
        return {};
    }

private:
    void produce() {
        std::string message;
        failure_kind kind = failure_kind::none;
        try {
            asio::io_context io;
            network_stack net(io.get_executor(), cfg_);
            asio::co_spawn(io, fetch(net), [&](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (const network_error& n) {
                    kind = failure_kind::network;
                    message = n.what();
                } catch (const repo_verification_error& v) {
                    kind = failure_kind::verification;
                    message = v.what();
                } catch (const std::exception& x) {
                    kind = failure_kind::other;
                    message = x.what();
                }
            });
            io.run();
        } catch (const std::exception& e) {
            kind = failure_kind::other;
            message = e.what();
        }
        {
            std::lock_guard lock(mutex_);
            finished_ = true;
            if (!closed_) {
                failure_ = kind;
                message_ = message;
            }
        }
        changed_.notify_all();
    }

    bool is_closed() {
        std::lock_guard lock(mutex_);
        return closed_;
    }

    asio::awaitable<void> fetch(network_stack& net) {
        auto res = co_await net.resolver.resolve(did_);
        if (res.status != resolve::resolve_status::ok) throw network_error(did_ + ": resolving its DID document: " + res.detail);
        const auto& doc = *res.document;
        if (!doc.pds_endpoint) throw network_error(did_ + ": the DID document names no #atproto_pds service");
        repo::reader_options options;
        options.expected_did = did_;
        if (cfg_.verify_signatures) {
            if (!doc.signing_key)
                throw repo_verification_error(did_ + ": the DID document has no #atproto signing key to verify the repo with");
            options.key = doc.signing_key;
        }
        options.spill_threshold_bytes = cfg_.limits.spill_threshold_bytes;
        options.max_block_bytes = cfg_.limits.max_block_bytes;
        options.max_car_bytes = cfg_.limits.max_car_bytes;
        options.max_cbor_depth = cfg_.limits.max_cbor_depth;
        std::unique_ptr<repo::repo_reader> reader;
        auto pds = *doc.pds_endpoint;
        auto url = pds + "/xrpc/com.atproto.sync.getRepo?did=" + did_;
        auto result = co_await net.pds.get(url, net::authority_of(url), [&]() -> net::body_sink {
            seen_in_attempt_ = 0;
            reader = std::make_unique<repo::repo_reader>(*this, options);
            return {[&](std::span<const std::uint8_t> chunk) { return reader->put(chunk); }};
        });
        if (is_closed()) co_return;
        if (result.ec) {
            if (reader && !reader->error_message().empty() && result.ec.category() != net::error_category())
                throw repo_verification_error(did_ + ": reading the repo from " + pds + ": " + reader->error_message());
            throw network_error(did_ + ": fetching " + url + ": " + result.detail);
        }
        std::string why;
        if (net::classify_get_repo(result.resp.status, result.resp.error_body, why) != net::repo_answer::ok)
            throw network_error(did_ + ": getRepo at " + pds + ": " + why);
        if (auto ec = reader->finish())
            throw repo_verification_error(did_ + ": reading the repo from " + pds + ": " + reader->error_message());
    }

    std::string did_;
    config::config cfg_;
    std::optional<std::set<std::string>> types_;
    backfill::time_range range_{};
    bool pipeline_ = true;
    std::string rev_;
    std::uint64_t seen_in_attempt_ = 0, emitted_ = 0;  // the fetch thread's

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::string> lines_;
    bool closed_ = false, finished_ = false;
    failure_kind failure_ = failure_kind::none;
    std::string message_;
    std::thread thread_;  // last: started once everything above exists
};

// The DID document as the PLC directory (or did:web host) serves it, checked.
std::string plc_directory_doc(const std::string& did, const config::config& cfg) {
    if (!syntax::is_did(did)) throw py::value_error("'" + did + "' is not a DID (only did:plc and did:web are resolved)");
    auto url = resolve::document_url(did, cfg.plc_url);
    std::string body, message;
    failure_kind kind = failure_kind::none;
    {
        py::gil_scoped_release release;
        asio::io_context io;
        network_stack net(io.get_executor(), cfg);
        auto limit = cfg.limits.max_did_document_bytes;
        auto task = [&]() -> asio::awaitable<void> {
            auto result = co_await net.plc.get(url, net::authority_of(url), [&]() -> net::body_sink {
                body.clear();
                return {[&](std::span<const std::uint8_t> chunk) -> std::error_code {
                    if (body.size() + chunk.size() > limit) return std::make_error_code(std::errc::file_too_large);
                    body.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
                    return {};
                }};
            });
            if (result.ec) {
                kind = failure_kind::network;
                message = did + ": fetching " + url + ": " + result.detail;
            } else if (result.resp.status != 200) {
                kind = failure_kind::network;
                message = did + ": " + url + " answered HTTP " + std::to_string(result.resp.status) +
                          (result.resp.status == 404 || result.resp.status == 410 ? " (the DID is not registered, or tombstoned)" : "");
            } else if (std::string why; !resolve::parse_did_document(body, did, why)) {
                kind = failure_kind::verification;
                message = did + ": the document at " + url + " is not valid: " + why;
            }
        };
        asio::co_spawn(io, task(), [&](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                kind = failure_kind::other;
                message = x.what();
            }
        });
        io.run();
    }
    if (kind == failure_kind::network) throw network_error(message);
    if (kind == failure_kind::verification) throw backfill_error(message);
    if (kind == failure_kind::other) throw backfill_error(message);
    return body;
}

}  // namespace

void bind_stream(py::module_& m) {
    py::class_<record_stream>(m, "RecordStream")
        .def(py::init([](std::string did, const run_options& o, std::optional<std::vector<std::string>> types) {
                 return std::make_unique<record_stream>(std::move(did), make_config(o), std::move(types));
             }),
             py::arg("did"), py::arg("options"), py::arg("types") = py::none())
        .def("next_line", &record_stream::next, py::call_guard<py::gil_scoped_release>())
        .def("close", &record_stream::close, py::call_guard<py::gil_scoped_release>());
    m.def(
        "plc_directory_doc", [](const std::string& did, const run_options& o) { return plc_directory_doc(did, make_config(o)); },
        py::arg("did"), py::arg("options"));
}

}  // namespace bsky::python
