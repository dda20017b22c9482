#pragma once
// Counters, gauges and histograms for Prometheus' text format. Values are
// updated where the work happens (the event loop) and read at scrape time;
// refresh hooks copy in figures that other components keep themselves (a
// rate limiter's tokens, say) just before a scrape renders them.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bsky::metrics {

/// One metric name and its series: one per combination of label values,
/// given in the order the labels were named ("host,code" -> {"a:443", "429"}).
class family {
public:
    void add(std::initializer_list<std::string_view> label_values, double amount = 1);
    void add(std::string_view label_value, double amount = 1) { add({label_value}, amount); }
    void add(double amount = 1) { add(std::initializer_list<std::string_view>{}, amount); }
    void set(std::initializer_list<std::string_view> label_values, double value);
    void set(std::string_view label_value, double value) { set({label_value}, value); }
    void set(double value) { set(std::initializer_list<std::string_view>{}, value); }
    double value(std::initializer_list<std::string_view> label_values = {}) const;
    double value(std::string_view label_value) const { return value({label_value}); }
    /// Drops every series: for scrape hooks that republish the set that exists now
    /// (hosts come and go; a series for a forgotten host must not linger).
    void clear() noexcept { values_.clear(); }

private:
    friend class registry;
    family(std::string name, std::string help, std::string type, std::string labels);
    std::string name_, help_, type_;
    std::vector<std::string> labels_;
    std::map<std::string, double, std::less<>> values_;  ///< label values joined with '\0'
};

/// Cumulative buckets (Prometheus "le"), one set per label value.
class histogram {
public:
    void observe(std::string_view label_value, double value);
    std::uint64_t count(std::string_view label_value) const;

private:
    friend class registry;
    struct series {
        std::vector<std::uint64_t> buckets;  ///< per upper bound, not yet cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };
    histogram(std::string name, std::string help, std::string label, std::vector<double> bounds)
        : name_(std::move(name)), help_(std::move(help)), label_(std::move(label)), bounds_(std::move(bounds)) {}
    std::string name_, help_, label_;
    std::vector<double> bounds_;
    std::map<std::string, series, std::less<>> series_;
};

/// @par Thread Safety
/// Not thread-safe: update and render it from one thread (the event loop).
class registry {
public:
    registry();
    ~registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// Registers (or finds, when the name is taken by the same kind) a family;
    /// references stay valid for the registry's life.
    /// `labels`: label names separated by commas, or empty.
    family& counter(std::string name, std::string help, std::string labels = {});
    family& gauge(std::string name, std::string help, std::string labels = {});
    histogram& histogram_family(std::string name, std::string help, std::string label, std::vector<double> bounds);

    /// Runs before every render, in registration order.
    void on_scrape(std::function<void()> refresh);

    /// The text exposition format (version 0.0.4), families in registration order.
    std::string render();

private:
    family& named(std::string name, std::string help, std::string type, std::string label);
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Bounded label sets: of the `weights` (a label value and how busy it is),
/// the `keep` heaviest keep their own series (ties: by name) and the rest are
/// summed under `other`, so ten thousand hosts stay `keep + 1` series.
/// Returns, in the order of `weights`, the label each one is published under.
std::vector<std::string> bounded_labels(const std::vector<std::pair<std::string, double>>& weights, std::size_t keep,
                                        std::string_view other = "other");
inline constexpr std::size_t max_host_series = 20;

/// Latency buckets in seconds, 5 ms to 2 minutes.
std::vector<double> latency_buckets();

}  // namespace bsky::metrics
