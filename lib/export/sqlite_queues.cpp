#include "export/sqlite_queues.hpp"

#include "cbor/dag_json.hpp"
#include "fault/fault.hpp"
#include "syntax/datetime.hpp"
#include "syntax/syntax.hpp"

#include <chrono>
#include <stdexcept>

namespace bsky::exporter {

namespace {
constexpr std::string_view prefix = "output_backfill_sync_";

std::string now_pipeline() {
    return syntax::format_pipeline_timestamp(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}
}  // namespace

sqlite_queues::sqlite_queues(std::filesystem::path output_dir) : dir_(std::move(output_dir) / "queue") {}

std::filesystem::path sqlite_queues::file_for(const std::string& type) const {
    // The last line of defence: the type becomes part of a file name.
    if (!syntax::is_output_name(type))
        throw std::invalid_argument("sqlite sink: record type '" + type.substr(0, 64) +
                                    "' is not a safe file name (1-63 ASCII letters and digits); nothing written");
    return dir_ / (std::string(prefix) + type + ".db");
}

state::database& sqlite_queues::open(const std::string& type) {
    if (auto it = dbs_.find(type); it != dbs_.end()) return *it->second;
    auto db = std::make_unique<state::database>(file_for(type));
    // One transaction: a crash leaves a new file with all its tables or none.
    state::database::transaction tx(*db);
    db->exec(R"(CREATE TABLE IF NOT EXISTS queue(
        id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT, metadata TEXT, created_at TIMESTAMP, status TEXT DEFAULT 'pending'))");
    db->exec(R"(CREATE TABLE IF NOT EXISTS staging(
        id INTEGER PRIMARY KEY AUTOINCREMENT, did TEXT NOT NULL, payload TEXT, metadata TEXT, created_at TIMESTAMP))");
    db->exec("CREATE INDEX IF NOT EXISTS staging_by_did ON staging(did)");
    tx.commit();
    // Kept only once it has its tables: after a failure above the next call tries again.
    return *(dbs_[type] = std::move(db));
}

std::vector<std::string> sqlite_queues::existing_types() const {
    std::vector<std::string> types;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        auto name = entry.path().filename().string();
        if (!name.starts_with(prefix) || !name.ends_with(".db")) continue;
        auto type = name.substr(prefix.size(), name.size() - prefix.size() - 3);
        if (syntax::is_output_name(type)) types.push_back(type);  // someone else's file otherwise
    }
    return types;
}

void sqlite_queues::stage(const std::string& type, const std::string& did, const std::string& payload, std::size_t records,
                          std::size_t batch_size, const std::string& rev) {
    auto& db = open(type);
    std::string metadata = "{\"batch_size\":" + std::to_string(batch_size) + ",\"actual_batch_size\":" + std::to_string(records) +
                           ",\"did\":";
    cbor::write_json_string(did, metadata);
    metadata += ",\"record_type\":";
    cbor::write_json_string(type, metadata);
    metadata += ",\"rev\":";
    cbor::write_json_string(rev, metadata);
    metadata += "}";
    BSKY_FAULT_POINT("sqlite.stage");
    db.cached("INSERT INTO staging(did, payload, metadata, created_at) VALUES(?, ?, ?, ?)")
        .bind(1, did).bind(2, payload).bind(3, metadata).bind(4, now_pipeline()).run();
}

void sqlite_queues::commit(const std::string& did, const std::set<std::string>& types) { commit_group({{did, types}}); }

void sqlite_queues::commit_group(const std::vector<commit_item>& group) {
    // Per file, the DIDs that have rows in it, in the group's order (the queue's order).
    std::map<std::string, std::vector<const std::string*>> by_type;
    for (const auto& item : group)
        for (const auto& type : item.types) by_type[type].push_back(&item.did);
    for (const auto& [type, dids] : by_type) {
        auto& db = open(type);
        // The move is the commit point of these DIDs for this queue: make it durable.
        state::database::full_sync durable(db);
        state::database::transaction tx(db);
        auto& move = db.cached("INSERT INTO queue(payload, metadata, created_at, status) "
                               "SELECT payload, metadata, created_at, 'pending' FROM staging WHERE did = ? ORDER BY id");
        auto& clear = db.cached("DELETE FROM staging WHERE did = ?");
        for (const auto* did : dids) {
            move.bind(1, *did).run();
            clear.bind(1, *did).run();
        }
        BSKY_FAULT_POINT("sqlite.commit.move");
        tx.commit();
    }
}

void sqlite_queues::roll_forward(const std::string& did) {
    auto types = existing_types();
    commit(did, std::set<std::string>(types.begin(), types.end()));
}

void sqlite_queues::discard(const std::string& did) {
    for (const auto& type : existing_types()) open(type).cached("DELETE FROM staging WHERE did = ?").bind(1, did).run();
}

void sqlite_queues::recover(const std::vector<std::string>& committing) {
    for (const auto& did : committing) roll_forward(did);
    for (const auto& type : existing_types()) {
        BSKY_FAULT_POINT("sqlite.recover.clear-staging");
        open(type).exec("DELETE FROM staging");
    }
}

}  // namespace bsky::exporter
