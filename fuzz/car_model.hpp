#pragma once
// A CAR file as the structure-aware fuzzer edits it: the header's roots and
// every block, decoded to an editable DAG-CBOR tree where possible. Writing
// it back re-encodes each block and recomputes every CID bottom-up (links
// first, then the block that names them, then the roots), so a mutated repo
// still passes the reader's per-block SHA-256 check and reaches the commit,
// MST and record code behind it.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cbor/value.hpp"

namespace bsky::fuzz {

/// An editable DAG-CBOR value. Links and bytes keep their binary form in `text`.
struct value {
    cbor::kind type = cbor::kind::null;
    bool flag = false;
    std::uint64_t number = 0;  ///< unsigned value, or n for the negative integer -1 - n
    double real = 0;
    std::string text;                ///< string, bytes, or link (binary CID, without the 0x00 prefix)
    std::vector<std::string> keys;   ///< map keys, one per item
    std::vector<value> items;        ///< array elements or map values

    value* find(std::string_view key);
    void set(std::string_view key, value v);
    void erase(std::string_view key);
};

value make_text(std::string_view s);
value make_bytes(std::string_view s);
value make_int(std::int64_t v);
value make_link(std::string_view cid_bytes);
value make_map();

struct block {
    std::string id;          ///< binary CID as read from the file
    std::uint64_t codec = 0; ///< from the CID, kept when the CID is recomputed
    bool decoded = false;    ///< `tree` holds the block; otherwise `raw` does
    value tree;
    std::string raw;
};

struct car_model {
    std::vector<std::string> roots;  ///< binary CIDs
    std::vector<block> blocks;
};

/// Splits a CAR v1 file into its roots and blocks; nullopt when it is not one.
std::optional<car_model> parse_car(std::span<const std::uint8_t> bytes);

/// Re-encodes every block canonically (map keys sorted), gives each block the
/// CIDv1 sha2-256 of its new bytes and rewrites every link to it.
std::vector<std::uint8_t> write_car(const car_model& car);

/// One value's canonical DAG-CBOR, links as they are.
std::vector<std::uint8_t> encode_value(const value& v);

}  // namespace bsky::fuzz
