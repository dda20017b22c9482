#pragma once
// did:plc resolution from a local copy of the PLC directory's /export (JSON
// lines of operations, oldest first): indexed once into SQLite on the index's
// own thread, so a list of millions of DIDs needs no directory request per DID.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "log/log.hpp"
#include "resolve/resolver.hpp"

namespace bsky::resolve {

/// One export line reduced to what resolution needs; empty strings mean "none".
struct plc_export_op {
    std::string did;
    bool nullified = false;
    bool tombstone = false;
    std::string pds_endpoint;  ///< services.atproto_pds.endpoint (or a legacy create's `service`)
    std::string signing_key;   ///< verificationMethods.atproto (or a legacy create's `signingKey`), a did:key
    std::string handle;        ///< the first at:// alias, without at://
};

/// Parses one line of /export; nullopt with `why` (a sentence) for a malformed line.
std::optional<plc_export_op> parse_plc_export_line(std::string_view line, std::string& why);

/// The DID's latest operation as a resolution: ok with a document checked like
/// a fetched one, not_found for a tombstone, failed when the entry is unusable.
resolution resolution_from_export(const plc_export_op& op);

struct plc_export_summary {
    bool usable = false;   ///< lookups answer from the index (else they all miss)
    bool rebuilt = false;  ///< this start-up indexed the export (else it reused the index)
    std::uint64_t lines = 0, operations = 0, nullified = 0, malformed = 0, dids = 0;
    std::string error;  ///< why the index is not usable
};

/// @par Thread Safety
/// lookup() and summary() may be awaited from any executor; SQLite runs only
/// on the index's thread.
class plc_export_index {
public:
    /// Starts (on the index thread) reusing `index_file` if it was built from
    /// this export's size and mtime, else rebuilding it. Throws
    /// std::runtime_error when the export cannot be read (a start-up error).
    plc_export_index(std::filesystem::path export_file, std::filesystem::path index_file, log::logger& logger);
    ~plc_export_index();
    plc_export_index(const plc_export_index&) = delete;
    plc_export_index& operator=(const plc_export_index&) = delete;

    /// What the export says of `did`, once the index is ready; nullopt when
    /// the export does not name it (or no index could be built): ask the directory.
    boost::asio::awaitable<std::optional<resolution>> lookup(std::string did);
    /// Waits for the index; what the start-up did.
    boost::asio::awaitable<plc_export_summary> summary();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    template <class F>
    auto on_thread(F& f) -> boost::asio::awaitable<decltype(f())>;
};

}  // namespace bsky::resolve
