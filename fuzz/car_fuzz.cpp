// CAR reader + commit + MST walk: arbitrary bytes, fed in chunks whose sizes
// come from the input itself, must end in a clean error or a clean finish.
#include "repo/repo_reader.hpp"

#include <algorithm>

namespace {
struct null_sink final : bsky::repo::record_sink {
    std::error_code on_record(const bsky::repo::record_view& r) override {
        // Touch the value so the decoder's views are exercised.
        volatile auto n = r.value.size() + r.path.size();
        (void)n;
        return {};
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    null_sink sink;
    bsky::repo::repo_reader reader(sink, {.spill_threshold_bytes = 4096, .max_block_bytes = 1 << 16, .allow_partial = (data[0] & 1) != 0});
    std::size_t chunk = 1 + data[0] % 61;
    std::error_code ec;
    for (std::size_t pos = 1; pos < size && !ec; pos += chunk) ec = reader.put({data + pos, std::min(chunk, size - pos)});
    if (!ec) (void)reader.finish();
    return 0;
}
