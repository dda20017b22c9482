#pragma once
// The JSONL sink: {output_dir}/{type}/part-NNNNNN.jsonl, one record a line,
// a new part past `rotate_bytes`. A DID's lines wait in
// {output_dir}/.staging/<did>/<type>.jsonl; commit() first writes a journal
// of each part file's length, then appends and fsyncs, then renames the
// staging directory away in one step (and deletes it). Recovery truncates the parts back to the journal and
// appends again, so no line is ever written twice or half.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "export/sink.hpp"

namespace bsky::exporter {

class jsonl_files final : public sink {
public:
    jsonl_files(std::filesystem::path output_dir, std::uint64_t rotate_bytes);

    void stage(const std::string& type, const std::string& did, const std::string& lines, std::size_t count,
               std::size_t batch_size, const std::string& rev) override;
    void commit(const std::string& did, const std::set<std::string>& types) override;
    void discard(const std::string& did) override;
    void roll_forward(const std::string& did) override;
    void recover(const std::vector<std::string>& committing) override;
    bool wants_lines() const noexcept override { return true; }

private:
    std::filesystem::path staging_dir(const std::string& did) const;
    std::filesystem::path current_part(const std::string& type);
    void apply(const std::string& did);

    std::filesystem::path dir_;
    std::uint64_t rotate_bytes_;
};

}  // namespace bsky::exporter
