#pragma once
// A DID list into the state store: valid DIDs recorded durably in chunks
// (lists may hold tens of millions), duplicates removed, every rejected line
// kept with its place and reason for the summary. Nothing is held whole.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "export/exporter.hpp"
#include "log/log.hpp"

namespace bsky::service {

struct intake_totals {
    std::size_t accepted = 0;    ///< DIDs new to the batch
    std::size_t duplicates = 0;  ///< valid DIDs already in it
    std::size_t rejected = 0;    ///< lines that are not DIDs
};

/// Reads lines from `next_line` (false at the end) as the list format of
/// `source` (its extension: .txt, .csv, .jsonl) and records them in `batch`.
boost::asio::awaitable<void> record_lines(exporter::exporter& exporter, std::int64_t batch, std::string source,
                                          std::function<bool(std::string& line)> next_line, log::logger& logger,
                                          intake_totals& totals);

}  // namespace bsky::service
