#include "car_model.hpp"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "cbor/decoder.hpp"
#include "cbor/encoder.hpp"
#include "cid/cid.hpp"
#include "cid/varint.hpp"
#include "crypto/sha256.hpp"

namespace bsky::fuzz {

value* value::find(std::string_view key) {
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == key) return &items[i];
    return nullptr;
}

void value::set(std::string_view key, value v) {
    if (auto* existing = find(key)) {
        *existing = std::move(v);
        return;
    }
    keys.emplace_back(key);
    items.push_back(std::move(v));
}

void value::erase(std::string_view key) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (keys[i] != key) continue;
        keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
        items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
        return;
    }
}

value make_text(std::string_view s) {
    value v;
    v.type = cbor::kind::string;
    v.text = s;
    return v;
}

value make_bytes(std::string_view s) {
    value v = make_text(s);
    v.type = cbor::kind::bytes;
    return v;
}

value make_int(std::int64_t n) {
    value v;
    v.type = n < 0 ? cbor::kind::negative_int : cbor::kind::unsigned_int;
    v.number = n < 0 ? static_cast<std::uint64_t>(-1 - n) : static_cast<std::uint64_t>(n);
    return v;
}

value make_link(std::string_view cid_bytes) {
    value v = make_text(cid_bytes);
    v.type = cbor::kind::link;
    return v;
}

value make_map() {
    value v;
    v.type = cbor::kind::map;
    return v;
}

namespace {

value from_cbor(cbor::value_ref in) {
    value v;
    v.type = in.type();
    const auto& n = in.doc()->at(in.index());
    switch (v.type) {
        case cbor::kind::boolean: v.flag = n.flag; break;
        case cbor::kind::unsigned_int:
        case cbor::kind::negative_int: v.number = n.number; break;
        case cbor::kind::float64: v.real = n.real; break;
        case cbor::kind::bytes:
        case cbor::kind::string:
        case cbor::kind::link: v.text.assign(reinterpret_cast<const char*>(n.data), n.size); break;
        case cbor::kind::array:
            for (auto child : in) v.items.push_back(from_cbor(child));
            break;
        case cbor::kind::map:
            for (auto it = in.begin(); it != in.end(); ++it) {
                v.keys.emplace_back((*it).as_string());
                ++it;
                v.items.push_back(from_cbor(*it));
            }
            break;
        case cbor::kind::null: break;
    }
    return v;
}

bool read_length(std::span<const std::uint8_t> bytes, std::size_t& pos, std::uint64_t& length) {
    auto r = cid::read_varint(bytes.subspan(pos));
    if (r.status != cid::varint_status::ok || r.value > bytes.size() - pos - r.length) return false;
    length = r.value;
    pos += r.length;
    return true;
}

class writer {
public:
    explicit writer(const car_model& car)
        : car_(car), ids_(car.blocks.size()), bytes_(car.blocks.size()), state_(car.blocks.size(), fresh) {
        for (std::size_t i = car.blocks.size(); i-- > 0;) index_[car.blocks[i].id] = i;
    }

    std::vector<std::uint8_t> write() {
        std::vector<std::uint8_t> out, header;
        cbor::encoder e(header);
        e.map_header(2);
        e.text("roots");
        e.array_header(car_.roots.size());
        for (const auto& root : car_.roots) link(e, root);
        e.text("version");
        e.unsigned_int(1);
        section(out, {}, header);
        for (std::size_t i = 0; i < car_.blocks.size(); ++i) {
            const auto& id = new_id(i);
            section(out, std::span(reinterpret_cast<const std::uint8_t*>(id.data()), id.size()), bytes_[i]);
        }
        return out;
    }

