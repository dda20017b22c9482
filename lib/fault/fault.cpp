#include "fault/fault.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

namespace bsky::fault {

namespace {

long env_number(const char* name) {
    const char* text = std::getenv(name);
    return text ? std::strtol(text, nullptr, 10) : 0;
}

void say(const std::string& line) {
    // write(2): nothing buffered is lost when the process kills itself next.
    auto n = ::write(STDERR_FILENO, line.data(), line.size());
    static_cast<void>(n);
}

}  // namespace

// BSKY_FAULT_AT=NAME#K (or NAME alone, K = 1): the K-th pass of the point NAME.
// The daemon's intake and work loop interleave their points differently from
// run to run, so a global count would not name the same step twice.
struct named_target {
    std::string name;
    long occurrence = 0;
};

named_target env_named(const char* var) {
    const char* text = std::getenv(var);
    if (!text || (*text >= '0' && *text <= '9')) return {};
    std::string spec(text);
    auto hash = spec.find('#');
    if (hash == std::string::npos) return {spec, 1};
    return {spec.substr(0, hash), std::strtol(spec.c_str() + hash + 1, nullptr, 10)};
}

void point(const char* step) {
    static const long crash_at = env_number("BSKY_FAULT_AT");
    static const long fail_at = env_number("BSKY_FAULT_FAIL_AT");
    static const named_target crash_named = env_named("BSKY_FAULT_AT");
    static std::atomic<long> passed{0}, passed_named{0};
    long n = ++passed;
    say("bsky-fault: " + std::to_string(n) + " " + step + "\n");
    bool named_hit = !crash_named.name.empty() && crash_named.name == step && ++passed_named == crash_named.occurrence;
    if (n == crash_at || named_hit) {
        say("bsky-fault: crashing (SIGKILL) before step " + std::to_string(n) + " " + step + "\n");
        ::raise(SIGKILL);
    }
    if (n == fail_at) throw std::system_error(EIO, std::generic_category(), std::string("injected write error at ") + step);
}

}  // namespace bsky::fault
