#pragma once
// systemd's notify protocol (sd_notify(3)) without libsystemd: one datagram
// to $NOTIFY_SOCKET. A no-op when not started by systemd.
#include <string_view>

namespace bsky::ops {

/// Sends e.g. "READY=1", "STATUS=...", "WATCHDOG=1"; false when there is no socket or sending failed.
bool sd_notify(std::string_view state) noexcept;

/// The watchdog interval systemd asked for ($WATCHDOG_USEC), in microseconds; 0 when none.
unsigned long long watchdog_usec() noexcept;

}  // namespace bsky::ops
