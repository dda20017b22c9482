// The repo reader end to end on real CARs: records, signatures, partial
// files, any block order, any chunking, spilling, and failing sinks.
#include "car/reader.hpp"
#include "cbor/dag_json.hpp"
#include "cbor/encoder.hpp"
#include "cid/varint.hpp"
#include "repo/repo_reader.hpp"
#include "resolve/did_document.hpp"
#include "support/fixtures.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace {

using namespace bsky;

struct collector final : repo::record_sink {
    std::vector<std::string> lines;  // "path cid json"
    std::optional<repo::commit_info> commit;
    int fail_at = -1;
    std::error_code on_commit(const repo::commit_info& c) override {
        commit = c;
        return {};
    }
    std::error_code on_record(const repo::record_view& r) override {
        if (static_cast<int>(lines.size()) == fail_at) return std::make_error_code(std::errc::no_space_on_device);
        std::string line = std::string(r.path) + " " + r.id.to_string() + " ";
        cbor::write_dag_json(r.value, line);
        lines.push_back(std::move(line));
        return {};
    }
};

struct outcome {
    std::error_code ec;
    std::string message;
    repo::reader_stats stats;
};

outcome read_car(const std::vector<std::uint8_t>& bytes, collector& sink, repo::reader_options options = {},
                 std::size_t chunk = 65536) {
    repo::repo_reader reader(sink, std::move(options));
    std::error_code ec;
    for (std::size_t pos = 0; pos < bytes.size() && !ec; pos += chunk)
        ec = reader.put({bytes.data() + pos, std::min(chunk, bytes.size() - pos)});
    if (!ec) ec = reader.finish();
    return {ec, reader.error_message(), reader.stats()};
}

std::vector<std::uint8_t> car_file(const std::string& name) { return test::read_bytes(test::fixture("cars/" + name)); }

struct expected_repo {
    const char* file;
    const char* did;
    std::uint64_t records;
    std::uint64_t mst_nodes;
};

// From fixtures/cars/INDEX.md.
const expected_repo real_repos[] = {
    {"repo-stream__empty.car", "did:plc:mhkgaud2jb4rypzt4ph2a3co", 0, 1},
    {"dnproto__msttest-01-new.car", "did:plc:tyme6enconikdp7rnxkywdcg", 0, 1},
    {"dnproto__msttest-03-setprofile.car", "did:plc:tyme6enconikdp7rnxkywdcg", 1, 1},
    {"dnproto__msttest-04-firstpost.car", "did:plc:tyme6enconikdp7rnxkywdcg", 2, 2},
    {"dnproto__msttest-05-firstlike.car", "did:plc:tyme6enconikdp7rnxkywdcg", 3, 2},
    {"dnproto__msttest-06-reply.car", "did:plc:tyme6enconikdp7rnxkywdcg", 4, 2},
    {"indigo__greenground.repo.car", "did:plc:kzcqyc3unb33eh5sxzsfs25z", 2, 1},
    {"arroba__snarfed2.car", "did:plc:5zspv27pk4iqtrl2ql2nykjh", 5, 2},
    {"rsky__valid_repo.car", "did:plc:r7fdhqmw3h2cifeakw5hmvy6", 6, 5},
    {"repo-stream__tiny.car", "did:plc:7hptvnhdyeu53xp6rz7e42iy", 8, 3},
    {"php-car__repo.car", "did:plc:rbkeag6b36ghkibhr6x235pm", 83, 33},
    {"repo-stream__little.car", "did:plc:lulmyldiq4sb2ikags5sfb25", 278, 96},
    {"indigo__greenground.repo.2023-04-v2.car", "did:plc:wqgdnqlv2mwiio6pfchwtrff", 50, 0},
    {"indigo__paul_staging.repo.car", "did:plc:cmpvykrzb2l22kj4ojlv3ox4", 185, 0},
    {"indigo__bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car", "did:plc:z5vnbioquyhivxirw3bbljmu", 6, 0},
};

