#include "resolve/did_document.hpp"

#include "syntax/syntax.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace bsky::resolve {

namespace json = boost::json;

namespace {

// "#frag" or "did…#frag" naming this DID.
// atproto documents list a handful; thousands are an attack on our time.
constexpr std::size_t max_list_entries = 32;

bool too_long(const json::object& obj, const char* field, std::string& why) {
    auto* list = obj.if_contains(field);
    if (!list || !list->is_array() || list->get_array().size() <= max_list_entries) return false;
    why = "the DID document's '" + std::string(field) + "' lists " + std::to_string(list->get_array().size()) + " entries; at most " +
          std::to_string(max_list_entries) + " are accepted";
    return true;
}

bool names_fragment(std::string_view id, std::string_view did, std::string_view fragment) {
    if (id == fragment) return true;
    return id.size() == did.size() + fragment.size() && id.starts_with(did) && id.ends_with(fragment);
}

}  // namespace

std::optional<did_document> parse_did_document(std::string_view text, std::string_view expected_did, std::string& why) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec) {
        why = "the DID document is not valid JSON: " + ec.message();
        return std::nullopt;
    }
    if (!doc.is_object()) {
        why = "the DID document is not a JSON object";
        return std::nullopt;
    }
    const auto& obj = doc.get_object();
    auto* id = obj.if_contains("id");
    if (!id || !id->is_string() || !syntax::is_did(id->get_string())) {
        why = "the DID document's 'id' is missing or not a DID";
        return std::nullopt;
    }
    for (auto field : {"alsoKnownAs", "service", "verificationMethod"})
        if (too_long(obj, field, why)) return std::nullopt;
    did_document out;
    out.did = std::string(id->get_string());
    if (!expected_did.empty() && out.did != expected_did) {
        why = "the DID document's 'id' is " + out.did + ", not the DID asked for (" + std::string(expected_did) + ")";
        return std::nullopt;
    }
    if (auto* aka = obj.if_contains("alsoKnownAs"); aka && aka->is_array()) {
        for (const auto& a : aka->get_array()) {
            if (a.is_string() && a.get_string().starts_with("at://")) {
                auto h = std::string_view(a.get_string()).substr(5);
                if (syntax::is_handle(h)) out.handle = std::string(h);
                break;
            }
        }
    }
    if (auto* services = obj.if_contains("service"); services && services->is_array()) {
        for (const auto& s : services->get_array()) {
            if (!s.is_object()) continue;
            auto* sid = s.get_object().if_contains("id");
            auto* type = s.get_object().if_contains("type");
            auto* endpoint = s.get_object().if_contains("serviceEndpoint");
            if (!sid || !sid->is_string() || !names_fragment(sid->get_string(), out.did, "#atproto_pds")) continue;
            if (!type || !type->is_string() || type->get_string() != "AtprotoPersonalDataServer") {
                why = "the DID document's #atproto_pds service is not of type AtprotoPersonalDataServer";
                return std::nullopt;
            }
            if (!endpoint || !endpoint->is_string()) {
                why = "the DID document's #atproto_pds service has no string serviceEndpoint";
                return std::nullopt;
            }
            std::string url(endpoint->get_string());
            if (!(url.starts_with("https://") || url.starts_with("http://")) || url.size() > 2048) {
                why = "the DID document's PDS endpoint is not an http(s) URL: " + url.substr(0, 200);
                return std::nullopt;
            }
            while (url.ends_with('/')) url.pop_back();
            out.pds_endpoint = std::move(url);
            break;
        }
    }
    if (auto* methods = obj.if_contains("verificationMethod"); methods && methods->is_array()) {
        for (const auto& m : methods->get_array()) {
            if (!m.is_object()) continue;
            const auto& vm = m.get_object();
            auto* mid = vm.if_contains("id");
            if (!mid || !mid->is_string() || !names_fragment(mid->get_string(), out.did, "#atproto")) continue;
            auto* type = vm.if_contains("type");
            auto* key = vm.if_contains("publicKeyMultibase");
            if (!type || !type->is_string() || !key || !key->is_string()) {
                why = "the DID document's #atproto verification method lacks type or publicKeyMultibase";
                return std::nullopt;
            }
            out.signing_key = crypto::parse_verification_method(type->get_string(), key->get_string());
            if (!out.signing_key) {
                why = "the DID document's #atproto key (" + std::string(type->get_string()) + ") cannot be decoded";
                return std::nullopt;
            }
            break;
        }
    }
    return out;
}

}  // namespace bsky::resolve
