#pragma once
// The repos a fake network serves: template CARs re-rooted under a per-DID
// (unsigned) commit, so every DID has its own record URIs while the blocks
// of the tree are stored once per template.
#include "cid/cid.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bsky::test {

/// A template's tree: every block of the CAR except its commit, as CAR sections.
struct repo_template {
    std::string name;
    cid::cid data_root;  ///< what the commit's `data` links to
    std::string tree_sections;
};

/// Reads a CAR file; throws std::runtime_error naming the file when it is not a repo.
repo_template load_repo_template(const std::string& name, const std::filesystem::path& car_file);

/// A did:plc derived from (seed, index): 24 base32 characters of a SHA-256.
std::string fake_did(const std::string& seed, std::size_t index);

/// The CAR header and the DID's commit section; the template's tree_sections follow it.
std::string car_head_for(const std::string& did, const repo_template& tree);

}  // namespace bsky::test