TEST(RepoReader, RealRepositories) {
    for (const auto& r : real_repos) {
        SCOPED_TRACE(r.file);
        collector sink;
        auto out = read_car(car_file(r.file), sink, {.expected_did = r.did});
        ASSERT_FALSE(out.ec) << out.message;
        ASSERT_TRUE(sink.commit);
        EXPECT_EQ(sink.commit->did, r.did);
        EXPECT_EQ(sink.lines.size(), r.records);
        EXPECT_EQ(out.stats.records, r.records);
        if (r.mst_nodes) {
            EXPECT_EQ(out.stats.mst_nodes, r.mst_nodes);
        }
        EXPECT_EQ(sink.commit->signature, repo::signature_state::unverified);
        // Key order.
        EXPECT_TRUE(std::is_sorted(sink.lines.begin(), sink.lines.end()));
    }
}

TEST(RepoReader, DnprotoSequenceGrowsOneRecordAtATime) {
    std::vector<std::string> previous;
    std::size_t step = 0;
    for (auto f : {"dnproto__msttest-01-new.car", "dnproto__msttest-03-setprofile.car", "dnproto__msttest-04-firstpost.car",
                   "dnproto__msttest-05-firstlike.car", "dnproto__msttest-06-reply.car"}) {
        collector sink;
        ASSERT_FALSE(read_car(car_file(f), sink).ec) << f;
        EXPECT_EQ(sink.lines.size(), step++) << f;
        for (const auto& line : previous)
            EXPECT_NE(std::find(sink.lines.begin(), sink.lines.end(), line), sink.lines.end()) << f << " lost " << line;
        previous = sink.lines;
    }
}

// Turns {"$link": x} into {"/": x} and {"$bytes": b} into {"/": {"bytes": b}} (the sidecar's form).
boost::json::value to_ipld_json(const boost::json::value& v) {
    if (v.is_array()) {
        boost::json::array out;
        for (const auto& e : v.as_array()) out.push_back(to_ipld_json(e));
        return out;
    }
    if (!v.is_object()) return v;
    const auto& o = v.as_object();
    if (o.size() == 1 && o.contains("$link")) return boost::json::object{{"/", o.at("$link")}};
    if (o.size() == 1 && o.contains("$bytes")) return boost::json::object{{"/", boost::json::object{{"bytes", o.at("$bytes")}}}};
    boost::json::object out;
    for (const auto& kv : o) out[kv.key()] = to_ipld_json(kv.value());
    return out;
}

TEST(RepoReader, Snarfed2MatchesItsSidecar) {
    collector sink;
    ASSERT_FALSE(read_car(car_file("arroba__snarfed2.car"), sink).ec);
    auto expected = test::read_json(test::fixture("cars/arroba__snarfed2.json")).as_object();
    std::size_t count = 0;
    for (const auto& line : sink.lines) {
        auto space1 = line.find(' ');
        auto space2 = line.find(' ', space1 + 1);
        auto path = line.substr(0, space1);
        auto collection = path.substr(0, path.find('/'));
        auto rkey = path.substr(path.find('/') + 1);
        auto value = boost::json::parse(line.substr(space2 + 1));
        ASSERT_TRUE(expected.contains(collection)) << collection;
        EXPECT_EQ(to_ipld_json(value), expected.at(collection).at(rkey)) << path;
        ++count;
    }
    std::size_t sidecar = 0;
    for (const auto& kv : expected) sidecar += kv.value().as_object().size();
    EXPECT_EQ(count, sidecar);
}

std::optional<crypto::public_key> key_from_doc(const std::string& file) {
    std::string why;
    auto doc = resolve::parse_did_document(test::read_text(test::fixture("did/docs/" + file)), "", why);
    return doc ? doc->signing_key : std::nullopt;
}

