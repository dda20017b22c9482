#!/usr/bin/env bash
# /metrics scraped in the middle of a real run agrees with the state store:
# two slow repos (a bandwidth-limited host) hold the store still for seconds
# while the run is under way, so a scrape and a SELECT see the same thing —
# DIDs running and pending, and the records already committed by type.
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid=; run_pid=
trap '[[ -n $run_pid ]] && kill -9 $run_pid 2>/dev/null; stop_network; rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# Host 0 is quick; host 1 sends 286 KB at 15 KB/s (about 19 s a repo), two at a time.
cat >"$tmp/spec.json" <<JSON
{"seed": "midrun",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car", "little": "$fx/cars/repo-stream__little.car"},
 "hosts": [{}, {"bandwidth_bytes_per_second": 15000}],
 "repos": [{"template": "tiny", "count": 4, "host": 0}, {"template": "little", "count": 4, "host": 1}]}
JSON
start_network "$tmp/spec.json"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
rate_limits: {max_concurrent_fetches: 2, max_concurrent_per_host: 2}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" --metrics-listen 127.0.0.1:0 \
  >"$tmp/summary.json" 2>"$tmp/log" & run_pid=$!
for _ in $(seq 1 300); do grep -q 'metrics at http://' "$tmp/log" && break; sleep 0.1; done
addr=$(grep -o 'metrics at http://[0-9.:]*' "$tmp/log" | head -1 | sed 's|metrics at http://||')
[[ -n $addr ]]; check listening $? "$(tail -3 "$tmp/log")"
store() { sqlite3 -separator ' ' "file:$tmp/out/state/state.db?mode=ro" "SELECT status, COUNT(*) FROM dids GROUP BY status ORDER BY status" 2>/dev/null; }
# Wait until both fetch slots hold slow repos (the quick DIDs may be done or
# still waiting behind them), then for the store to stay still past one of
# the monitor's reads (every 2 s).
slow=$(tail -4 "$tmp/dids" | sed "s/.*/'&'/" | paste -sd,)
slow_running() { sqlite3 "file:$tmp/out/state/state.db?mode=ro" "SELECT COUNT(*) FROM dids WHERE status = 'running' AND did IN ($slow)" 2>/dev/null; }
for _ in $(seq 1 600); do [[ $(slow_running) == 2 ]] && break; sleep 0.1; done
for _ in 1 2 3; do  # a quick DID that ends just then moves the store: look again
  before=$(store); sleep 2.5
  curl -sf "http://$addr/metrics" >"$tmp/m.prom"
  after=$(store)
  [[ $before == "$after" ]] && break
done
kill -0 $run_pid 2>/dev/null; check still-running $? "the run ended before the scrape"
[[ $before == "$after" ]] && grep -qx 'running 2' <<<"$after" && grep -q '^pending ' <<<"$after"
check store-still $? "store moved during the scrape, or no DID was waiting: '$before' then '$after'"
while read -r st n; do
  grep -qx "bsky_state_dids{state=\"$st\"} $n" "$tmp/m.prom"; check "midrun-state-$st" $? "$(grep bsky_state_dids "$tmp/m.prom")"
done <<<"$after"
for db in "$tmp"/out/queue/output_backfill_sync_*.db; do
  t=$(basename "$db" .db); t=${t#output_backfill_sync_}
  n=$(sqlite3 "file:$db?mode=ro" "SELECT COALESCE(SUM(json_array_length(payload)), 0) FROM queue")
  grep -qx "bsky_state_records{type=\"$t\"} $n" "$tmp/m.prom"; check "midrun-records-$t" $? "queue has $n: $(grep bsky_state_records "$tmp/m.prom")"
done
wait $run_pid; code=$?; run_pid=
[[ $code -eq 0 ]]; check run-completes $? "exit $code: $(tail -3 "$tmp/log")"
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
