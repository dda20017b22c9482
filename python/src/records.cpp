// The original service's record rules on one record at a time, through the
// same lib/backfill code the pipeline uses. Records come in as JSON text (the
// Python layer serialises dicts, CIDs as {"$link"}, bytes as {"$bytes"}) and
// are encoded to DAG-CBOR first, so they meet exactly the rules a record read
// from a repo meets.
#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <pybind11/stl.h>

#include "backfill/classify.hpp"
#include "backfill/settings.hpp"
#include "backfill/transform.hpp"
#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/cid.hpp"
#include "cid/multibase.hpp"
#include "core.hpp"
#include "syntax/datetime.hpp"

namespace bsky::python {

namespace {

namespace json = boost::json;

void encode(const json::value& v, cbor::encoder& enc) {
    switch (v.kind()) {
        case json::kind::null: enc.null(); return;
        case json::kind::bool_: enc.boolean(v.get_bool()); return;
        case json::kind::int64: enc.integer(v.get_int64()); return;
        case json::kind::uint64: enc.unsigned_int(v.get_uint64()); return;
        case json::kind::double_: enc.float64(v.get_double()); return;
        case json::kind::string: enc.text(v.get_string()); return;
        case json::kind::array:
            enc.array_header(v.get_array().size());
            for (const auto& e : v.get_array()) encode(e, enc);
            return;
        case json::kind::object: break;
    }
    const auto& o = v.get_object();
    if (o.size() == 1 && o.contains("$link") && o.at("$link").is_string()) {
        auto c = cid::cid::from_string(o.at("$link").get_string());
        if (!c) throw py::value_error("{\"$link\": \"" + std::string(o.at("$link").get_string()) + "\"} is not a CID");
        enc.link(*c);
        return;
    }
    if (o.size() == 1 && o.contains("$bytes") && o.at("$bytes").is_string()) {
        auto b = cid::base64_decode(o.at("$bytes").get_string());
        if (!b) throw py::value_error("{\"$bytes\": ...} is not base64");
        enc.bytes(*b);
        return;
    }
    std::vector<std::string_view> keys;
    for (const auto& kv : o) keys.push_back(kv.key());
    std::sort(keys.begin(), keys.end(), [](std::string_view a, std::string_view b) { return cbor::canonical_key_less(a, b); });
    enc.map_header(keys.size());
    for (auto k : keys) {
        enc.text(k);
        encode(o.at(k), enc);
    }
}

// A record as the reader would hand it over: its DAG-CBOR bytes, decoded.
struct record {
    std::vector<std::uint8_t> bytes;
    cbor::document doc;

    explicit record(const std::string& json_text) {
        json::value v;
        try {
            v = json::parse(json_text);
        } catch (const std::exception& e) {
            throw py::value_error(std::string("the record is not JSON: ") + e.what());
        }
        cbor::encoder enc(bytes);
        encode(v, enc);
        if (auto ec = cbor::decode(bytes, doc)) throw py::value_error("the record is not valid DAG-CBOR: " + ec.message());
    }
};

backfill::time_range parse_range(const std::string& start, const std::string& end) {
    auto s = syntax::parse_pipeline_timestamp(start);
    auto e = syntax::parse_pipeline_timestamp(end);
    if (!s) throw configuration_error("start_timestamp '" + start + "' is not in the pipeline format %Y-%m-%d-%H:%M:%S");
    if (!e) throw configuration_error("end_timestamp '" + end + "' is not in the pipeline format %Y-%m-%d-%H:%M:%S");
    return {*s, *e};
}

// (type, invalid_reason): what the pipeline counts the record as.
std::pair<std::string, std::string> record_type(const std::string& collection, const std::string& json_text) {
    record r(json_text);
    auto kind = backfill::record_type(collection, r.doc.root());
    return {kind.type, kind.invalid_reason};
}

// (synctimestamp or None, in_range, invalid_reason) for the record's createdAt.
std::tuple<std::optional<std::string>, bool, std::string> synctimestamp(const std::string& json_text, const std::string& start,
                                                                        const std::string& end) {
    record r(json_text);
    auto s = backfill::compute_synctimestamp(r.doc.root()["createdAt"], parse_range(start, end));
    std::optional<std::string> value;
    if (s.value) value = std::string(s.value->view());
    return {value, s.in_range, s.invalid_reason};
}

std::string default_synctimestamp(const std::string& timestamp) {
    auto t = syntax::parse_pipeline_timestamp(timestamp);
    if (!t) t = syntax::parse_created_at(timestamp);
    if (!t) throw py::value_error("'" + timestamp + "' is neither a createdAt nor a pipeline timestamp");
    return std::string(syntax::pipeline_timestamp_of(backfill::default_synctimestamp(*t)).view());
}

std::vector<std::string> configured_types(std::optional<std::vector<std::string>> types) {
    run_options o;
    o.types = std::move(types);
    o.output_dir = ".";
    auto params = backfill::pipeline_settings(make_config(o));
    return {params.record_types.begin(), params.record_types.end()};
}

struct transform_args {
    std::string uri, cid, author, collection, rkey, record_type, rev;
    std::optional<std::string> synctimestamp;
};

std::string transform(const std::string& json_text, const transform_args& a, bool pipeline_format) {
    record r(json_text);
    backfill::record_meta meta{a.uri, a.cid, a.author, a.collection, a.rkey, a.record_type,
                               a.synctimestamp ? std::optional<std::string_view>(*a.synctimestamp) : std::nullopt, a.rev};
    std::string out;
    if (pipeline_format) backfill::write_pipeline_record(r.doc.root(), meta, out);
    else backfill::write_raw_record(r.doc.root(), meta, out);
    return out;
}

}  // namespace

void bind_records(py::module_& m) {
    m.def("record_type", &record_type, py::arg("collection"), py::arg("record_json"));
    m.def("synctimestamp", &synctimestamp, py::arg("record_json"), py::arg("start"), py::arg("end"));
    m.def("default_synctimestamp", &default_synctimestamp, py::arg("timestamp"));
    m.def("configured_types", &configured_types, py::arg("types") = py::none());
    m.def(
        "transform",
        [](const std::string& json_text, std::string uri, std::string cid, std::string author, std::string collection,
           std::string rkey, std::string type, std::optional<std::string> sync, std::string rev, bool pipeline_format) {
            transform_args a{std::move(uri), std::move(cid), std::move(author), std::move(collection), std::move(rkey),
                             std::move(type), std::move(rev), std::move(sync)};
            return transform(json_text, a, pipeline_format);
        },
        py::arg("record_json"), py::arg("uri"), py::arg("cid"), py::arg("author"), py::arg("collection"), py::arg("rkey"),
        py::arg("record_type"), py::arg("synctimestamp"), py::arg("rev"), py::arg("pipeline_format"));
}

}  // namespace bsky::python
