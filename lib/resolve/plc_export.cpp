#include "resolve/plc_export.hpp"

#include "state/sqlite.hpp"
#include "syntax/syntax.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace bsky::resolve {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

const json::string* string_at(const json::object& obj, std::string_view key) {
    auto* v = obj.if_contains(key);
    return v && v->is_string() ? &v->get_string() : nullptr;
}

// PLC itself adds https:// to a legacy `service` that lacks a scheme.
std::string with_http_scheme(std::string_view url) {
    if (url.empty() || url.starts_with("https://") || url.starts_with("http://")) return std::string(url);
    return "https://" + std::string(url);
}

bool read_plc_operation(const json::object& op, plc_export_op& out, std::string& why) {
    if (auto* services = op.if_contains("services"); services && services->is_object()) {
        if (auto* pds = services->get_object().if_contains("atproto_pds"); pds && pds->is_object()) {
            auto* endpoint = string_at(pds->get_object(), "endpoint");
            if (!endpoint) {
                why = "the operation's services.atproto_pds has no string endpoint";
                return false;
            }
            // Any other type is not a PDS this client can talk to: the DID gets no endpoint (and fails as unreachable).
            auto* type = string_at(pds->get_object(), "type");
            if (type && *type == "AtprotoPersonalDataServer") out.pds_endpoint = std::string(*endpoint);
        }
    }
    if (auto* methods = op.if_contains("verificationMethods"); methods && methods->is_object()) {
        if (auto* key = methods->get_object().if_contains("atproto")) {
            if (!key->is_string()) {
                why = "the operation's verificationMethods.atproto is not a string";
                return false;
            }
            out.signing_key = std::string(key->get_string());
        }
    }
    if (auto* aka = op.if_contains("alsoKnownAs"); aka && aka->is_array()) {
        for (const auto& alias : aka->get_array()) {
            if (alias.is_string() && alias.get_string().starts_with("at://")) {
                out.handle = std::string(alias.get_string()).substr(5);
                break;
            }
        }
    }
    return true;
}

void read_legacy_create(const json::object& op, plc_export_op& out) {
    if (auto* key = string_at(op, "signingKey")) out.signing_key = std::string(*key);
    if (auto* service = string_at(op, "service")) out.pds_endpoint = with_http_scheme(*service);
    if (auto* handle = string_at(op, "handle")) out.handle = std::string(*handle);
}

}  // namespace

std::optional<plc_export_op> parse_plc_export_line(std::string_view line, std::string& why) {
    boost::system::error_code ec;
    json::value entry = json::parse(line, ec);
    if (ec) {
        why = "not valid JSON: " + ec.message();
        return std::nullopt;
    }
    if (!entry.is_object()) {
        why = "not a JSON object";
        return std::nullopt;
    }
    const auto& obj = entry.get_object();
    plc_export_op out;
    auto* did = string_at(obj, "did");
    if (!did || !syntax::is_did_plc(*did)) {
        why = "'did' is missing or not a did:plc DID";
        return std::nullopt;
    }
    out.did = std::string(*did);
    if (auto* nullified = obj.if_contains("nullified")) {
        if (!nullified->is_bool()) {
            why = "'nullified' is not true or false";
            return std::nullopt;
        }
        out.nullified = nullified->get_bool();
    }
    auto* op = obj.if_contains("operation");
    auto* type = op && op->is_object() ? string_at(op->get_object(), "type") : nullptr;
    if (!type) {
        why = "'operation' is missing, not an object, or has no string 'type'";
        return std::nullopt;
    }
    if (*type == "plc_operation") {
        if (!read_plc_operation(op->get_object(), out, why)) return std::nullopt;
    } else if (*type == "plc_tombstone") {
        out.tombstone = true;
    } else if (*type == "create") {
        read_legacy_create(op->get_object(), out);
    } else {
        why = "operation type '" + std::string(type->subview().substr(0, 40)) + "' is not plc_operation, plc_tombstone or create";
        return std::nullopt;
    }
    return out;
}

resolution resolution_from_export(const plc_export_op& op) {
    resolution out;
    if (op.tombstone) {
        out.status = resolve_status::not_found;
        out.detail = op.did + " is tombstoned in the PLC export";
        return out;
    }
    // The document the directory would serve, checked by the same parser as a fetched one.
    json::object doc{{"id", op.did}};
    if (!op.handle.empty()) doc["alsoKnownAs"] = json::array{"at://" + op.handle};
    if (!op.pds_endpoint.empty())
        doc["service"] = json::array{
            json::object{{"id", "#atproto_pds"}, {"type", "AtprotoPersonalDataServer"}, {"serviceEndpoint", op.pds_endpoint}}};
    if (!op.signing_key.empty()) {
        std::string_view key = op.signing_key;
        if (key.starts_with("did:key:")) key.remove_prefix(8);
        doc["verificationMethod"] = json::array{
            json::object{{"id", op.did + "#atproto"}, {"type", "Multikey"}, {"controller", op.did}, {"publicKeyMultibase", key}}};
    }
    std::string why;
    if (auto parsed = parse_did_document(json::serialize(doc), op.did, why)) {
        out.status = resolve_status::ok;
        out.document = std::move(*parsed);
    } else {
        out.detail = "the PLC export's entry for " + op.did + ": " + why;
    }
    return out;
}

