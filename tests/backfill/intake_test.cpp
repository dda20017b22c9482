// DID list lines in the three file formats.
#include "backfill/intake.hpp"

#include <gtest/gtest.h>

namespace {

using bsky::backfill::did_line_reader;

std::vector<std::string> read(did_line_reader& reader, std::initializer_list<std::string_view> lines) {
    std::vector<std::string> out;
    for (auto line : lines)
        if (auto did = reader.feed(line)) out.push_back(*did);
    return out;
}

TEST(DidLineReader, TextLines) {
    did_line_reader reader("list.txt");
    auto dids = read(reader, {"# study participants", "", "  did:plc:ewvi7nxzyoun6zhxrhs64oiz\r", "did:web:example.com",
                              "not-a-did", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com"}));
    auto rejected = reader.take_rejected();
    ASSERT_EQ(rejected.size(), 2u);
    EXPECT_EQ(rejected[0].line, 5u);
    EXPECT_EQ(rejected[0].reason, "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)");
    EXPECT_EQ(rejected[1].reason, "only did:plc and did:web DIDs can be backfilled");
    EXPECT_TRUE(reader.take_rejected().empty()) << "taken once";
}

TEST(DidLineReader, CsvDidColumn) {
    did_line_reader reader("list.csv");
    auto dids = read(reader, {"handle,did,notes", "alice.test,did:plc:ewvi7nxzyoun6zhxrhs64oiz,x", "bob.test,\"did:web:example.com\",y",
                              "carol.test"});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com"}));
    auto rejected = reader.take_rejected();
    ASSERT_EQ(rejected.size(), 1u);
    EXPECT_EQ(rejected[0].reason, "the row has 1 field(s); the 'did' column is field 2");

    did_line_reader no_column("other.csv");
    EXPECT_TRUE(read(no_column, {"handle,notes", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}).empty());
    EXPECT_EQ(no_column.take_rejected().at(0).reason, "the CSV header has no 'did' column");
}

TEST(DidLineReader, CsvQuotedFieldsKeepTheirCommas) {
    // A quoted comma used to shift the columns: the DID was read from the notes.
    did_line_reader reader("list.csv");
    auto dids = read(reader, {"\xef\xbb\xbf\"name\", \"notes\" ,DID\r", "\"Smith, Alice\",\"likes \"\"cats\"\", dogs\",did:plc:ewvi7nxzyoun6zhxrhs64oiz\r",
                              "  \"Bob\" ,  x  ,  \"did:web:example.com\"  ", "\"Carol, \"\"C\"\"\",,did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                              ",,", "a,b,\"did:plc:ewvi7nxzyoun6zhxrhs64oiz,extra\"", "\"Dan, the\",\"notes\"x,did:web:example.org",
                              "\"Eve,\"\"spans", "# two", "lines\",x,did:web:example.net", "z,z,did:web:example.org"});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com",
                                              "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.org"}));
    auto rejected = reader.take_rejected();
    ASSERT_EQ(rejected.size(), 6u);
    EXPECT_EQ(rejected[0].line, 5u);
    EXPECT_EQ(rejected[0].reason, "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)");
    EXPECT_EQ(rejected[1].line, 6u);
    EXPECT_EQ(rejected[1].reason, "not a DID (expected did:plc:<24 base32 chars> or did:web:<host>)");
    EXPECT_EQ(rejected[2].line, 7u);
    EXPECT_EQ(rejected[2].reason, "not a CSV row: field 2: text after the closing quote");
    EXPECT_EQ(rejected[3].line, 8u);
    EXPECT_EQ(rejected[3].reason,
              "not a CSV row: field 1: the quoted field is not closed on this line (records spanning lines are not supported)");
    // The rest of a record that spans lines is not a row of its own either, up to the line that closes its quote.
    for (std::size_t i : {4u, 5u}) {
        EXPECT_EQ(rejected[i].line, 5u + i);
        EXPECT_EQ(rejected[i].reason,
                  "not a CSV row: the rest of the record that line 8 began (records spanning lines are not supported)");
    }
}

TEST(DidLineReader, CsvHeaderWithTheDidColumnFirstAndQuoted) {
    did_line_reader reader("list.csv");
    auto dids = read(reader, {"\"did\"", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "# a comment", "\"did:web:example.com\""});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:web:example.com"}));
    EXPECT_TRUE(reader.take_rejected().empty());
}

TEST(DidLineReader, ByteOrderMarkOnlyOnTheFirstLine) {
    did_line_reader reader("list.txt");
    auto dids = read(reader, {"\xef\xbb\xbf" "did:plc:ewvi7nxzyoun6zhxrhs64oiz\r", "\xef\xbb\xbf" "did:web:example.com"});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz"}));
    EXPECT_EQ(reader.take_rejected().at(0).line, 2u);
}

TEST(DidLineReader, JsonlDidField) {
    did_line_reader reader("list.jsonl");
    auto dids = read(reader, {R"({"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","handle":"a"})", R"({"handle":"b"})", "[1,2]",
                              R"({"did":"did:plc:short"})"});
    EXPECT_EQ(dids, (std::vector<std::string>{"did:plc:ewvi7nxzyoun6zhxrhs64oiz"}));
    auto rejected = reader.take_rejected();
    ASSERT_EQ(rejected.size(), 3u);
    EXPECT_EQ(rejected[0].reason, "not a JSON object with a string 'did' field");
    EXPECT_EQ(rejected[2].line, 4u);
}

}  // namespace
