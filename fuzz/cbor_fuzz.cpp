// DAG-CBOR decoder: any input either fails cleanly or decodes to a value that
// re-encodes to exactly the input (canonical form is unique) and prints as DAG-JSON.
#include "cbor/dag_json.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bsky::cbor::document doc;
    for (bool floats : {false, true}) {
        if (bsky::cbor::decode({data, size}, doc, {.max_depth = 64, .allow_floats = floats})) continue;
        std::vector<std::uint8_t> again;
        bsky::cbor::encoder(again).value(doc.root());
        if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
        std::string json;
        bsky::cbor::write_dag_json(doc.root(), json);
    }
    return 0;
}
