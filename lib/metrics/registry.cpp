#include "metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <variant>

namespace bsky::metrics {

namespace {

std::string series_key(std::initializer_list<std::string_view> values) {
    std::string key;
    bool first = true;
    for (auto v : values) {
        if (!first) key.push_back('\0');
        first = false;
        key += v;
    }
    return key;
}

}  // namespace

family::family(std::string name, std::string help, std::string type, std::string labels)
    : name_(std::move(name)), help_(std::move(help)), type_(std::move(type)) {
    std::string_view rest = labels;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        labels_.emplace_back(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
}

void family::add(std::initializer_list<std::string_view> label_values, double amount) {
    if (label_values.size() != labels_.size()) throw std::logic_error("metric " + name_ + ": wrong number of label values");
    auto key = series_key(label_values);
    auto it = values_.find(key);
    if (it == values_.end()) it = values_.emplace(std::move(key), 0.0).first;
    it->second += amount;
}

void family::set(std::initializer_list<std::string_view> label_values, double value) {
    if (label_values.size() != labels_.size()) throw std::logic_error("metric " + name_ + ": wrong number of label values");
    values_[series_key(label_values)] = value;
}

double family::value(std::initializer_list<std::string_view> label_values) const {
    auto it = values_.find(series_key(label_values));
    return it == values_.end() ? 0.0 : it->second;
}

void histogram::observe(std::string_view label_value, double value) {
    auto it = series_.find(label_value);
    if (it == series_.end()) it = series_.emplace(std::string(label_value), series{std::vector<std::uint64_t>(bounds_.size()), 0, 0}).first;
    auto& s = it->second;
    for (std::size_t i = 0; i < bounds_.size(); ++i)
        if (value <= bounds_[i]) {
            ++s.buckets[i];
            break;
        }
    ++s.count;
    s.sum += value;
}

std::uint64_t histogram::count(std::string_view label_value) const {
    auto it = series_.find(label_value);
    return it == series_.end() ? 0 : it->second.count;
}

struct registry::impl {
    // unique_ptr: references handed out stay put as the vector grows.
    std::vector<std::variant<std::unique_ptr<family>, std::unique_ptr<histogram>>> families;
    std::vector<std::function<void()>> refreshers;
};

registry::registry() : impl_(std::make_unique<impl>()) {}
registry::~registry() = default;

family& registry::named(std::string name, std::string help, std::string type, std::string label) {
    for (auto& f : impl_->families)
        if (auto* p = std::get_if<std::unique_ptr<family>>(&f); p && (*p)->name_ == name) {
            if ((*p)->type_ != type) throw std::logic_error("metric " + name + " registered as two kinds");
            return **p;
        }
    auto& slot = impl_->families.emplace_back(
        std::unique_ptr<family>(new family(std::move(name), std::move(help), std::move(type), std::move(label))));
    return *std::get<std::unique_ptr<family>>(slot);
}

family& registry::counter(std::string name, std::string help, std::string label) {
    return named(std::move(name), std::move(help), "counter", std::move(label));
}

family& registry::gauge(std::string name, std::string help, std::string label) {
    return named(std::move(name), std::move(help), "gauge", std::move(label));
}

histogram& registry::histogram_family(std::string name, std::string help, std::string label, std::vector<double> bounds) {
    for (auto& f : impl_->families)
        if (auto* p = std::get_if<std::unique_ptr<histogram>>(&f); p && (*p)->name_ == name) return **p;
    auto& slot = impl_->families.emplace_back(
        std::unique_ptr<histogram>(new histogram(std::move(name), std::move(help), std::move(label), std::move(bounds))));
    return *std::get<std::unique_ptr<histogram>>(slot);
}

void registry::on_scrape(std::function<void()> refresh) { impl_->refreshers.push_back(std::move(refresh)); }

namespace {

void append_number(std::string& out, double v) {
    if (std::isnan(v)) out += "NaN";
    else if (std::isinf(v)) out += v > 0 ? "+Inf" : "-Inf";
    else if (v == std::floor(v) && std::fabs(v) < 1e15) out += std::to_string(static_cast<long long>(v));
    else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", v);
        out += buf;
    }
}

// Label values escape backslash, double quote and newline; HELP escapes backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quote) {
    for (char c : text) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quote) out += "\\\"";
        else out.push_back(c);
    }
}

void append_header(std::string& out, const std::string& name, const std::string& help, std::string_view type) {
    out += "# HELP " + name + " ";
    append_escaped(out, help, false);
    out += "\n# TYPE " + name + " ";
    out += type;
    out += "\n";
}

// name{labels} , or just name when there are none.
void append_series(std::string& out, std::string_view name, std::string_view labels) {
    out += name;
    if (!labels.empty()) {
        out += "{";
        out += labels;
        out += "}";
    }
    out += " ";
}

// label="value" pairs; `values` holds the values joined with '\0', in the order of `names`.
std::string label_pairs(const std::vector<std::string>& names, std::string_view values) {
    std::string out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto end = i + 1 == names.size() ? values.size() : values.find('\0', start);
        if (i) out += ",";
        out += names[i] + "=\"";
        append_escaped(out, values.substr(start, end - start), true);
        out += "\"";
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string registry::render() {
    for (auto& refresh : impl_->refreshers) refresh();
    std::string out;
    for (auto& f : impl_->families) {
        if (auto* p = std::get_if<std::unique_ptr<family>>(&f)) {
            const auto& fam = **p;
            append_header(out, fam.name_, fam.help_, fam.type_);
            for (const auto& [key, v] : fam.values_) {
                append_series(out, fam.name_, label_pairs(fam.labels_, key));
                append_number(out, v);
                out += "\n";
            }
            continue;
        }
        const auto& h = *std::get<std::unique_ptr<histogram>>(f);
        append_header(out, h.name_, h.help_, "histogram");
        std::vector<std::string> names;
        if (!h.label_.empty()) names.push_back(h.label_);
        for (const auto& [value, s] : h.series_) {
            auto labels = label_pairs(names, value);
            auto with_le = [&](std::string_view le) { return labels + (labels.empty() ? "le=\"" : ",le=\"") + std::string(le) + "\""; };
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < h.bounds_.size(); ++i) {
                cumulative += s.buckets[i];
                std::string bound;
                append_number(bound, h.bounds_[i]);
                append_series(out, h.name_ + "_bucket", with_le(bound));
                out += std::to_string(cumulative) + "\n";
            }
            append_series(out, h.name_ + "_bucket", with_le("+Inf"));
            out += std::to_string(s.count) + "\n";
            append_series(out, h.name_ + "_sum", labels);
            append_number(out, s.sum);
            out += "\n";
            append_series(out, h.name_ + "_count", labels);
            out += std::to_string(s.count) + "\n";
        }
    }
    return out;
}

std::vector<std::string> bounded_labels(const std::vector<std::pair<std::string, double>>& weights, std::size_t keep,
                                        std::string_view other) {
    std::vector<std::size_t> order(weights.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (weights[a].second != weights[b].second) return weights[a].second > weights[b].second;
        return weights[a].first < weights[b].first;
    });
    std::vector<std::string> out(weights.size());
    for (std::size_t rank = 0; rank < order.size(); ++rank)
        out[order[rank]] = rank < keep ? weights[order[rank]].first : std::string(other);
    return out;
}

std::vector<double> latency_buckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}; }

}  // namespace bsky::metrics
