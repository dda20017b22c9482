#!/usr/bin/env bash
# 2,000 PDS hosts (distinct loopback addresses), one repo each, through the
# real `run`: open file descriptors stay under the configured connection cap
# (read from /proc/PID/fd while it runs), however many hosts were seen.
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
hosts=${MANY_HOSTS:-2000} cap=24
tmp=$(mktemp -d); net_pid= run_pid=
trap '[[ -n $run_pid ]] && kill -9 $run_pid 2>/dev/null; stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
python3 - "$tmp/spec.json" "$fx" "$hosts" <<'PY'
import json, sys
out, fx, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"seed": "many", "templates": {"tiny": f"{fx}/cars/repo-stream__tiny.car"},
           "hosts": [{} for _ in range(n)], "repos": [{"template": "tiny", "count": n}]}, open(out, "w"))
PY
start_network "$tmp/spec.json"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
rate_limits: {max_concurrent_fetches: 8, max_concurrent_per_host: 2, plc: {requests: 100000, window_seconds: 1, burst: 1000}}
limits: {max_open_connections: $((cap / 2))}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" >"$tmp/summary.json" 2>"$tmp/log" & run_pid=$!
most=0 samples=0
while kill -0 $run_pid 2>/dev/null; do
  # Sockets only: the state store, queues, logs and pipes are a fixed few.
  n=$(find /proc/$run_pid/fd -lname 'socket:*' 2>/dev/null | wc -l)
  (( n > most )) && most=$n
  samples=$((samples + 1))
  sleep 0.05
done
wait $run_pid; code=$?; run_pid=
[[ $code -eq 0 ]] || { echo "FAIL: run exited $code: $(tail -5 "$tmp/log")"; exit 1; }
done=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['did_to_backfill_counts_map']))" "$tmp/summary.json")
[[ $done -eq $hosts ]] || { echo "FAIL: $done of $hosts DIDs done"; exit 1; }
# Two clients (PDS and PLC), each capped at max_open_connections, plus the metrics-free run's own few.
(( samples > 10 && most <= cap + 4 )) || { echo "FAIL: up to $most sockets open over $samples samples; the cap allows $cap"; exit 1; }
echo "many hosts: $hosts hosts, at most $most sockets open at once (cap $cap over two clients), $samples samples"