    /// Canonical DAG-CBOR; links to blocks of the CAR get their new CIDs.
    void encode(cbor::encoder& e, const value& v) {
        switch (v.type) {
            case cbor::kind::null: e.null(); return;
            case cbor::kind::boolean: e.boolean(v.flag); return;
            case cbor::kind::unsigned_int: e.head(0, v.number); return;
            case cbor::kind::negative_int: e.head(1, v.number); return;
            case cbor::kind::float64: e.float64(v.real); return;
            case cbor::kind::bytes: e.bytes({reinterpret_cast<const std::uint8_t*>(v.text.data()), v.text.size()}); return;
            case cbor::kind::string: e.text(v.text); return;
            case cbor::kind::link: link(e, v.text); return;
            case cbor::kind::array:
                e.array_header(v.items.size());
                for (const auto& item : v.items) encode(e, item);
                return;
            case cbor::kind::map: {
                std::vector<std::size_t> order(v.keys.size());
                std::iota(order.begin(), order.end(), std::size_t{0});
                std::stable_sort(order.begin(), order.end(),
                                 [&](std::size_t a, std::size_t b) { return cbor::canonical_key_less(v.keys[a], v.keys[b]); });
                e.map_header(v.keys.size());
                for (auto i : order) {
                    e.text(v.keys[i]);
                    encode(e, v.items[i]);
                }
                return;
            }
        }
    }

private:
    enum state : std::uint8_t { fresh, in_progress, finished };

    // The block's new CID, after those of every block it links to: a link
    // that closes a cycle (a mutation can make one) keeps its old CID.
    const std::string& new_id(std::size_t i) {
        if (state_[i] == finished) return ids_[i];
        state_[i] = in_progress;
        const auto& b = car_.blocks[i];
        std::vector<std::uint8_t> out;
        if (b.decoded) {
            cbor::encoder e(out);
            encode(e, b.tree);
        } else {
            out.assign(b.raw.begin(), b.raw.end());
        }
        auto id = cid::cid::make_v1_sha256(b.codec, crypto::sha256(out));
        ids_[i].assign(reinterpret_cast<const char*>(id.bytes().data()), id.bytes().size());
        bytes_[i] = std::move(out);
        state_[i] = finished;
        return ids_[i];
    }

    void link(cbor::encoder& e, const std::string& old) {
        const std::string* id = &old;
        if (auto it = index_.find(old); it != index_.end() && state_[it->second] != in_progress) id = &new_id(it->second);
        // Every link came from a decoded block or a block's CID, so it parses.
        if (auto c = cid::cid::from_bytes({reinterpret_cast<const std::uint8_t*>(id->data()), id->size()})) e.link(*c);
        else e.null();
    }

    static void section(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> id, std::span<const std::uint8_t> body) {
        std::uint8_t varint[10];
        out.insert(out.end(), varint, varint + cid::write_varint(id.size() + body.size(), varint));
        out.insert(out.end(), id.begin(), id.end());
        out.insert(out.end(), body.begin(), body.end());
    }

    const car_model& car_;
    std::unordered_map<std::string, std::size_t> index_;
    std::vector<std::string> ids_;
    std::vector<std::vector<std::uint8_t>> bytes_;
    std::vector<state> state_;
};

}  // namespace

std::optional<car_model> parse_car(std::span<const std::uint8_t> bytes) {
    car_model car;
    std::size_t pos = 0;
    std::uint64_t length = 0;
    cbor::document doc;
    if (!read_length(bytes, pos, length) || cbor::decode(bytes.subspan(pos, length), doc)) return std::nullopt;
    pos += length;
    auto roots = doc.root()["roots"];
    if (!roots.is(cbor::kind::array)) return std::nullopt;
    for (auto root : roots)
        if (root.is(cbor::kind::link)) car.roots.emplace_back(reinterpret_cast<const char*>(doc.at(root.index()).data), root.size());
    while (pos < bytes.size()) {
        if (!read_length(bytes, pos, length)) return std::nullopt;
        auto section = bytes.subspan(pos, length);
        pos += length;
        std::size_t used = 0;
        auto id = cid::cid::read_prefix(section, used);
        if (!id) return std::nullopt;
        block b;
        b.id.assign(reinterpret_cast<const char*>(section.data()), used);
        b.codec = id->codec();
        auto body = section.subspan(used);
        if (b.codec == cid::codec_dag_cbor && !cbor::decode(body, doc, {.max_depth = 256})) {
            b.decoded = true;
            b.tree = from_cbor(doc.root());
        } else {
            b.raw.assign(reinterpret_cast<const char*>(body.data()), body.size());
        }
        car.blocks.push_back(std::move(b));
    }
    return car;
}

std::vector<std::uint8_t> write_car(const car_model& car) { return writer(car).write(); }

std::vector<std::uint8_t> encode_value(const value& v) {
    static const car_model no_blocks;
    std::vector<std::uint8_t> out;
    cbor::encoder e(out);
    writer(no_blocks).encode(e, v);
    return out;
}

}  // namespace bsky::fuzz
