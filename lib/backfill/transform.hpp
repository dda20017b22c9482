#pragma once
// The output record formats (SPEC §6): `pipeline`, what the original
// service's consumers read, and `raw`.
#include <optional>
#include <string>
#include <string_view>

#include "cbor/value.hpp"

namespace bsky::backfill {

struct record_meta {
    std::string_view uri;          ///< at://did/collection/rkey
    std::string_view cid;
    std::string_view author;       ///< the repo's DID
    std::string_view collection;
    std::string_view rkey;
    std::string_view record_type;  ///< from record_type()
    std::optional<std::string_view> synctimestamp;
    std::string_view rev;
};

/// Appends the pipeline form: the value's fields, with embed/entities/facets
/// (post, reply) and reply (reply) and subject (like, repost) as JSON
/// strings, langs/tags comma-joined, absent post fields as null, then
/// record_type, synctimestamp, uri, cid, author.
void write_pipeline_record(cbor::value_ref value, const record_meta& meta, std::string& out);

/// Appends {"uri","cid","author","collection","rkey","record_type","synctimestamp","rev","record"}.
void write_raw_record(cbor::value_ref value, const record_meta& meta, std::string& out);

}  // namespace bsky::backfill
