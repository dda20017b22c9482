#!/usr/bin/env bash
# `bsky-backfill status` and `failures` against the state store of a real run
# (loopback PLC + PDS): the table lines and the --json fields agree with the
# store and the queues, they work while a run writes, and `run --retry-failed`
# works the failed DIDs again with a fresh attempt count.
set -u
cli=$1 fake_pds=$2 fx=$3
tmp=$(mktemp -d); pds_pid=; run_pid=
trap '[[ -n $pds_pid ]] && kill $pds_pid 2>/dev/null; [[ -n $run_pid ]] && kill $run_pid 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

"$fake_pds" "$fx/cars/repo-stream__little.car" 12 "$tmp/port" "$tmp/dids" 6 & pds_pid=$!
for _ in $(seq 1 100); do [[ -s $tmp/port ]] && break; sleep 0.05; done
port=$(cat "$tmp/port")
cat >"$tmp/config.yaml" <<YAML
plc_url: http://127.0.0.1:$port
allow_private_addresses: true
verify_signatures: false
retries: {max_attempts: 2, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
{ cat "$tmp/dids"; echo did:plc:aaaaaaaaaaaaaaaaaaaaaaaa; } >"$tmp/list.txt"
out=$tmp/out
"$cli" run --dids-file "$tmp/list.txt" --config "$tmp/config.yaml" --output-dir "$out" >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 1 ]]; check first-run $? "exit $code: $(tail -3 "$tmp/log")"

# --- status: the table ---
"$cli" status --output-dir "$out" >"$tmp/status.txt" 2>"$tmp/err"; code=$?
[[ $code -eq 0 ]]; check status-exit $? "exit $code: $(cat "$tmp/err")"
grep -qx 'DIDs: 13 total, 13 ended (100.0%)' "$tmp/status.txt"; check status-total-line $? "$(cat "$tmp/status.txt")"
grep -qE '^  done +10$' "$tmp/status.txt" && grep -qE '^  failed +2$' "$tmp/status.txt" && grep -qE '^  not_found +1$' "$tmp/status.txt"
check status-state-lines $? "$(cat "$tmp/status.txt")"
grep -qE "^  127\.0\.0\.1:$port +10 +2 +[0-9]+$" "$tmp/status.txt"; check status-host-line $? "$(cat "$tmp/status.txt")"
"$cli" status --state-dir "$out/state" | cmp -s - "$tmp/status.txt"; check status-state-dir $? "--state-dir and --output-dir differ"

