#include "support/fixtures.hpp"

#include "cbor/encoder.hpp"
#include "cid/cid.hpp"
#include "cid/multibase.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bsky::test {

std::filesystem::path fixture(const std::string& relative) { return std::filesystem::path(BSKY_FIXTURES_DIR) / relative; }

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path.string());
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string read_text(const std::filesystem::path& path) {
    auto b = read_bytes(path);
    return {b.begin(), b.end()};
}

boost::json::value read_json(const std::filesystem::path& path) { return boost::json::parse(read_text(path)); }

std::vector<std::string> vector_lines(const std::filesystem::path& path) {
    std::istringstream in(read_text(path));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        out.push_back(line);
    }
    return out;
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (auto b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

namespace {

void encode(const boost::json::value& v, link_style style, cbor::encoder& enc) {
    switch (v.kind()) {
        case boost::json::kind::null: enc.null(); return;
        case boost::json::kind::bool_: enc.boolean(v.get_bool()); return;
        case boost::json::kind::int64: enc.integer(v.get_int64()); return;
        case boost::json::kind::uint64: enc.unsigned_int(v.get_uint64()); return;
        case boost::json::kind::double_: enc.float64(v.get_double()); return;
        case boost::json::kind::string: enc.text(v.get_string()); return;
        case boost::json::kind::array:
            enc.array_header(v.get_array().size());
            for (const auto& e : v.get_array()) encode(e, style, enc);
            return;
        case boost::json::kind::object: {
            const auto& o = v.get_object();
            if (style == link_style::atproto && o.size() == 1 && o.contains("$link")) {
                enc.link(*cid::cid::from_string(o.at("$link").as_string()));
                return;
            }
            if (style == link_style::atproto && o.size() == 1 && o.contains("$bytes")) {
                enc.bytes(*cid::base64_decode(o.at("$bytes").as_string()));
                return;
            }
            if (style == link_style::ipld && o.size() == 1 && o.contains("/")) {
                const auto& slash = o.at("/");
                if (slash.is_string()) {
                    auto c = cid::cid::from_string(slash.get_string());
                    if (!c) throw std::runtime_error("bad CID " + std::string(slash.get_string()));
                    enc.link(*c);
                    return;
                }
                enc.bytes(*cid::base64_decode(slash.at("bytes").as_string()));
                return;
            }
            std::vector<std::string> keys;
            for (const auto& kv : o) keys.emplace_back(kv.key());
            std::sort(keys.begin(), keys.end(), cbor::canonical_key_less);
            enc.map_header(keys.size());
            for (const auto& k : keys) {
                enc.text(k);
                encode(o.at(k), style, enc);
            }
            return;
        }
    }
}

}  // namespace

std::vector<std::uint8_t> json_to_dag_cbor(const boost::json::value& v, link_style style) {
    std::vector<std::uint8_t> out;
    cbor::encoder enc(out);
    encode(v, style, enc);
    return out;
}

}  // namespace bsky::test
