#!/usr/bin/env bash
# A crash (MODE=crash: SIGKILL) or a write error (MODE=fail: EIO) at every
# durable step of a small run, one step per round, not at random:
# bsky-backfill-faults counts the fault points it passes; a clean run gives
# the list of steps, then for each N a fresh run stops or fails at step N, the
# state it leaves is checked, the product binary runs the same command again,
# and afterwards every DID is final and every record of every done DID is in
# its queue exactly once (tests/cli/check_exactly_once.py).
#   fault_steps_test.sh BSKY_BACKFILL BSKY_BACKFILL_FAULTS FAKE_PDS FIXTURES sqlite|jsonl crash|fail
set -u
cli=$1 faults=$2 fake_pds=$3 fx=$4 output=$5 mode=$6
here=$(dirname "$0")
# The output on a tmpfs when there is one: fsyncs on a shared disk would make
# the ~100 runs slow, and they test nothing the crash cannot.
tmp=$(mktemp -d -p "$( [[ -d /dev/shm && -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")"); pds_pid=
trap '[[ -n $pds_pid ]] && kill $pds_pid 2>/dev/null; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# 4 DIDs of 7 wanted records each (5 types, 2 of them in two batches); the
# 2nd and 4th answer with a truncated CAR (failed DIDs), and the 3rd commits
# after a failed commit of the 1st, which it must finish first.
"$fake_pds" "$fx/cars/repo-stream__tiny.car" 4 "$tmp/port" "$tmp/dids" 2 & pds_pid=$!
for _ in $(seq 1 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
cat >"$tmp/config.yaml" <<YAML
plc_url: http://127.0.0.1:$(cat "$tmp/port")
allow_private_addresses: true
verify_signatures: false
output: {batch_size: 1, kind: $output}
retries: {max_attempts: 1}
# One DID at a time: the same steps in the same order in every round.
rate_limits: {max_concurrent_fetches: 1, max_concurrent_per_host: 1}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
per_did=7
run() { # BINARY OUTPUT_DIR [ENV=VALUE]
  env "${@:3}" "$1" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$2" --batch-size 2 >"$2.summary" 2>"$2.log"
}

run "$faults" "$tmp/clean"; code=$?
[[ $code -eq 1 ]]; check clean-run $? "exit $code (the broken DID must exit 1): $(tail -3 "$tmp/clean.log")"
steps=$(grep -c '^bsky-fault: ' "$tmp/clean.log")
python3 "$here/check_exactly_once.py" "$tmp/clean" "$output" $per_did --final 2 2; check clean-output $? "see above"
echo "$steps durable steps: $(grep '^bsky-fault: ' "$tmp/clean.log" | cut -d' ' -f3 | uniq -c | awk '{printf "%s%s", sep, ($1 > 1 ? $2 "x" $1 : $2); sep=", "}')"
[[ $steps -ge 20 ]]; check steps-counted $? "only $steps fault points passed"

for n in ${FAULT_STEPS:-$(seq 1 "$steps")}; do  # FAULT_STEPS="3 7": only those rounds
  dir=$tmp/r$n
  # (In a subshell: bash would report the killed process on our stderr.)
  if [[ $mode == crash ]]; then (run "$faults" "$dir" BSKY_FAULT_AT="$n"; exit $?) 2>/dev/null; else (run "$faults" "$dir" BSKY_FAULT_FAIL_AT="$n"); fi
  code=$?
  step=$(grep '^bsky-fault: ' "$dir.log" | sed -n "${n}p" | cut -d' ' -f3)
  if [[ $mode == crash ]]; then
    [[ $code -eq 137 ]]; check "crash-$n-$step" $? "exit $code, not killed at step $n: $(tail -2 "$dir.log")"
  else
    # A write error is never a crash: the run goes on and reports the DID as
    # failed with the reason, or, when the state store cannot be written, stops
    # with exit 1 and says so.
    if [[ $step == state.* ]]; then
      [[ $code -eq 1 ]] && grep -q "the state store cannot be written: .*injected write error at $step" "$dir.log"
    else
      # (A DID whose commit failed may be done at the end all the same: the next
      # DID's commit finishes it first.)
      [[ $code -eq 1 ]] && grep -Eq "injected write error at $step.*(pending again|stays .committing.)" "$dir.log" &&
        # and the DID is not left `running`, as if still in flight
        [[ $(sqlite3 "$dir/state/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'running'") -eq 0 ]]
    fi
    check "fail-$n-$step" $? "exit $code, or the error is not reported: $(cat "$dir.summary") $(grep -v '^bsky-fault' "$dir.log" | tail -3)"
  fi
  python3 "$here/check_exactly_once.py" "$dir" "$output" $per_did; check "after-$mode-$n-$step" $? "the state left by step $n ($step)"
  run "$cli" "$dir"; code=$?
  [[ $code -eq 1 ]]; check "rerun-$n" $? "exit $code: $(tail -3 "$dir.log")"
  python3 "$here/check_exactly_once.py" "$dir" "$output" $per_did --final 2 2; check "exactly-once-$n-$step" $? "after the rerun"
  rm -rf "$dir" "$dir.summary" "$dir.log"
done
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
