#!/usr/bin/env bash
# A crash (SIGKILL) at every step of the spool protocol, each in turn, not at
# random: bsky-backfilld-faults prints each fault point it passes; a clean run
# over four files waiting at start-up (three DID lists, one binary file that
# is rejected) gives every spool.* point and how often it is passed, then for
# each point P and each pass K a fresh daemon dies just before the K-th pass of
# P (BSKY_FAULT_AT=P#K; the intake and the work loop interleave differently
# each run, so a global count would not name the same step twice). The state
# it leaves is checked (records of done DIDs exactly once), the product daemon
# is started on the same directories and runs until every file is answered,
# and then: every DID is final, every record of every done DID is in its queue
# exactly once, every DID is in exactly one result file, in its own file's,
# and no file was processed twice (no `~2` names, one spool row per file).
#   spool_crash_test.sh BSKY_BACKFILLD BSKY_BACKFILLD_FAULTS FAKE_PDS FIXTURES
#   (SPOOL_CRASH_POINTS="spool.move#2 spool.result#1": only those rounds)
set -u
daemon=$1 faults=$2 fake_pds=$3 fx=$4
here=$(dirname "$0")
# On a tmpfs when there is one: ~25 rounds of fsyncs on a shared disk are slow
# and test nothing the SIGKILL does not.
tmp=$(mktemp -d -p "$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")"); pds_pid= pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; [[ -n $pds_pid ]] && kill $pds_pid 2>/dev/null; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# 12 DIDs of 7 wanted records each; every 4th answers with a truncated CAR (3 failed DIDs).
"$fake_pds" "$fx/cars/repo-stream__tiny.car" 12 "$tmp/port" "$tmp/dids" 4 & pds_pid=$!
for _ in $(seq 1 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
[[ -s $tmp/port ]] || { echo "FAIL: fake_pds did not start"; exit 1; }
per_did=7 done_dids=9 failed_dids=3

# ROUND_DIR/spool with the four files, and the config for ROUND_DIR.
prepare() {
  local dir=$1
  mkdir -p "$dir/spool"
  { sed -n 1,4p "$tmp/dids"; echo "not-a-did"; } >"$dir/spool/a.txt"
  { echo "handle,did"; sed -n 5,8p "$tmp/dids" | sed 's/^/x.test,/'; } >"$dir/spool/b.csv"
  sed -n 9,12p "$tmp/dids" | sed 's/.*/{"did":"&"}/' >"$dir/spool/c.jsonl"
  { sed -n 1,2p "$tmp/dids"; printf 'binary\0content\n'; } >"$dir/spool/bad.txt"
  cat >"$dir/config.yaml" <<YAML
plc_url: http://127.0.0.1:$(cat "$tmp/port")
spool_dir: $dir/spool
state_dir: $dir/state
output: {dir: $dir/out, batch_size: 2}
allow_private_addresses: true
verify_signatures: false
stop_timeout_seconds: 2
metrics: {listen: 127.0.0.1:0}
retries: {max_attempts: 1}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
}

# Rows of spool files the store holds as finished.
finished_rows() {
  python3 -c 'import sqlite3, sys
try: print(sqlite3.connect(sys.argv[1], timeout=5).execute("SELECT COUNT(*) FROM spool_files WHERE state = ?", ("finished",)).fetchone()[0])
except sqlite3.Error: print(0)' "$1/state/state.db"
}
# Waits until every DID list is finished in the store (its result file alone
# may be left from before a crash) and bad.txt is rejected (or the daemon
# ends, or 60 s pass); returns 0 when it got there.
answered() {
  local dir=$1
  for _ in $(seq 1 600); do
    [[ -e $dir/spool/rejected/bad.txt && $(finished_rows "$dir") -eq 3 ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The product daemon on DIR until every file is answered; then SIGTERM, exit 0.
finish() {
  local dir=$1 label=$2 code
  "$daemon" --config "$dir/config.yaml" 2>>"$dir/log" & pid=$!
  answered "$dir"; check "$label-answered" $? "$(ls -R "$dir/spool") $(tail -5 "$dir/log")"
  kill -TERM "$pid"; wait "$pid"; code=$?; pid=
  check "$label-exit" $code "exit $code after SIGTERM: $(tail -3 "$dir/log")"
}

# What every round must end with (see the top of the file).
check_final() {
  local dir=$1 label=$2
  python3 "$here/../cli/check_exactly_once.py" "$dir/out" sqlite $per_did --state "$dir/state" --final $done_dids $failed_dids
  check "$label-exactly-once" $? "see above"
  python3 - "$dir" "$tmp/dids" <<'PY'
import json, os, sqlite3, sys
dir, dids = sys.argv[1], open(sys.argv[2]).read().split()
spool = f"{dir}/spool"
want = {"a.txt": dids[0:4], "b.csv": dids[4:8], "c.jsonl": dids[8:12]}
problems = []
def listing(sub):
    return sorted(os.listdir(f"{spool}/{sub}"))
if listing("finished") != sorted(f"{f}.result.json" for f in want):
    problems.append(f"finished/ holds {listing('finished')}")
if listing("accepted") != sorted([f for f in want] + [f"{f}.report.json" for f in want]):
    problems.append(f"accepted/ holds {listing('accepted')}")
if listing("rejected") != ["bad.txt", "bad.txt.error"]:
    problems.append(f"rejected/ holds {listing('rejected')}")
elif "NUL byte" not in open(f"{spool}/rejected/bad.txt.error").read():
    problems.append("rejected/bad.txt.error does not say why: " + open(f"{spool}/rejected/bad.txt.error").read())
left = [n for n in os.listdir(spool) if os.path.isfile(f"{spool}/{n}")]
if left:
    problems.append(f"left in the spool directory: {left}")
seen = {}
for f in want:
    path = f"{spool}/finished/{f}.result.json"
    if not os.path.exists(path):
        continue
    result = json.load(open(path))
    in_result = set(result["did_to_backfill_counts_map"]) | {d for d in result.get("failed", {}) if d.startswith("did:")}
    if in_result != set(want[f]):
        problems.append(f"{f}'s result has {sorted(in_result)}, not its DIDs {sorted(want[f])}")
    for d in in_result:
        seen.setdefault(d, []).append(f)
twice = {d: fs for d, fs in seen.items() if len(fs) > 1}
if twice:
    problems.append(f"DIDs in more than one result: {twice}")
missing = set(dids) - set(seen)
if missing:
    problems.append(f"DIDs in no result: {sorted(missing)}")
rows = sqlite3.connect(f"{dir}/state/state.db").execute("SELECT name, stored_name, state FROM spool_files ORDER BY name").fetchall()
if rows != [(f, f, "finished") for f in sorted(want)]:
    problems.append(f"spool rows {rows}: each file once, finished")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
PY
  check "$label-files" $? "see above"
}

# The clean run: the points passed and how often.
clean=$tmp/clean
prepare "$clean"
"$faults" --config "$clean/config.yaml" 2>>"$clean/log" & pid=$!
answered "$clean"; check clean-answered $? "$(tail -5 "$clean/log")"
kill -TERM "$pid"; wait "$pid"; code=$?; pid=
check clean-exit $code "exit $code: $(tail -3 "$clean/log")"
check_final "$clean" clean
points=$(grep -o '^bsky-fault: [0-9]* spool\.[a-z-]*' "$clean/log" | cut -d' ' -f3 | sort | uniq -c | awk '{print $2 "=" $1}')
echo "spool fault points passed in the clean run: $(echo $points)"
for p in spool.begin spool.complete spool.move spool.report spool.mark-accepted spool.result spool.mark-finished spool.reject-error spool.reject; do
  grep -q "^$p=" <<<"$points"; check "point-$p" $? "the clean run never passed $p: $(echo $points)"
done

rounds=${SPOOL_CRASH_POINTS:-$(for entry in $points; do for k in $(seq 1 "${entry#*=}"); do echo "${entry%=*}#$k"; done; done)}
for target in $rounds; do
  dir=$tmp/r-${target/\#/-}
  prepare "$dir"
  # (In a subshell: bash would report the killed process on our stderr.)
  (BSKY_FAULT_AT=$target "$faults" --config "$dir/config.yaml" 2>>"$dir/log" & p=$!
   for _ in $(seq 1 600); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
   kill -9 $p 2>/dev/null; wait $p; exit $?) 2>/dev/null
  code=$?
  [[ $code -eq 137 ]] && grep -q "crashing (SIGKILL) before step [0-9]* ${target%#*}$" "$dir/log"
  check "crash-$target" $? "exit $code, not killed at $target: $(grep -v '^bsky-fault' "$dir/log" | tail -3)"
  python3 "$here/../cli/check_exactly_once.py" "$dir/out" sqlite $per_did --state "$dir/state"
  check "after-crash-$target" $? "the state left by a crash at $target"
  finish "$dir" "restart-$target"
  check_final "$dir" "$target"
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$dir"
done
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
