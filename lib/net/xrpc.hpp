#pragma once
// XRPC error bodies ({"error": "...", "message": "..."}) and what a getRepo
// answer means for an account.
#include <string>
#include <string_view>

namespace bsky::net {

struct xrpc_error {
    std::string error;    ///< e.g. "RepoNotFound"; empty when the body is not an XRPC error
    std::string message;
};

/// Parses an XRPC error body; tolerant of HTML and garbage (gives an empty error).
xrpc_error parse_xrpc_error(std::string_view body);

enum class repo_answer {
    ok,           ///< 2xx: the CAR follows
    not_found,    ///< RepoNotFound (or a 404 without an XRPC body)
    takendown,    ///< RepoTakendown
    deactivated,  ///< RepoDeactivated
    suspended,    ///< RepoSuspended
    failed,       ///< any other answer: a failure with the server's message
};
std::string_view to_string(repo_answer a) noexcept;

/// Classifies a getRepo response; `why` gets a sentence for everything but ok.
repo_answer classify_get_repo(unsigned status, std::string_view body, std::string& why);

}  // namespace bsky::net
