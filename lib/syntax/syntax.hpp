#pragma once
// atproto identifier syntax (atproto.com/specs: did, handle, nsid, record-key,
// tid, at-uri). Each check is exact and allocation-free; they are used at every
// trust boundary: DID intake, DID documents, MST keys, and records.
#include <string_view>

namespace bsky::syntax {

bool is_did(std::string_view s) noexcept;
/// did:plc: followed by exactly 24 base32 (a-z, 2-7) characters.
bool is_did_plc(std::string_view s) noexcept;
/// did:web: followed by a hostname (optionally with a %3A-encoded port); no paths.
bool is_did_web(std::string_view s) noexcept;
/// The DIDs this tool can resolve: a valid did:plc or did:web.
bool is_supported_did(std::string_view s) noexcept;
bool is_handle(std::string_view s) noexcept;
/// A DID or a handle.
bool is_at_identifier(std::string_view s) noexcept;
bool is_nsid(std::string_view s) noexcept;
bool is_record_key(std::string_view s) noexcept;
bool is_tid(std::string_view s) noexcept;
bool is_at_uri(std::string_view s) noexcept;
/// The atproto datetime profile of RFC 3339 (syntax and calendar validity).
bool is_datetime(std::string_view s) noexcept;
/// The loose string check atproto applies to CID fields (8-256 of
/// [a-zA-Z0-9+=], no CIDv0); cid::cid::from_string does the real parse.
bool is_cid_syntax(std::string_view s) noexcept;
/// An MST key: "collection/rkey" with a valid NSID and record key, at most 1024 bytes.
bool is_repo_path(std::string_view s) noexcept;

/// A name the sinks may turn into a file or directory name, an SQLite file
/// name or a NATS subject token: 1-63 ASCII letters and digits, the first a
/// letter (exactly an NSID's last segment). The one place this rule lives:
/// record types, configured types and every sink check it.
bool is_output_name(std::string_view s) noexcept;

/// An IPv4 dotted quad or an IPv6 address (no brackets, no zone).
bool is_ip_address(std::string_view text) noexcept;

}  // namespace bsky::syntax
