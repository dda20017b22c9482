#include "ops/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bsky::ops {

bool sd_notify(std::string_view state) noexcept {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::size_t len = std::strlen(path);
    if (len >= sizeof(addr.sun_path)) return false;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), addr_len);
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

unsigned long long watchdog_usec() noexcept {
    const char* usec = std::getenv("WATCHDOG_USEC");
    if (!usec) return 0;
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid && std::strtol(pid, nullptr, 10) != ::getpid()) return 0;
    return std::strtoull(usec, nullptr, 10);
}

}  // namespace bsky::ops
