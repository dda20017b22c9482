// MST node decoding and the walk's bookkeeping: arbitrary bytes as a node
// block, then as each child the node names, must never crash. The walker
// reads nodes with its own reader: whatever it accepts must also be valid
// DAG-CBOR to the strict generic decoder.
#include "cbor/decoder.hpp"
#include "mst/mst.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto root = *bsky::cid::cid::from_string("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
    bsky::mst::walker walker(root);
    std::string detail;
    // Feed the same bytes to every node the walk asks for, a bounded number of times.
    for (int steps = 0; steps < 64 && !walker.done(); ++steps) {
        if (walker.next_is_record()) {
            if (walker.take_record(detail)) break;
            continue;
        }
        if (walker.expand_node({data, size}, detail)) break;
        bsky::cbor::document doc;
        if (bsky::cbor::decode({data, size}, doc)) std::abort();  // accepted a node the strict decoder refuses
    }
    return 0;
}
