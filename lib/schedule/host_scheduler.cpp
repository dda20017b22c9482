#include "schedule/host_scheduler.hpp"

#include <algorithm>

namespace bsky::schedule {

void host_scheduler::enqueue(work_item item) {
    auto& h = hosts_[item.host];
    h.dids.push_back(std::move(item.did));
    ++waiting_;
    if (!h.in_ring) {
        h.in_ring = true;
        ring_.push_back(std::move(item.host));
    }
}

host_scheduler::decision host_scheduler::next(clock::time_point now, const host_gate& gate) {
    decision d;
    if (in_flight_ >= params_.max_in_flight) return d;
    // One look at each host with work, starting with the one whose turn it is.
    for (std::size_t looked = 0, n = ring_.size(); looked < n; ++looked) {
        auto name = std::move(ring_.front());
        ring_.pop_front();
        auto it = hosts_.find(name);
        auto& h = it->second;
        if (h.in_flight >= params_.max_in_flight_per_host) {
            ring_.push_back(std::move(name));  // a finishing DID of this host reopens it
            continue;
        }
        if (auto open_at = gate(name, now); open_at > now) {
            d.retry_at = std::min(d.retry_at, open_at);
            ring_.push_back(std::move(name));
            continue;
        }
        d.start = work_item{std::move(h.dids.front()), name};
        h.dids.pop_front();
        --waiting_;
        ++h.in_flight;
        ++in_flight_;
        if (h.dids.empty()) h.in_ring = false;
        else ring_.push_back(std::move(name));  // its next DID waits for the other hosts' turns
        return d;
    }
    return d;
}

void host_scheduler::finished(const std::string& host) {
    auto it = hosts_.find(host);
    if (it == hosts_.end() || it->second.in_flight == 0) return;
    --it->second.in_flight;
    --in_flight_;
    forget_if_idle(it);
}

void host_scheduler::forget_if_idle(std::unordered_map<std::string, host_queue>::iterator it) {
    if (it->second.in_flight == 0 && it->second.dids.empty()) hosts_.erase(it);
}

std::size_t host_scheduler::waiting_for(const std::string& host) const {
    auto it = hosts_.find(host);
    return it == hosts_.end() ? 0 : it->second.dids.size();
}

}  // namespace bsky::schedule
