#!/usr/bin/env bash
# kill -9 at random moments, restart, repeat: afterwards every DID is final and
# every record of every done DID is in its queue exactly once.
set -u
cli=$1 fake_pds=$2 fx=$3 output=${4:-sqlite}
dids=${CRASH_TEST_DIDS:-300} kills=${CRASH_TEST_KILLS:-5}
tmp=$(mktemp -d); pds_pid=
trap '[[ -n $pds_pid ]] && kill $pds_pid 2>/dev/null; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

"$fake_pds" "$fx/cars/php-car__repo.car" "$dids" "$tmp/port" "$tmp/dids" & pds_pid=$!
for _ in $(seq 1 200); do [[ -s $tmp/port ]] && break; sleep 0.05; done
cat >"$tmp/config.yaml" <<YAML
plc_url: http://127.0.0.1:$(cat "$tmp/port")
allow_private_addresses: true
verify_signatures: false
output: {batch_size: 10, kind: $output, jsonl_rotate_bytes: 200KB}
rate_limits: {max_concurrent_fetches: 8, max_concurrent_per_host: 8, pds: {requests: 100000, window_seconds: 1, burst: 1000}, plc: {requests: 100000, window_seconds: 1, burst: 1000}}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
run() { exec "$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" --batch-size 100 >"$tmp/summary.json" 2>>"$tmp/log"; }

# Ctrl-C first (mid-run): exit 130 at once, resumable like a crash.
(run) & pid=$!
sleep 0.3
kill -INT "$pid" 2>/dev/null
wait "$pid"; code=$?
echo "interrupt: exit $code, $(sqlite3 "$tmp/out/state/state.db" "SELECT status || '=' || COUNT(*) FROM dids GROUP BY status" 2>/dev/null | tr '\n' ' ')"
[[ $code -eq 130 ]]; check interrupt-exit $? "exit $code after SIGINT: $(tail -3 "$tmp/log")"
grep -q 'AddressSanitizer' "$tmp/log"; [[ $? -ne 0 ]]; check interrupt-clean $? "$(grep -A5 AddressSanitizer "$tmp/log" | head -8)"

for i in $(seq 1 "$kills"); do
  (run) & pid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))$(( RANDOM % 10 ))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  echo "kill $i: $(sqlite3 "$tmp/out/state/state.db" "SELECT status || '=' || COUNT(*) FROM dids GROUP BY status" 2>/dev/null | tr '\n' ' ')"
done
(run); code=$?
[[ $code -eq 0 ]]; check final-run $code "exit $code: $(tail -5 "$tmp/log")"
state=$(sqlite3 "$tmp/out/state/state.db" "SELECT status || '=' || COUNT(*) FROM dids GROUP BY status")
[[ $state == "done=$dids" ]]; check all-done $? "$state"
total=0
if [[ $output == sqlite ]]; then
  for db in "$tmp"/out/queue/output_backfill_sync_*.db; do
    read -r records uris <<<"$(sqlite3 -separator ' ' "$db" "SELECT COUNT(*), COUNT(DISTINCT json_extract(value, '\$.uri')) FROM queue, json_each(queue.payload)")"
    [[ $records -eq $uris ]]; check "exactly-once-$(basename "$db" .db)" $? "$records records but $uris distinct URIs"
    total=$((total + records))
  done
else
  read -r total uris parts <<<"$(python3 - "$tmp/out" <<'PY'
import glob, json, os, sys
uris, total, parts = set(), 0, 0
for part in glob.glob(os.path.join(sys.argv[1], "*", "part-*.jsonl")):
    parts += 1
    for line in open(part):
        total += 1
        uris.add(json.loads(line)["uri"])  # a half-written line would not parse
print(total, len(uris), parts)
PY
)"
  [[ $total -eq $uris ]]; check exactly-once-jsonl $? "$total lines but $uris distinct URIs"
  [[ $parts -gt 6 ]]; check rotated $? "only $parts part files"
  [[ ! -e $tmp/out/.staging ]] || [[ -z $(ls -A "$tmp/out/.staging") ]]; check no-staging-left $? "$(ls "$tmp/out/.staging")"
fi
per_did=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); v=list(s['did_to_backfill_counts_map'].values()); assert all(x==v[0] for x in v); print(sum(v[0].values()))" "$tmp/summary.json")
[[ $total -eq $((per_did * dids)) ]]; check none-missing $? "$total records in the queues, expected $per_did x $dids"
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
