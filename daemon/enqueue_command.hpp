#pragma once
// `bsky-backfill enqueue`: DIDs into the shared NATS work stream that daemons
// with intake.kind nats take their work from (lib/nats/work_stream).
#include "common.hpp"

namespace bsky::daemon {

int enqueue_command(arg_cursor& args);

}  // namespace bsky::daemon
