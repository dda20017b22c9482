#pragma once
// DID -> DID document: did:plc through the PLC directory, did:web through
// https://host/.well-known/did.json; politely fetched, size-capped, validated
// and cached with a TTL and a bound on entries.
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "net/fetcher.hpp"
#include "resolve/did_document.hpp"

namespace bsky::resolve {

struct resolver_params {
    std::string plc_url = "https://plc.directory";
    std::chrono::milliseconds cache_ttl{3'600'000};
    std::size_t cache_max_entries = 100'000;
    std::uint64_t max_document_bytes = 64 * 1024;
    /// Accept a document whose PDS endpoint is plain http:// (a lab or test
    /// network); otherwise such a DID fails, so repos only travel over TLS.
    bool allow_insecure_http = false;
};

enum class resolve_status {
    ok,         ///< a valid document for this DID
    not_found,  ///< the directory or host says the DID does not exist (or is tombstoned): final
    failed,     ///< anything else (unreachable, invalid document, ...), with a reason
};

struct resolution {
    resolve_status status = resolve_status::failed;
    std::optional<did_document> document;
    std::string detail;
    bool from_cache = false;
};

class plc_export_index;

/// The URL a DID's document is fetched from; empty for unsupported or malformed DIDs.
std::string document_url(const std::string& did, const std::string& plc_url);

/// @par Thread Safety
/// Not thread-safe: use it from the event loop thread.
class resolver {
public:
    resolver(net::fetcher& fetcher, resolver_params params) : fetcher_(fetcher), params_(std::move(params)) {}

    boost::asio::awaitable<resolution> resolve(std::string did);

    void set_params(resolver_params params) { params_ = std::move(params); }

    /// did:plc DIDs are asked of `index` first (null: none); a DID it does not name is fetched.
    void use_plc_export(plc_export_index* index) noexcept { plc_export_ = index; }
    /// Documents (and not-found answers) held; never more than cache_max_entries.
    std::size_t cached_entries() const noexcept { return order_.size(); }

    /// Counts lookups the cache answered (`hit`) and those it did not (`miss`:
    /// absent or expired) into `registry`, with the entries held at scrape time.
    /// A low hit rate with a full cache says cache_max_entries is too small.
    void attach_metrics(metrics::registry& registry);

private:
    boost::asio::awaitable<resolution> fetch_document(const std::string& did);

    struct entry {
        resolution value;
        std::chrono::steady_clock::time_point expires;
        std::list<std::string>::iterator position;  ///< in order_
    };
    net::fetcher& fetcher_;
    resolver_params params_;
    std::map<std::string, entry> cache_;
    std::list<std::string> order_;  ///< one element per cache_ entry, oldest first, for eviction
    plc_export_index* plc_export_ = nullptr;
    metrics::family* cache_lookups_ = nullptr;  ///< {result}
};

}  // namespace bsky::resolve
