#pragma once
// Test helpers: fixture paths and readers, and a DAG-JSON -> DAG-CBOR encoder
// used only to cross-check the product's decoder against the vectors.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace bsky::test {

std::filesystem::path fixture(const std::string& relative);
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path);
std::string read_text(const std::filesystem::path& path);
boost::json::value read_json(const std::filesystem::path& path);
/// Non-blank lines that do not start with '#'.
std::vector<std::string> vector_lines(const std::filesystem::path& path);
std::vector<std::uint8_t> from_hex(const std::string& hex);
std::string to_hex(const std::vector<std::uint8_t>& bytes);

enum class link_style { atproto, ipld };  ///< {"$link"}/{"$bytes"} or {"/": ...}
/// Canonical DAG-CBOR for a JSON value; throws on anything unrepresentable.
std::vector<std::uint8_t> json_to_dag_cbor(const boost::json::value& v, link_style style);

}  // namespace bsky::test
