#include "metrics/registry.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bsky {
namespace {

TEST(Registry, CountersAndGaugesRenderInTheTextFormat) {
    metrics::registry r;
    auto& dids = r.counter("bsky_dids_total", "DIDs by state", "state");
    auto& in_flight = r.gauge("bsky_dids_in_flight", "DIDs in flight");
    dids.add("done", 3);
    dids.add("failed");
    in_flight.set(2);
    in_flight.add(-1);
    EXPECT_EQ(r.render(),
              "# HELP bsky_dids_total DIDs by state\n"
              "# TYPE bsky_dids_total counter\n"
              "bsky_dids_total{state=\"done\"} 3\n"
              "bsky_dids_total{state=\"failed\"} 1\n"
              "# HELP bsky_dids_in_flight DIDs in flight\n"
              "# TYPE bsky_dids_in_flight gauge\n"
              "bsky_dids_in_flight 1\n");
}

TEST(Registry, SeveralLabelsAndEscapes) {
    metrics::registry r;
    auto& f = r.counter("x_total", "help with \\ and\nnewline", "client,code");
    f.add({"pds", "429"}, 2);
    f.add({"a\"b\\c\nd", "200"});
    auto text = r.render();
    EXPECT_NE(text.find("# HELP x_total help with \\\\ and\\nnewline\n"), std::string::npos) << text;
    EXPECT_NE(text.find("x_total{client=\"pds\",code=\"429\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("x_total{client=\"a\\\"b\\\\c\\nd\",code=\"200\"} 1\n"), std::string::npos) << text;
    EXPECT_EQ(f.value({"pds", "429"}), 2);
    EXPECT_THROW(f.add("only-one"), std::logic_error);
}

TEST(Registry, SameNameIsTheSameFamilyButNotAnotherKind) {
    metrics::registry r;
    auto& a = r.counter("c_total", "h", "host");
    auto& b = r.counter("c_total", "h", "host");
    EXPECT_EQ(&a, &b);
    EXPECT_THROW(r.gauge("c_total", "h", "host"), std::logic_error);
}

TEST(Registry, HistogramBucketsAreCumulative) {
    metrics::registry r;
    auto& h = r.histogram_family("lat_seconds", "latency", "client", {0.1, 1});
    h.observe("pds", 0.05);
    h.observe("pds", 0.5);
    h.observe("pds", 5);
    EXPECT_EQ(h.count("pds"), 3u);
    auto text = r.render();
    EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{client=\"pds\",le=\"0.1\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{client=\"pds\",le=\"1\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{client=\"pds\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_sum{client=\"pds\"} 5.55\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_count{client=\"pds\"} 3\n"), std::string::npos) << text;
}

TEST(Registry, ScrapeHooksRunBeforeRendering) {
    metrics::registry r;
    auto& g = r.gauge("tokens", "t", "host");
    int calls = 0;
    r.on_scrape([&] { g.set("a:443", ++calls * 1.5); });
    EXPECT_NE(r.render().find("tokens{host=\"a:443\"} 1.5\n"), std::string::npos);
    EXPECT_NE(r.render().find("tokens{host=\"a:443\"} 3\n"), std::string::npos);
}

}  // namespace
}  // namespace bsky

namespace bsky {
namespace {

TEST(BoundedLabels, TheBusiestKeepTheirSeriesTheRestBecomeOther) {
    std::vector<std::pair<std::string, double>> w{{"c", 5}, {"a", 10}, {"b", 5}, {"d", 1}};
    EXPECT_EQ(metrics::bounded_labels(w, 2), (std::vector<std::string>{"other", "a", "b", "other"})) << "ties go by name";
    EXPECT_EQ(metrics::bounded_labels(w, 10), (std::vector<std::string>{"c", "a", "b", "d"}));
    EXPECT_EQ(metrics::bounded_labels(w, 0, "rest"), (std::vector<std::string>(4, "rest")));
    std::vector<std::pair<std::string, double>> many;
    for (int i = 0; i < 10000; ++i) many.emplace_back("host" + std::to_string(i), i);
    auto labels = metrics::bounded_labels(many, metrics::max_host_series);
    std::set<std::string> distinct(labels.begin(), labels.end());
    EXPECT_EQ(distinct.size(), metrics::max_host_series + 1);
    EXPECT_EQ(labels[9999], "host9999");
}

}  // namespace
}  // namespace bsky
