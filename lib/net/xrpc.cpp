#include "net/xrpc.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace bsky::net {

xrpc_error parse_xrpc_error(std::string_view body) {
    xrpc_error out;
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return out;
    const auto& o = v.get_object();
    if (auto* e = o.if_contains("error"); e && e->is_string()) out.error = std::string(e->get_string()).substr(0, 200);
    if (auto* m = o.if_contains("message"); m && m->is_string()) out.message = std::string(m->get_string()).substr(0, 500);
    return out;
}

std::string_view to_string(repo_answer a) noexcept {
    switch (a) {
        case repo_answer::ok: return "ok";
        case repo_answer::not_found: return "not_found";
        case repo_answer::takendown: return "takendown";
        case repo_answer::deactivated: return "deactivated";
        case repo_answer::suspended: return "suspended";
        case repo_answer::failed: return "failed";
    }
    return "failed";
}

repo_answer classify_get_repo(unsigned status, std::string_view body, std::string& why) {
    if (status >= 200 && status < 300) return repo_answer::ok;
    auto x = parse_xrpc_error(body);
    auto said = x.error.empty() ? std::string() : x.error + (x.message.empty() ? "" : ": " + x.message);
    why = "HTTP " + std::to_string(status) + (said.empty() ? "" : " " + said);
    if (x.error == "RepoNotFound") return repo_answer::not_found;
    if (x.error == "RepoTakendown") return repo_answer::takendown;
    if (x.error == "RepoDeactivated") return repo_answer::deactivated;
    if (x.error == "RepoSuspended") return repo_answer::suspended;
    if (status == 404 && x.error.empty()) return repo_answer::not_found;
    return repo_answer::failed;
}

}  // namespace bsky::net
