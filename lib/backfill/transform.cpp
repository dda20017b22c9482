#include "backfill/transform.hpp"

#include "cbor/dag_json.hpp"

#include <array>
#include <initializer_list>

namespace bsky::backfill {

namespace {

void write_key(std::string_view key, bool& first, std::string& out) {
    if (!first) out.push_back(',');
    first = false;
    cbor::write_json_string(key, out);
    out.push_back(':');
}

void write_as_json_string(cbor::value_ref v, std::string& out) {
    std::string inner;
    cbor::write_dag_json(v, inner);
    cbor::write_json_string(inner, out);
}

void write_joined(cbor::value_ref v, std::string& out) {
    if (!v.is(cbor::kind::array)) {
        out += "null";
        return;
    }
    std::string joined;
    bool first = true;
    for (auto item : v) {
        if (!item.is(cbor::kind::string)) continue;
        if (!first) joined.push_back(',');
        first = false;
        joined += item.as_string();
    }
    cbor::write_json_string(joined, out);
}

// Each pair: the literal before a field's value (fixed names need no
// escaping) and the value, a JSON string.
void write_named_strings(std::initializer_list<std::pair<std::string_view, std::string_view>> fields, std::string& out) {
    for (const auto& [name, text] : fields) {
        out += name;
        cbor::write_json_string(text, out);
    }
}

void write_optional_string(const std::optional<std::string_view>& s, std::string& out) {
    if (s) cbor::write_json_string(*s, out);
    else out += "null";
}

constexpr std::array<std::string_view, 5> added_keys{"record_type", "synctimestamp", "uri", "cid", "author"};
constexpr std::array<std::string_view, 5> post_string_keys{"embed", "entities", "facets", "langs", "tags"};

bool one_of(std::string_view key, const auto& keys) {
    for (auto k : keys)
        if (k == key) return true;
    return false;
}

}  // namespace

void write_pipeline_record(cbor::value_ref value, const record_meta& meta, std::string& out) {
    const bool post_like = meta.record_type == "post" || meta.record_type == "reply";
    const bool subject_as_json = meta.record_type == "like" || meta.record_type == "repost";
    out.push_back('{');
    bool first = true;
    if (value.is(cbor::kind::map)) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            auto key = (*it).as_string();
            ++it;
            auto field = *it;
            if (one_of(key, added_keys)) continue;  // ours win over same-named record fields
            if (post_like && one_of(key, post_string_keys)) continue;  // written below, in a fixed form
            write_key(key, first, out);
            if ((key == "reply" && meta.record_type == "reply") || (key == "subject" && subject_as_json))
                write_as_json_string(field, out);
            else
                cbor::write_dag_json(field, out);
        }
    }
    if (post_like) {
        for (auto key : {std::string_view("embed"), std::string_view("entities"), std::string_view("facets")}) {
            write_key(key, first, out);
            auto field = value[key];
            if (field.valid() && !field.is_null()) write_as_json_string(field, out);
            else out += "null";
        }
        write_key("langs", first, out);
        write_joined(value["langs"], out);
        write_key("tags", first, out);
        write_joined(value["tags"], out);
    }
    out += first ? "\"record_type\":" : ",\"record_type\":";
    cbor::write_json_string(meta.record_type, out);
    out += ",\"synctimestamp\":";
    write_optional_string(meta.synctimestamp, out);
    write_named_strings({{",\"uri\":", meta.uri}, {",\"cid\":", meta.cid}, {",\"author\":", meta.author}}, out);
    out.push_back('}');
}

void write_raw_record(cbor::value_ref value, const record_meta& meta, std::string& out) {
    write_named_strings({{"{\"uri\":", meta.uri},
                         {",\"cid\":", meta.cid},
                         {",\"author\":", meta.author},
                         {",\"collection\":", meta.collection},
                         {",\"rkey\":", meta.rkey},
                         {",\"record_type\":", meta.record_type}},
                        out);
    out += ",\"synctimestamp\":";
    write_optional_string(meta.synctimestamp, out);
    out += ",\"rev\":";
    cbor::write_json_string(meta.rev, out);
    out += ",\"record\":";
    cbor::write_dag_json(value, out);
    out.push_back('}');
}

}  // namespace bsky::backfill
