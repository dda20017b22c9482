#pragma once
// DID documents (W3C DID Core as atproto uses it): the PDS endpoint and the
// repo signing key, with every check a hostile document calls for.
#include <optional>
#include <string>
#include <string_view>

#include "crypto/did_key.hpp"

namespace bsky::resolve {

struct did_document {
    std::string did;
    std::optional<std::string> handle;            ///< first at:// alias, unverified
    std::optional<std::string> pds_endpoint;      ///< service "#atproto_pds" of type AtprotoPersonalDataServer
    std::optional<crypto::public_key> signing_key;  ///< verification method "#atproto"
};

/// Parses and checks a document. `expected_did` (when not empty) must equal
/// its `id`. On failure returns nullopt and sets `why` to a sentence naming
/// the field.
std::optional<did_document> parse_did_document(std::string_view json, std::string_view expected_did, std::string& why);

}  // namespace bsky::resolve
