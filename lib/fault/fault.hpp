#pragma once
// Fault injection at the durable steps of a DID's commit, for tests only.
// The product is built without BSKY_FAULT_INJECTION, so every point is
// nothing at all there; `bsky-backfill-faults` (tests) is built from the same
// sources with it defined. There, each point passed is counted and printed to
// stderr as `bsky-fault: N name`; with BSKY_FAULT_AT=N the process kills
// itself with SIGKILL at the N-th point (a crash just before that step), with
// BSKY_FAULT_AT=NAME#K at the K-th pass of the point NAME (#K omitted: the
// first; for the daemon, whose tasks interleave differently each run), and
// with BSKY_FAULT_FAIL_AT=N the N-th point throws a write error (EIO) instead,
// as a full or failing disk would.
#ifdef BSKY_FAULT_INJECTION
namespace bsky::fault {
void point(const char* step);
}  // namespace bsky::fault
#define BSKY_FAULT_POINT(step) ::bsky::fault::point(step)
#else
#define BSKY_FAULT_POINT(step) static_cast<void>(0)
#endif