# --- status --json: the store's and the queues' own figures ---
"$cli" status --output-dir "$out" --json >"$tmp/status.json"
for db in "$out"/queue/output_backfill_sync_*.db; do
  t=$(basename "$db" .db); t=${t#output_backfill_sync_}
  echo "$t $(sqlite3 "$db" "SELECT COUNT(*) FROM queue, json_each(queue.payload)")"
done >"$tmp/queued.txt"
sqlite3 -separator ' ' "$out/state/state.db" "SELECT status, COUNT(*) FROM dids GROUP BY status" >"$tmp/states.txt"
python3 - "$tmp" "$port" <<'PY'; check status-json $? "see above"
import json, sys
tmp, port = sys.argv[1], sys.argv[2]
s = json.load(open(tmp + "/status.json"))
states = dict((k, int(v)) for k, v in (l.split() for l in open(tmp + "/states.txt")))
assert {k: v for k, v in s["dids"].items() if v} == states, (s["dids"], states)
queued = dict((k, int(v)) for k, v in (l.split() for l in open(tmp + "/queued.txt")))
assert s["records"] == queued, (s["records"], queued)
assert s["records_total"] == sum(queued.values()) > 0
assert s["total"] == 13 and s["ended"] == 13, s
h = [h for h in s["hosts"] if h["host"] == "127.0.0.1:" + port]
assert len(h) == 1 and h[0]["dids"]["done"] == 10 and h[0]["dids"]["failed"] == 2, s["hosts"]
assert len(s["failures"]) == 2 and all("stream ends" in f["reason"] for f in s["failures"]), s["failures"]
assert s["bytes"] > 0 and s["first_added_at"].endswith("Z") and "live" not in s
print("status --json ok")
PY

# --- failures: the table and --json ---
"$cli" failures --output-dir "$out" >"$tmp/failures.txt"; code=$?
[[ $code -eq 0 ]]; check failures-exit $? "exit $code"
broken=$(sed -n '6p;12p' "$tmp/dids")
for d in $broken; do
  grep -qE "^$d +[0-9]+ +[0-9T:-]+Z +.*stream ends" "$tmp/failures.txt"; check "failures-line-$d" $? "$(cat "$tmp/failures.txt")"
done
grep -qx '2 failed; `bsky-backfill run --retry-failed` (same --output-dir or --config) queues them again' "$tmp/failures.txt"
check failures-hint $? "$(tail -1 "$tmp/failures.txt")"
"$cli" failures --output-dir "$out" --json >"$tmp/failures.json"
python3 - "$tmp/failures.json" "$out/state/state.db" $broken <<'PY'; check failures-json $? "see above"
import json, sqlite3, sys
f = json.load(open(sys.argv[1]))["failed"]
db = sqlite3.connect("file:" + sys.argv[2] + "?mode=ro", uri=True)
rows = {d: (a, e) for d, a, e in db.execute("SELECT did, attempts, last_error FROM dids WHERE status = 'failed'")}
assert sorted(x["did"] for x in f) == sorted(sys.argv[3:]) == sorted(rows), (f, rows)
for x in f:
    assert (x["attempts"], x["reason"]) == rows[x["did"]], (x, rows[x["did"]])
    assert set(x) == {"did", "attempts", "reason", "pds", "at"} and x["at"].endswith("Z")
print("failures --json ok")
PY
attempts_before=$(sqlite3 "$out/state/state.db" "SELECT group_concat(attempts) FROM dids WHERE status = 'failed' ORDER BY did")

# --- while a run writes: --retry-failed works the two failed DIDs again; status never blocks or fails ---
"$cli" run --retry-failed --config "$tmp/config.yaml" --output-dir "$out" --metrics-file "$tmp/m.prom" >"$tmp/retry.json" 2>"$tmp/retry.log" & run_pid=$!
reads=0 bad=0
while kill -0 $run_pid 2>/dev/null; do
  "$cli" status --output-dir "$out" --json >/dev/null 2>>"$tmp/concurrent.err" || bad=$((bad + 1))
  reads=$((reads + 1))
done
wait $run_pid; code=$?; run_pid=
[[ $bad -eq 0 ]]; check status-during-run $? "$bad of $reads reads failed: $(head -3 "$tmp/concurrent.err")"
[[ $code -eq 1 ]] && grep -q -- '--retry-failed: 2 failed DIDs queued again' "$tmp/retry.log"; check retry-run $? "exit $code: $(tail -3 "$tmp/retry.log")"
python3 -c "
import json,sys; s=json.load(open(sys.argv[1])); assert sorted(s['failed']) == sorted(sys.argv[2:]), s" "$tmp/retry.json" $broken
check retry-summary $? "$(cat "$tmp/retry.json")"
attempts_after=$(sqlite3 "$out/state/state.db" "SELECT group_concat(attempts) FROM dids WHERE status = 'failed' ORDER BY did")
[[ $attempts_after == "$attempts_before" ]]; check retry-fresh-attempts $? "attempts $attempts_before before, $attempts_after after (reset to 0, then counted again)"

# --- the final metrics agree with the store and the queues ---
sqlite3 -separator ' ' "$out/state/state.db" "SELECT status, COUNT(*) FROM dids GROUP BY status" >"$tmp/states2.txt"
while read -r st n; do
  grep -qx "bsky_state_dids{state=\"$st\"} $n" "$tmp/m.prom"; check "metric-state-$st" $? "$(grep bsky_state_dids "$tmp/m.prom")"
done <"$tmp/states2.txt"
while read -r t n; do
  grep -qx "bsky_state_records{type=\"$t\"} $n" "$tmp/m.prom"; check "metric-records-$t" $? "$(grep bsky_state_records "$tmp/m.prom")"
done <"$tmp/queued.txt"

# --- errors name the path and the fix ---
"$cli" status --state-dir "$tmp/nowhere" >/dev/null 2>"$tmp/err"; code=$?
[[ $code -eq 1 ]] && grep -q "$tmp/nowhere/state.db: no state store there; pass --state-dir" "$tmp/err"; check missing-store $? "exit $code: $(cat "$tmp/err")"
"$cli" status --state-dir a --output-dir b >/dev/null 2>&1; [[ $? -eq 2 ]]; check one-source $? "two sources must exit 2"
[[ ! -e $tmp/nowhere ]]; check read-only $? "status created $tmp/nowhere"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
