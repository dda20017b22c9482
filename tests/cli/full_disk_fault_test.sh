#!/usr/bin/env bash
# Real write errors through `bsky-backfill run`: the queues on a tmpfs too
# small for them (ENOSPC), the state store on one that fills up, the output
# on a read-only bind mount (EROFS). Each DID whose write failed ends failed
# with a message naming the file and the system's reason, the run goes on (or
# stops with exit 1 when the state store cannot be written), no done DID lacks
# a record, no DID is left running, and once there is room a rerun of the same
# command finishes every DID exactly once. Needs root (mount); exits 77 (skip) otherwise.
#   full_disk_fault_test.sh BSKY_BACKFILL FAKE_PDS FIXTURES
set -u
cli=$1 fake_pds=$2 fx=$3
here=$(dirname "$0")
tmp=$(mktemp -d); pds_pid=
mounts=()
cleanup() {
  [[ -n $pds_pid ]] && kill "$pds_pid" 2>/dev/null
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null; done
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT
if [[ $(id -u) -ne 0 ]] || ! { mkdir -p "$tmp/probe" && mount -t tmpfs -o size=64k tmpfs "$tmp/probe" && umount "$tmp/probe"; }; then
  echo "SKIP: mounting a tmpfs needs root (CI runs as root)"
  exit 77
fi
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }
tmpfs() { mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" && mounts+=("$1"); }

dids=40
"$fake_pds" "$fx/cars/php-car__repo.car" $dids "$tmp/port" "$tmp/dids" & pds_pid=$!
for _ in $(seq 1 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
config() { # KIND STATE_DIR
  cat <<YAML
plc_url: http://127.0.0.1:$(cat "$tmp/port")
allow_private_addresses: true
verify_signatures: false
state_dir: $2
output: {batch_size: 10, kind: $1}
rate_limits: {max_concurrent_fetches: 4, max_concurrent_per_host: 4}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
}
run() { # NAME OUTPUT_DIR
  "$cli" run --dids-file "$tmp/dids" --config "$tmp/$1.yaml" --output-dir "$2" >"$tmp/$1.summary" 2>"$tmp/$1.log"
}
per_did() { python3 -c "import json,sys; print(sum(next(iter(json.load(open(sys.argv[1]))['did_to_backfill_counts_map'].values())).values()))" "$1"; }
running() { sqlite3 "$1/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'running'"; }
# The summary's failures all name a file under DIR and say REASON.
failures_say() { # SUMMARY DIR REASON
  python3 - "$@" <<'PY'
import json, sys
failed = json.load(open(sys.argv[1]))["failed"]
bad = [f"{did}: {why}" for did, why in failed.items() if sys.argv[2] not in why or sys.argv[3] not in why]
print("\n".join(bad[:3]))
sys.exit(1 if bad or not failed else 0)
PY
}

# What one DID exports, from a run with room to spare.
config sqlite "$tmp/ref-state" >"$tmp/ref.yaml"
"$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/ref.yaml" --output-dir "$tmp/ref-out" >"$tmp/ref.summary" 2>"$tmp/ref.log"
expected=$(per_did "$tmp/ref.summary")

# 1. The queues outgrow their disk part way through, for each sink.
# How far a run gets before the disk is full depends on how the group commits
# fall (a group stages several DIDs at once, and SQLite's WAL holds copies of
# pages until a checkpoint): sizes are tried from small to large until one
# fills up part way through the 40 DIDs.
for kind in sqlite jsonl; do
  out=$tmp/$kind-out state=$tmp/$kind-state
  sizes=$([[ $kind == sqlite ]] && echo "1500k 2000k 2600k 3400k" || echo "600k 900k 1200k")
  mounted=
  for size in $sizes; do
    [[ -n $mounted ]] && { umount "$out"; rm -rf "$state"; }
    tmpfs "$out" "$size" || break
    mounted=$size
    config $kind "$state" >"$tmp/$kind.yaml"
    run $kind "$out"; code=$?
    done_now=$(sqlite3 "$state/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'done'")
    [[ $done_now -gt 0 && $done_now -lt $dids ]] && break
  done
  [[ -n $mounted ]] || { check "$kind-mount" 1 "cannot mount"; continue; }
  echo "$kind: a $mounted disk filled up after $done_now of $dids DIDs"
  [[ $code -eq 1 ]]; check "$kind-full-exit" $? "exit $code: $(tail -3 "$tmp/$kind.log")"
  [[ $done_now -gt 0 && $done_now -lt $dids ]]; check "$kind-partly-done" $? "$done_now of $dids done: no tmpfs size ($sizes) fits the test"
  reason=$([[ $kind == sqlite ]] && echo "database or disk is full" || echo "No space left on device")
  msg=$(failures_say "$tmp/$kind.summary" "$out/" "$reason"); check "$kind-full-message" $? "$msg"
  grep -q "pending again and the next run redoes it" "$tmp/$kind.summary"; check "$kind-full-retryable" $? "$(head -c 600 "$tmp/$kind.summary")"
  [[ $(running "$state") -eq 0 ]]; check "$kind-none-running" $? "$(running "$state") DIDs left running"
  python3 "$here/check_exactly_once.py" "$out" $kind "$expected" --state "$state"; check "$kind-full-no-partial" $? "after the full disk"
  mount -o remount,size=64m "$out"
  run $kind "$out"; code=$?
  [[ $code -eq 0 ]]; check "$kind-rerun-exit" $? "exit $code: $(tail -3 "$tmp/$kind.log")"
  python3 "$here/check_exactly_once.py" "$out" $kind "$expected" --state "$state" --final $dids 0; check "$kind-rerun-exactly-once" $? "after the rerun"
done

# 2. The state store's disk fills up: the run stops, saying so.
state=$tmp/small-state out=$tmp/state-out
tmpfs "$state" 200k
config sqlite "$state" >"$tmp/state.yaml"
run state "$out"; code=$?
[[ $code -eq 1 ]] && grep -q "the state store cannot be written: $state/state.db: .*disk is full" "$tmp/state.log"
check state-full-stops $? "exit $code: $(grep -v '^info' "$tmp/state.log" | tail -3)"
mount -o remount,size=64m "$state"
run state "$out"; code=$?
[[ $code -eq 0 ]]; check state-rerun-exit $? "exit $code: $(tail -3 "$tmp/state.log")"
python3 "$here/check_exactly_once.py" "$out" sqlite "$expected" --state "$state" --final $dids 0
check state-rerun-exactly-once $? "after the rerun"

# 3. A read-only output directory: every DID fails, naming the file; then writable again.
out=$tmp/ro-out state=$tmp/ro-state
mkdir -p "$out" && mount --bind "$out" "$out" && mounts+=("$out") && mount -o remount,ro,bind "$out"
config jsonl "$state" >"$tmp/ro.yaml"
run ro "$out"; code=$?
[[ $code -eq 1 ]]; check ro-exit $? "exit $code: $(tail -3 "$tmp/ro.log")"
msg=$(failures_say "$tmp/ro.summary" "$out/" "Read-only file system"); check ro-message $? "$msg"
[[ $(sqlite3 "$state/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'pending'") -eq $dids ]]; check ro-all-pending $? "not every DID is pending again"
mount -o remount,rw,bind "$out"
run ro "$out"; code=$?
[[ $code -eq 0 ]]; check ro-rerun-exit $? "exit $code: $(tail -3 "$tmp/ro.log")"
python3 "$here/check_exactly_once.py" "$out" jsonl "$expected" --state "$state" --final $dids 0
check ro-rerun-exactly-once $? "after the rerun"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
