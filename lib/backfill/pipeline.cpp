#include "backfill/pipeline.hpp"

#include "backfill/transform.hpp"
#include "cbor/dag_json.hpp"
#include "net/xrpc.hpp"
#include "repo/repo_reader.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>

namespace bsky::backfill {

namespace asio = boost::asio;

std::string counts_json(const std::map<std::string, std::uint64_t>& counts) {
    std::string out = "{";
    for (const auto& [type, n] : counts) {
        if (out.size() > 1) out.push_back(',');
        cbor::write_json_string(type, out);
        out += ":" + std::to_string(n);
    }
    return out + "}";
}

namespace {

// Receives one attempt's records: classifies, filters and transforms them
// into per-type batches; full batches wait in `ready` for the exporter.
class record_batcher final : public repo::record_sink {
public:
    record_batcher(const pipeline_params& params, std::string did, bool lines)
        : params_(params), did_(std::move(did)), lines_(lines) {}

    std::error_code on_commit(const repo::commit_info& c) override {
        rev_ = c.rev;
        return {};
    }

    std::error_code on_record(const repo::record_view& r) override {
        auto type = record_type(r.collection, r.value);
        if (!params_.record_types.contains(type) && !params_.record_types.contains(std::string(r.collection))) {
            ++skipped;
            return {};
        }
        auto sync = compute_synctimestamp(r.value["createdAt"], params_.range);
        if (!sync.value) {
            ++invalid;
            if (invalid_reasons.size() < 5) invalid_reasons.push_back(std::string(r.path) + ": " + sync.invalid_reason);
            return {};
        }
        if (params_.filter_by_time && !sync.in_range && type != "follow") {
            ++filtered;
            return {};
        }
        uri_.assign("at://").append(did_).append("/").append(r.path);
        cid_.clear();
        r.id.append_to(cid_);
        record_meta meta{uri_, cid_, did_, r.collection, r.rkey, type, sync.value->view(), rev_};
        auto& open = open_[type];
        if (!lines_) open.json += open.records == 0 ? "[" : ",";
        if (params_.pipeline_format) write_pipeline_record(r.value, meta, open.json);
        else write_raw_record(r.value, meta, open.json);
        if (lines_) open.json += '\n';
        ++open.records;
        ++counts[type];
        if (open.records >= params_.batch_size) close(type);
        return {};
    }

    /// Moves every partial batch to `ready` (end of the repo).
    void close_all() {
        std::vector<std::string> types;
        for (auto& [type, b] : open_)
            if (b.records) types.push_back(type);
        for (const auto& t : types) close(t);
    }

    struct batch {
        std::string json;
        std::size_t records = 0;
    };
    std::deque<std::pair<std::string, batch>> ready;
    std::map<std::string, std::uint64_t> counts;
    std::uint64_t skipped = 0, invalid = 0, filtered = 0;
    std::vector<std::string> invalid_reasons;
    const std::string& rev() const noexcept { return rev_; }

private:
    void close(const std::string& type) {
        auto& b = open_[type];
        if (!lines_) b.json += "]";
        ready.emplace_back(type, std::move(b));
        open_.erase(type);
    }

