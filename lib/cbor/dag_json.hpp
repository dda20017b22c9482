#pragma once
// DAG-JSON output: links as {"$link":"b…"}, bytes as {"$bytes":"<base64>"}.
#include <string>
#include <string_view>

#include "cbor/value.hpp"

namespace bsky::cbor {

/// Appends the DAG-JSON form of v to out.
void write_dag_json(value_ref v, std::string& out);
/// Appends s as a quoted, escaped JSON string.
void write_json_string(std::string_view s, std::string& out);

}  // namespace bsky::cbor