TEST(RepoReader, SignaturesVerifyWithTheDocumentKeys) {
    struct signed_repo {
        const char* car;
        std::optional<crypto::public_key> key;
    };
    const signed_repo cases[] = {
        {"indigo__greenground.repo.2023-04-v2.car", key_from_doc("indigo__greenground.didDoc.json")},
        {"indigo__paul_staging.repo.car", key_from_doc("indigo__paul_staging.didDoc.json")},
        {"indigo__greenground.repo.car", crypto::parse_did_key("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF")},
        {"arroba__snarfed2.car", crypto::parse_did_key("did:key:zQ3shuteTZT6t9ek6UcKu7UfVES2AJgpadj2bT5zD8NHFqLce")},
    };
    for (const auto& c : cases) {
        ASSERT_TRUE(c.key) << c.car;
        collector sink;
        auto out = read_car(car_file(c.car), sink, {.key = c.key});
        ASSERT_FALSE(out.ec) << c.car << ": " << out.message;
        EXPECT_EQ(sink.commit->signature, repo::signature_state::verified) << c.car;
    }
}

TEST(RepoReader, BadSignatureYieldsNoRecords) {
    collector sink;
    auto out = read_car(car_file("indigo__bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car"), sink,
                        {.key = key_from_doc("indigo__did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json")});
    EXPECT_EQ(out.ec, repo::error::signature_failed);
    EXPECT_TRUE(sink.lines.empty());
    EXPECT_NE(out.message.find("signature does not match"), std::string::npos) << out.message;

    // Someone else's key fails the same way.
    collector other;
    auto wrong = read_car(car_file("arroba__snarfed2.car"), other,
                          {.key = crypto::parse_did_key("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF")});
    EXPECT_EQ(wrong.ec, repo::error::signature_failed);
    EXPECT_TRUE(other.lines.empty());
}

TEST(RepoReader, CommitForAnotherDidIsRefused) {
    collector sink;
    auto out = read_car(car_file("repo-stream__tiny.car"), sink, {.expected_did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"});
    EXPECT_EQ(out.ec, repo::error::did_mismatch);
    EXPECT_TRUE(sink.lines.empty());
    EXPECT_NE(out.message.find("did:plc:7hptvnhdyeu53xp6rz7e42iy"), std::string::npos) << out.message;
}

TEST(RepoReader, PartialSliceIsReportedOrSkipped) {
    collector strict;
    auto out = read_car(car_file("indigo__repo_slice.car"), strict);
    EXPECT_EQ(out.ec, repo::error::incomplete_tree);
    EXPECT_NE(out.message.find("MST node"), std::string::npos) << out.message;

    collector partial;
    auto ok = read_car(car_file("indigo__repo_slice.car"), partial, {.allow_partial = true});
    ASSERT_FALSE(ok.ec) << ok.message;
    // The slice proves one record; one subtree and four records are absent.
    ASSERT_EQ(partial.lines.size(), 1u);
    EXPECT_EQ(ok.stats.missing, 5u);
    auto expected = test::read_json(test::fixture("cars/indigo__repo_slice_record.json"));
    auto line = partial.lines[0];
    auto value = boost::json::parse(line.substr(line.find(' ', line.find(' ') + 1) + 1));
    EXPECT_EQ(value, expected.at("value"));
    EXPECT_NE(expected.at("uri").as_string().find(line.substr(0, line.find(' '))), std::string::npos);
}

TEST(RepoReader, EveryChunkSizeGivesTheSameRecords) {
    for (auto file : {"repo-stream__little.car", "indigo__paul_staging.repo.car", "arroba__snarfed2.car"}) {
        auto bytes = car_file(file);
        collector whole;
        ASSERT_FALSE(read_car(bytes, whole).ec);
        std::vector<std::size_t> chunks = {1, 2, 3, 5, 8, 13, 100, 1021, 4096};
        for (auto chunk : chunks) {
            collector sink;
            auto out = read_car(bytes, sink, {}, chunk);
            ASSERT_FALSE(out.ec) << file << " chunk " << chunk << ": " << out.message;
            EXPECT_EQ(sink.lines, whole.lines) << file << " chunk " << chunk;
        }
    }
}

TEST(RepoReader, EverySplitPointOfASmallRepo) {
    auto bytes = car_file("rsky__valid_repo.car");
    collector whole;
    ASSERT_FALSE(read_car(bytes, whole).ec);
    for (std::size_t split = 0; split <= bytes.size(); ++split) {
        collector sink;
        repo::repo_reader reader(sink, {});
        ASSERT_FALSE(reader.put({bytes.data(), split}));
        ASSERT_FALSE(reader.put({bytes.data() + split, bytes.size() - split}));
        ASSERT_FALSE(reader.finish());
        EXPECT_EQ(sink.lines, whole.lines) << split;
    }
}

TEST(RepoReader, EveryTruncationFails) {
    auto bytes = car_file("dnproto__msttest-06-reply.car");
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        collector sink;
        auto out = read_car({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)}, sink);
        EXPECT_TRUE(out.ec) << "a CAR cut at " << n << " bytes was accepted";
        EXPECT_TRUE(out.message.starts_with("offset ")) << out.message;
    }
}