    const pipeline_params& params_;
    std::string did_;
    bool lines_;
    std::string rev_, uri_, cid_;
    std::map<std::string, batch> open_;
};

// What the state store keeps of an outcome.
state::did_result stored_result(const did_outcome& out) {
    state::did_result r{out.pds, out.rev, counts_json(out.counts), 0, static_cast<std::int64_t>(out.skipped),
                        static_cast<std::int64_t>(out.invalid), static_cast<std::int64_t>(out.bytes),
                        static_cast<std::int64_t>(out.seconds * 1000)};
    for (const auto& [type, n] : out.counts) r.records += static_cast<std::int64_t>(n);
    return r;
}

state::did_status status_for(net::repo_answer a) {
    switch (a) {
        case net::repo_answer::not_found: return state::did_status::not_found;
        case net::repo_answer::takendown: return state::did_status::takendown;
        case net::repo_answer::deactivated: return state::did_status::deactivated;
        case net::repo_answer::suspended: return state::did_status::suspended;
        default: return state::did_status::failed;
    }
}

}  // namespace

pipeline::pipeline(net::fetcher& pds_fetcher, resolve::resolver& resolver, exporter::exporter& exporter,
                   pipeline_params params, log::logger& logger)
    : fetcher_(pds_fetcher), resolver_(resolver), exporter_(exporter), params_(std::move(params)), logger_(logger) {}

void pipeline::attach_metrics(metrics::registry& registry) {
    metrics_.dids = &registry.counter("bsky_dids_total", "DIDs that reached a final state in this process, by state", "state");
    metrics_.in_flight = &registry.gauge("bsky_dids_in_flight", "DIDs being resolved, fetched or committed");
    metrics_.in_flight->set(0);
    metrics_.records = &registry.counter("bsky_records_exported_total", "Records committed to the queues, by record type", "type");
    metrics_.skipped = &registry.counter("bsky_records_skipped_total",
                                         "Records read but not exported: type (not in record_types), invalid (no usable createdAt), "
                                         "time_range (outside it, filter mode)",
                                         "reason");
    metrics_.bytes = &registry.counter("bsky_repo_bytes_total", "Repo (CAR) bytes received from PDSes");
    auto& slice = registry.gauge("bsky_longest_parse_slice_seconds", "The longest the event loop spent parsing one body chunk");
    registry.on_scrape([this, &slice] { slice.set(static_cast<double>(progress_.longest_parse_slice_us.load()) / 1e6); });
}

void pipeline::count_outcome(const did_outcome& out) {
    if (!metrics_.dids) return;
    metrics_.dids->add(state::to_string(out.status));
    metrics_.bytes->add(static_cast<double>(out.bytes));
    if (out.status != state::did_status::done) return;
    for (const auto& [type, n] : out.counts) metrics_.records->add(type, static_cast<double>(n));
    metrics_.skipped->add("type", static_cast<double>(out.skipped));
    metrics_.skipped->add("invalid", static_cast<double>(out.invalid));
    metrics_.skipped->add("time_range", static_cast<double>(out.filtered));
}

asio::awaitable<did_outcome> pipeline::backfill(std::string did) {
    auto started = std::chrono::steady_clock::now();
    // Counted while this frame lives, whichever way it ends.
    struct in_flight_guard {
        metrics::family* gauge;
        explicit in_flight_guard(metrics::family* g) : gauge(g) { if (gauge) gauge->add(1); }
        ~in_flight_guard() { if (gauge) gauge->add(-1); }
    } in_flight(metrics_.in_flight);
    const pipeline_params params = params_;  // a reload mid-DID does not change this DID's rules
    did_outcome out;
    out.did = did;
    auto finish = [&](state::did_status status, std::string error) -> asio::awaitable<did_outcome> {
        out.status = status;
        out.error = std::move(error);
        out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        auto result = stored_result(out);
        co_await exporter_.finish(did, status, out.error, result);
        ++progress_.dids_finished;
        count_outcome(out);
        logger_.info("{}: {}: {}", did, state::to_string(status), out.error);
        co_return out;
    };

    co_await exporter_.mark_running(did);

    // Resolve.
    auto resolution = co_await resolver_.resolve(did);
    if (resolution.status == resolve::resolve_status::not_found) co_return co_await finish(state::did_status::not_found, resolution.detail);
    if (resolution.status != resolve::resolve_status::ok) co_return co_await finish(state::did_status::failed, resolution.detail);
    const auto& doc = *resolution.document;
    if (!doc.pds_endpoint) co_return co_await finish(state::did_status::failed, "the DID document names no #atproto_pds service");
    out.pds = *doc.pds_endpoint;
    if (params.verify_signatures && !doc.signing_key)
        co_return co_await finish(state::did_status::failed, "the DID document has no #atproto signing key to verify the repo with");

    // Fetch and read. Each attempt starts a fresh reader; staged rows of an
    // earlier attempt are discarded before the new attempt stages any.
    repo::reader_options options;
    options.expected_did = did;
    if (params.verify_signatures) options.key = doc.signing_key;
    options.spill_threshold_bytes = params.spill_threshold_bytes;
    options.spill_dir = params.spill_dir;
    options.max_block_bytes = params.max_block_bytes;
    options.max_car_bytes = params.max_car_bytes;
    options.max_cbor_depth = params.max_cbor_depth;

    std::unique_ptr<record_batcher> batcher;
    std::unique_ptr<repo::repo_reader> reader;
    bool must_discard = false;
    std::set<std::string> staged_types;
    std::uint64_t bytes = 0;
    std::string error_body;
    auto drain = [&]() -> asio::awaitable<void> {
        if (must_discard) {
            co_await exporter_.discard(did);
            must_discard = false;
            staged_types.clear();
        }
        while (batcher && !batcher->ready.empty()) {
            auto [type, b] = std::move(batcher->ready.front());
            batcher->ready.pop_front();
            co_await exporter_.stage(type, did, std::move(b.json), b.records, params.batch_size, batcher->rev());
            progress_.records += b.records;
            staged_types.insert(type);
        }
    };

    auto url = out.pds + "/xrpc/com.atproto.sync.getRepo?did=" + did;
    auto result = co_await fetcher_.get(url, net::authority_of(url), [&]() -> net::body_sink {
        batcher = std::make_unique<record_batcher>(params, did, exporter_.wants_lines());
        reader = std::make_unique<repo::repo_reader>(*batcher, options);
        must_discard = true;
        bytes = 0;
        return {[&](std::span<const std::uint8_t> chunk) -> std::error_code {
                    bytes += chunk.size();
                    progress_.bytes += chunk.size();
                    // Parsing runs on the event loop in chunk-sized slices: record the longest.
                    auto t0 = std::chrono::steady_clock::now();
                    auto ec = reader->put(chunk);
                    auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
                    auto seen = progress_.longest_parse_slice_us.load();
                    while (took > seen && !progress_.longest_parse_slice_us.compare_exchange_weak(seen, took)) {}
                    return ec;
                },
                [&]() -> asio::awaitable<std::error_code> {
                    co_await drain();
                    co_return std::error_code{};
                }};
    });
    out.bytes = bytes;
    if (result.ec) {
        auto why = reader && !reader->error_message().empty() && result.ec.category() != net::error_category()
                       ? "reading the repo from " + out.pds + ": " + reader->error_message()
                       : "fetching " + url + ": " + result.detail;
        co_return co_await finish(state::did_status::failed, why);
    }
    std::string why;
    auto answer = net::classify_get_repo(result.resp.status, result.resp.error_body, why);
    if (answer != net::repo_answer::ok) co_return co_await finish(status_for(answer), "getRepo at " + out.pds + ": " + why);
    if (auto ec = reader->finish())
        co_return co_await finish(state::did_status::failed, "reading the repo from " + out.pds + ": " + reader->error_message());
    batcher->close_all();
    co_await drain();

    out.counts = batcher->counts;
    out.skipped = batcher->skipped;
    out.invalid = batcher->invalid;
    out.filtered = batcher->filtered;
    out.rev = batcher->rev();
    for (const auto& reason : batcher->invalid_reasons) logger_.debug("{}: invalid record {}", did, reason);
    out.status = state::did_status::done;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto stored = stored_result(out);
    co_await exporter_.commit(did, staged_types, stored);
    ++progress_.dids_finished;
    count_outcome(out);
    logger_.info("{}: done: {} records ({} skipped, {} invalid, {} outside the time range) from {:.1f} MB in {:.2f} s", did,
                 stored.records, out.skipped, out.invalid, out.filtered, static_cast<double>(out.bytes) / 1e6, out.seconds);
    co_return out;
}

asio::awaitable<std::vector<did_outcome>> pipeline::backfill_all(std::vector<std::string> dids, std::size_t concurrency) {
    std::vector<did_outcome> outcomes(dids.size());
    std::size_t next = 0;
    auto worker = [&]() -> asio::awaitable<void> {
        while (next < dids.size()) {
            auto i = next++;
            try {
                outcomes[i] = co_await backfill(dids[i]);
            } catch (const boost::system::system_error& e) {
                if (e.code() == asio::error::operation_aborted) throw;
                outcomes[i] = {dids[i], state::did_status::failed, e.what()};
            } catch (const std::exception& e) {
                // A storage failure: the DID stays `running` and is redone after a restart.
                logger_.error("{}: {}", dids[i], e.what());
                outcomes[i] = {dids[i], state::did_status::failed, e.what()};
            }
        }
    };
    // Workers share this frame and finish before it returns.
    auto executor = co_await asio::this_coro::executor;
    std::size_t workers = std::max<std::size_t>(1, std::min(concurrency, dids.size()));
    asio::experimental::channel<void(boost::system::error_code)> done(executor, workers);
    for (std::size_t w = 0; w < workers; ++w)
        asio::co_spawn(executor, worker(), [&](std::exception_ptr) { done.try_send(boost::system::error_code{}); });
    for (std::size_t w = 0; w < workers; ++w) co_await done.async_receive(asio::use_awaitable);
    co_return outcomes;
}

}  // namespace bsky::backfill
