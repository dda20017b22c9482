#pragma once
// `bsky-backfill status` and `bsky-backfill failures`: the state store read
// read-only (lib/report), printed as a table or JSON.
#include "common.hpp"

namespace bsky::daemon {

int status_command(arg_cursor& args);
int failures_command(arg_cursor& args);

}  // namespace bsky::daemon