// Rewrites a CAR with its blocks in another order (and optionally duplicated).
std::vector<std::uint8_t> reorder(const std::vector<std::uint8_t>& original, std::uint32_t seed, bool duplicate) {
    struct splitter final : car::handler {
        std::vector<std::uint8_t> header;
        std::vector<std::vector<std::uint8_t>> sections;
        std::error_code on_header(std::span<const cid::cid>) override { return {}; }
        std::error_code on_block(const cid::cid& id, std::span<const std::uint8_t> bytes, std::uint64_t) override {
            std::vector<std::uint8_t> s(id.bytes().begin(), id.bytes().end());
            s.insert(s.end(), bytes.begin(), bytes.end());
            sections.push_back(std::move(s));
            return {};
        }
    } parts;
    car::reader reader(parts);
    std::error_code ec;
    reader.put(original, ec);
    auto header_len = cid::read_varint(original);
    std::vector<std::uint8_t> out(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(header_len.length + header_len.value));
    std::mt19937 rng(seed);
    if (seed == 0) std::reverse(parts.sections.begin(), parts.sections.end());
    else std::shuffle(parts.sections.begin(), parts.sections.end(), rng);
    if (duplicate) parts.sections.insert(parts.sections.begin() + 1, parts.sections[parts.sections.size() / 2]);
    for (const auto& s : parts.sections) {
        std::uint8_t len[10];
        auto n = cid::write_varint(s.size(), len);
        out.insert(out.end(), len, len + n);
        out.insert(out.end(), s.begin(), s.end());
    }
    return out;
}

TEST(RepoReader, AnyBlockOrderGivesTheSameRecords) {
    for (auto file : {"repo-stream__little.car", "php-car__repo.car", "indigo__greenground.repo.2023-04-v2.car"}) {
        auto bytes = car_file(file);
        collector whole;
        ASSERT_FALSE(read_car(bytes, whole).ec);
        for (std::uint32_t seed : {0u, 1u, 2u, 3u}) {
            collector sink;
            auto out = read_car(reorder(bytes, seed, seed == 3), sink, {}, 997);
            ASSERT_FALSE(out.ec) << file << " seed " << seed << ": " << out.message;
            EXPECT_EQ(sink.lines, whole.lines) << file << " seed " << seed;
            if (seed == 3) {
                EXPECT_GE(out.stats.duplicate_blocks, 1u);
            }
        }
    }
}

