#include "resolve/resolver.hpp"

#include "resolve/plc_export.hpp"
#include "syntax/syntax.hpp"

namespace bsky::resolve {

namespace asio = boost::asio;

std::string document_url(const std::string& did, const std::string& plc_url) {
    if (syntax::is_did_plc(did)) return plc_url + "/" + did;
    if (syntax::is_did_web(did)) {
        std::string host = did.substr(8);
        if (auto pct = host.find('%'); pct != std::string::npos) host = host.substr(0, pct) + ":" + host.substr(pct + 3);
        return "https://" + host + "/.well-known/did.json";
    }
    return {};
}

void resolver::attach_metrics(metrics::registry& registry) {
    cache_lookups_ = &registry.counter("bsky_resolver_cache_total", "DID lookups answered from the resolver's cache (hit) or not (miss)", "result");
    // Both series from the start, so a rate over them is defined before the first hit.
    cache_lookups_->add("hit", 0);
    cache_lookups_->add("miss", 0);
    auto& entries = registry.gauge("bsky_resolver_cache_entries", "DID documents (and not-found answers) the resolver's cache holds");
    registry.on_scrape([this, &entries] { entries.set(static_cast<double>(cached_entries())); });
}

asio::awaitable<resolution> resolver::resolve(std::string did) {
    auto now = std::chrono::steady_clock::now();
    if (auto it = cache_.find(did); it != cache_.end()) {
        if (it->second.expires > now) {
            if (cache_lookups_) cache_lookups_->add("hit");
            auto hit = it->second.value;
            hit.from_cache = true;
            co_return hit;
        }
        order_.erase(it->second.position);
        cache_.erase(it);
    }
    if (cache_lookups_) cache_lookups_->add("miss");
    std::optional<resolution> known;
    if (plc_export_ && syntax::is_did_plc(did)) known = co_await plc_export_->lookup(did);
    resolution out;
    if (known) out = std::move(*known);
    else out = co_await fetch_document(did);
    const auto& pds = out.document ? out.document->pds_endpoint : std::nullopt;
    if (out.status == resolve_status::ok && pds && pds->starts_with("http://") && !params_.allow_insecure_http) {
        out.status = resolve_status::failed;
        out.detail = did + ": the PDS endpoint " + pds->substr(0, 200) +
                     " is plain http; repos are fetched over https only (set allow_insecure_http: true for a lab network)";
        out.document.reset();
    }
    if (out.status != resolve_status::failed) {
        // A concurrent resolve of the same DID may have cached it meanwhile: replace it.
        if (auto it = cache_.find(did); it != cache_.end()) {
            order_.erase(it->second.position);
            cache_.erase(it);
        }
        while (cache_.size() >= params_.cache_max_entries && !order_.empty()) {
            cache_.erase(order_.front());
            order_.pop_front();
        }
        auto position = order_.insert(order_.end(), did);
        cache_.emplace(did, entry{out, now + params_.cache_ttl, position});
    }
    co_return out;
}

asio::awaitable<resolution> resolver::fetch_document(const std::string& did) {
    resolution out;
    auto url = document_url(did, params_.plc_url);
    if (url.empty()) {
        out.detail = "'" + did.substr(0, 100) + "' is not a did:plc or did:web DID";
        co_return out;
    }
    std::string body;
    bool too_large = false;
    auto limit = params_.max_document_bytes;
    auto result = co_await fetcher_.get(url, net::authority_of(url), [&]() -> net::body_sink {
        body.clear();
        return [&, limit](std::span<const std::uint8_t> bytes) -> std::error_code {
            if (body.size() + bytes.size() > limit) {
                too_large = true;
                return net::make_error_code(net::error::body_too_large);
            }
            body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            return {};
        };
    });
    auto status = result.resp.status;
    if (result.ec) {
        out.detail = too_large ? "the DID document at " + url + " is larger than " + std::to_string(limit) + " bytes"
                               : "fetching " + url + ": " + result.detail;
    } else if (status == 404 || status == 410) {
        out.status = resolve_status::not_found;
        out.detail = did + " is not found at " + url + " (HTTP " + std::to_string(status) + ")";
    } else if (status != 200) {
        out.detail = "fetching " + url + ": HTTP " + std::to_string(status);
    } else {
        std::string why;
        if (auto doc = parse_did_document(body, did, why)) {
            out.status = resolve_status::ok;
            out.document = std::move(*doc);
        } else {
            out.detail = url + ": " + why;
        }
    }
    co_return out;
}

}  // namespace bsky::resolve
