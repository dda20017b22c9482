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

void point(const char* step) {
    static const long crash_at = env_number("BSKY_FAULT_AT");
    static const long fail_at = env_number("BSKY_FAULT_FAIL_AT");
    static std::atomic<long> passed{0};
    long n = ++passed;
    say("bsky-fault: " + std::to_string(n) + " " + step + "\n");
    if (n == crash_at) {
        say("bsky-fault: crashing (SIGKILL) before step " + std::to_string(n) + " " + step + "\n");
        ::raise(SIGKILL);
    }
    if (n == fail_at) throw std::system_error(EIO, std::generic_category(), std::string("injected write error at ") + step);
}

}  // namespace bsky::fault