TEST(RepoReader, SpillingKeepsMemoryBoundedAndOutputIdentical) {
    auto bytes = reorder(car_file("repo-stream__little.car"), 0, false);  // commit last: everything waits
    collector in_memory;
    auto a = read_car(bytes, in_memory);
    ASSERT_FALSE(a.ec);
    EXPECT_EQ(a.stats.spilled_bytes, 0u);
    collector spilled;
    auto b = read_car(bytes, spilled, {.spill_threshold_bytes = 16 * 1024, .spill_dir = ::testing::TempDir()}, 4096);
    ASSERT_FALSE(b.ec) << b.message;
    EXPECT_EQ(spilled.lines, in_memory.lines);
    EXPECT_GT(b.stats.spilled_bytes, 200u * 1024);
    EXPECT_LE(b.stats.peak_memory_bytes, 16u * 1024);
}

TEST(RepoReader, SinkFailureAtTheNthRecordStops) {
    auto bytes = car_file("repo-stream__little.car");
    for (int n : {0, 1, 100, 277}) {
        collector sink;
        sink.fail_at = n;
        auto out = read_car(bytes, sink, {}, 3000);
        EXPECT_EQ(out.ec, std::errc::no_space_on_device);
        EXPECT_EQ(sink.lines.size(), static_cast<std::size_t>(n));
        EXPECT_NE(out.message.find("record "), std::string::npos) << out.message;
    }
}

// A consumer that writes records out asynchronously holds the walk after
// every `hold_every` records; what it then sees must be what an unheld read
// emits, and never more than `hold_every` records between two resumes.
struct holding_collector final : repo::record_sink {
    collector inner;
    std::size_t hold_every = 7, since_resume = 0, most_between_resumes = 0;
    std::error_code on_commit(const repo::commit_info& c) override { return inner.on_commit(c); }
    std::error_code on_record(const repo::record_view& r) override {
        most_between_resumes = std::max(most_between_resumes, ++since_resume);
        return inner.on_record(r);
    }
    bool should_pause() const noexcept override { return since_resume >= hold_every; }
};

std::error_code drain_held(repo::repo_reader& reader, holding_collector& sink, std::size_t& resumes) {
    std::error_code ec;
    while (!ec && reader.paused()) {
        sink.since_resume = 0;
        ++resumes;
        ec = reader.resume();
    }
    return ec;
}

TEST(RepoReader, AHeldWalkResumesWhereItStoppedAndEmitsTheSameRecords) {
    auto in_order = car_file("repo-stream__little.car");
    for (const auto& bytes : {in_order, reorder(in_order, 0, false), reorder(in_order, 2, false)}) {
        collector whole;
        ASSERT_FALSE(read_car(bytes, whole).ec);
        for (std::size_t chunk : {std::size_t{997}, bytes.size()}) {
            holding_collector sink;
            repo::repo_reader reader(sink, {});
            std::size_t resumes = 0;
            std::error_code ec;
            for (std::size_t pos = 0; pos < bytes.size() && !ec; pos += chunk) {
                ec = reader.put({bytes.data() + pos, std::min(chunk, bytes.size() - pos)});
                if (!ec) ec = drain_held(reader, sink, resumes);
            }
            if (!ec) ec = reader.finish();
            if (!ec) ec = drain_held(reader, sink, resumes);
            ASSERT_FALSE(ec) << reader.error_message();
            EXPECT_FALSE(reader.paused());
            EXPECT_EQ(sink.inner.lines, whole.lines) << "chunk " << chunk;
            EXPECT_LE(sink.most_between_resumes, sink.hold_every);
            EXPECT_GE(resumes, whole.lines.size() / sink.hold_every);
        }
    }
}

TEST(RepoReader, NotARepo) {
    collector sink;
    auto generic = read_car(car_file("generic/laravel-bluesky__carv1-basic.car"), sink);
    EXPECT_EQ(generic.ec, repo::error::no_single_root);
    auto v2 = read_car(car_file("generic/go-car__sample-unixfs-v2.car"), sink);
    EXPECT_EQ(v2.ec, car::error::unsupported_version);
    EXPECT_TRUE(sink.lines.empty());
}

}  // namespace