namespace {

struct file_identity {
    std::int64_t size = 0, mtime = 0;
    bool operator==(const file_identity&) const = default;
};

file_identity identity_of(const std::filesystem::path& file) {
    return {static_cast<std::int64_t>(std::filesystem::file_size(file)),
            static_cast<std::int64_t>(std::filesystem::last_write_time(file).time_since_epoch().count())};
}

constexpr std::uint64_t progress_every_lines = 2'000'000;
constexpr std::uint64_t lines_per_transaction = 100'000;
constexpr std::uint64_t malformed_lines_logged = 100;

}  // namespace

struct plc_export_index::impl {
    impl(std::filesystem::path export_path, std::filesystem::path index_path, log::logger& log)
        : export_file(std::move(export_path)), index_file(std::move(index_path)), logger(log) {}

    void start();
    bool reuse(const file_identity& id);
    bool build(const file_identity& id, const std::filesystem::path& into);
    void index_line(state::database& db, const std::string& line);
    std::optional<resolution> find(const std::string& did);
    std::optional<resolution> query(const std::string& did);

    std::filesystem::path export_file, index_file;
    log::logger& logger;
    std::unique_ptr<state::database> db;  ///< null until (and unless) the index is ready
    plc_export_summary result;
    std::atomic<bool> stopping{false};
    asio::thread_pool thread{1};  ///< last: joined before the members above go
};

// The meta table says which export the index was built from.
bool plc_export_index::impl::reuse(const file_identity& id) {
    if (!std::filesystem::exists(index_file)) return false;
    try {
        auto candidate = std::make_unique<state::database>(index_file);
        auto meta = candidate->prepare("SELECT key, value FROM meta");
        std::map<std::string, std::string> values;
        while (meta.step()) values[meta.column_text(0)] = meta.column_text(1);
        if (values["export_file"] != export_file.string() || values["size"] != std::to_string(id.size) ||
            values["mtime"] != std::to_string(id.mtime) || values["complete"] != "1")
            return false;
        result.lines = std::stoull(values["lines"]), result.operations = std::stoull(values["operations"]);
        result.nullified = std::stoull(values["nullified"]), result.malformed = std::stoull(values["malformed"]);
        result.dids = std::stoull(values["dids"]);
        db = std::move(candidate);
        return true;
    } catch (const std::exception& e) {
        logger.warn("{}: not a usable PLC export index ({}); rebuilding it", index_file.string(), e.what());
        return false;
    }
}

void plc_export_index::impl::index_line(state::database& db, const std::string& line) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    std::string why;
    auto op = parse_plc_export_line(line, why);
    if (!op) {
        if (++result.malformed <= malformed_lines_logged)
            logger.warn("{}:{}: skipped a malformed PLC export line: {}", export_file.string(), result.lines, why);
        return;
    }
    if (op->nullified) {
        ++result.nullified;
        return;
    }
    // The export runs oldest first: a later operation replaces the DID's row.
    db.cached("INSERT INTO dids(did, pds, signing_key, handle, tombstoned) VALUES(?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT(did) DO UPDATE SET pds = excluded.pds, signing_key = excluded.signing_key, "
              "handle = excluded.handle, tombstoned = excluded.tombstoned")
        .bind(1, op->did).bind(2, op->pds_endpoint).bind(3, op->signing_key).bind(4, op->handle)
        .bind(5, std::int64_t{op->tombstone})
        .run();
    ++result.operations;
}

