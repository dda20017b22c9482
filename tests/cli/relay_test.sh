#!/usr/bin/env bash
# A relay whose getRepo answers 302 to two PDS hosts, through the real `run`:
# host A allows one request per 4 s (announced in RateLimit-* headers, 429s
# beyond), host B has no limit. Each host's limit must apply to itself: A's
# 429s pause A, not the relay, so B's DIDs are all done before A's last one.
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid=
trap 'stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
cat >"$tmp/spec.json" <<JSON
{"seed": "relay",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car"},
 "relay": {},
 "hosts": [{"rate_limits": [{"requests": 1, "window_seconds": 4}]}, {}],
 "repos": [{"template": "tiny", "count": 3, "host": 0, "via_relay": true},
           {"template": "tiny", "count": 6, "host": 1, "via_relay": true}]}
JSON
start_network "$tmp/spec.json"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
rate_limits: {max_concurrent_fetches: 16, max_concurrent_per_host: 16}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" \
  --metrics-file "$tmp/metrics.prom" >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 0 ]] || { echo "FAIL: run exited $code: $(tail -5 "$tmp/log")"; exit 1; }
python3 - "$tmp" <<'PY' || exit 1
import json, re, sqlite3, sys
tmp = sys.argv[1]
ready = json.load(open(f"{tmp}/ready.json"))
host_of = {d["did"]: d["host"] for d in ready["dids"]}
summary = json.load(open(f"{tmp}/summary.json"))
assert sorted(summary["did_to_backfill_counts_map"]) == sorted(host_of), summary["failed"]
ended = dict(sqlite3.connect(f"{tmp}/out/state/state.db").execute("SELECT did, updated_at FROM dids"))
last_b = max(t for d, t in ended.items() if host_of[d] == 1)
last_a = max(t for d, t in ended.items() if host_of[d] == 0)
assert last_b < last_a, f"B's last DID ended {last_b - last_a} ms after A's: the relay was paused for A's limit"
metrics = open(f"{tmp}/metrics.prom").read()
relay = ready["relay"].split("//")[1]
a = ready["hosts"][0]["url"].split("//")[1]
limited = dict(re.findall(r'^bsky_rate_limited_total\{host="([^"]+)"\} (\S+)$', metrics, re.M))
assert float(limited.get(a, 0)) >= 1 and relay not in limited, limited
print(f"relay: A's 429s ({limited[a]}) paused A; B's DIDs ended {last_a - last_b} ms before A's last")
PY