// Streams the export into a fresh database at `into`; false when stopped.
bool plc_export_index::impl::build(const file_identity& id, const std::filesystem::path& into) {
    std::ifstream in(export_file, std::ios::binary);
    if (!in) throw std::runtime_error(export_file.string() + ": cannot open the PLC export (resolve.plc_export)");
    state::database out(into);
    out.exec("PRAGMA synchronous = OFF");
    out.exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
             "CREATE TABLE dids(did TEXT PRIMARY KEY, pds TEXT NOT NULL, signing_key TEXT NOT NULL, handle TEXT NOT NULL,"
             " tombstoned INTEGER NOT NULL) WITHOUT ROWID");
    auto started = std::chrono::steady_clock::now();
    std::optional<state::database::transaction> tx(std::in_place, out);
    std::string line;
    while (std::getline(in, line)) {
        if (stopping.load(std::memory_order_relaxed)) return false;
        ++result.lines;
        index_line(out, line);
        if (result.lines % lines_per_transaction == 0) tx->commit(), tx.emplace(out);
        if (result.lines % progress_every_lines == 0)
            logger.info("{}: indexed {} lines of the PLC export ({} operations, {} malformed)", export_file.string(),
                        result.lines, result.operations, result.malformed);
    }
    if (in.bad()) throw std::runtime_error(export_file.string() + ": read error after line " + std::to_string(result.lines));
    auto count = out.prepare("SELECT COUNT(*) FROM dids");
    count.step();
    result.dids = static_cast<std::uint64_t>(count.column_int(0));
    auto& meta = out.cached("INSERT INTO meta(key, value) VALUES(?, ?)");
    for (auto [key, value] : {std::pair{"export_file", export_file.string()}, {"size", std::to_string(id.size)},
                              {"mtime", std::to_string(id.mtime)}, {"lines", std::to_string(result.lines)},
                              {"operations", std::to_string(result.operations)}, {"nullified", std::to_string(result.nullified)},
                              {"malformed", std::to_string(result.malformed)}, {"dids", std::to_string(result.dids)},
                              {"complete", std::string("1")}})
        meta.bind(1, key).bind(2, value).run();
    tx->commit();
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    logger.info("{}: indexed {} DIDs from {} lines in {:.1f} s ({} nullified and {} malformed lines skipped)",
                export_file.string(), result.dids, result.lines, seconds, result.nullified, result.malformed);
    return true;
}

void plc_export_index::impl::start() {
    try {
        auto id = identity_of(export_file);
        if (reuse(id)) {
            logger.info("{}: PLC export index is current for {} ({} DIDs)", index_file.string(), export_file.string(), result.dids);
        } else {
            auto partial = index_file;
            partial += ".building";
            for (const auto* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(partial.string() + suffix);
            logger.info("{}: indexing the PLC export into {}", export_file.string(), index_file.string());
            if (!build(id, partial)) return;
            // Closed above, so its WAL is checkpointed: the one file is the whole index.
            for (const auto* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(index_file.string() + suffix);
            std::filesystem::rename(partial, index_file);
            db = std::make_unique<state::database>(index_file);
            result.rebuilt = true;
        }
        result.usable = true;
    } catch (const std::exception& e) {
        db.reset();
        result.error = e.what();
        logger.error("{}: no PLC export index ({}); every did:plc DID is looked up at the directory", index_file.string(), e.what());
    }
}

std::optional<resolution> plc_export_index::impl::find(const std::string& did) {
    if (!db) return std::nullopt;
    try {
        return query(did);
    } catch (const state::sqlite_error& e) {
        logger.warn("{}: looking up {} in the PLC export index: {}; asking the directory", index_file.string(), did, e.what());
        return std::nullopt;
    }
}

std::optional<resolution> plc_export_index::impl::query(const std::string& did) {
    auto& row = db->cached("SELECT pds, signing_key, handle, tombstoned FROM dids WHERE did = ?");
    row.bind(1, did);
    if (!row.step()) {
        row.reset();
        return std::nullopt;
    }
    plc_export_op op{.did = did, .tombstone = row.column_int(3) != 0, .pds_endpoint = row.column_text(0),
                     .signing_key = row.column_text(1), .handle = row.column_text(2)};
    row.reset();
    return resolution_from_export(op);
}

plc_export_index::plc_export_index(std::filesystem::path export_file, std::filesystem::path index_file, log::logger& logger) {
    if (std::ifstream probe(export_file, std::ios::binary); !probe)
        throw std::runtime_error(export_file.string() + ": cannot open the PLC export named by resolve.plc_export "
                                                        "(does it exist and is it readable?)");
    impl_ = std::make_unique<impl>(std::move(export_file), std::move(index_file), logger);
    // The first job on the index's only thread: every lookup queues behind it.
    asio::post(impl_->thread, [state = impl_.get()] { state->start(); });
}

plc_export_index::~plc_export_index() {
    impl_->stopping = true;
    impl_->thread.join();
}

namespace {
// Takes the function by reference: the caller's temporary lives until its
// co_await completes (GCC 12 destroys by-value class parameters of coroutines twice).
template <class F>
auto invoke(F& fn) -> asio::awaitable<decltype(fn())> {
    co_return fn();
}
}  // namespace

template <class F>
auto plc_export_index::on_thread(F& f) -> asio::awaitable<decltype(f())> {
    co_return co_await asio::co_spawn(impl_->thread.get_executor(), invoke(f), asio::use_awaitable);
}

asio::awaitable<std::optional<resolution>> plc_export_index::lookup(std::string did) {
    auto work = [&] { return impl_->find(did); };
    co_return co_await on_thread(work);
}

asio::awaitable<plc_export_summary> plc_export_index::summary() {
    auto work = [&] { return impl_->result; };
    co_return co_await on_thread(work);
}

}  // namespace bsky::resolve
