#!/usr/bin/env bash
# fake_network smoke test: a PLC, a relay and 3 PDS hosts (one announcing a
# limit in RateLimit-* headers, one answering Bluesky's header-less HTML 429s
# and gzip), driven by the real `bsky-backfill run`; then its /stats and the
# SIGTERM stats file must show what the client did.
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/fake_network.sh"
tmp=$(mktemp -d); net_pid=
trap 'stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT

# The windows of 1e9 s (aligned on Unix time: until 2033) make the limits
# count requests without ever resetting during the test.
cat >"$tmp/spec.json" <<JSON
{"seed": "smoke",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car", "little": "$fx/cars/repo-stream__little.car"},
 "plc": {"rate_limits": [{"requests": 1000, "window_seconds": 1}]},
 "relay": {},
 "hosts": [{"latency_ms": 5, "bandwidth_bytes_per_second": 200000},
           {"rate_limits": [{"requests": 2, "window_seconds": 1e9}]},
           {"gzip": true, "rate_limits": [{"requests": 1, "window_seconds": 1e9, "headers": false}]}],
 "repos": [{"template": "tiny", "host": 0}, {"template": "little", "host": 1}, {"template": "tiny", "host": 2},
           {"template": "tiny", "host": 0, "via_relay": true}]}
JSON
start_network "$tmp/spec.json"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
retries: {max_attempts: 2, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 0 ]] || { echo "FAIL: run exited $code: $(tail -5 "$tmp/log")"; exit 1; }

python3 - "$tmp" "$fx" <<'PY' || exit 1
import json, os, sys, urllib.request, urllib.error
tmp, fx = sys.argv[1], sys.argv[2]
ready = json.load(open(f"{tmp}/ready.json"))
summary = json.load(open(f"{tmp}/summary.json"))
dids = [d["did"] for d in ready["dids"]]
assert sorted(summary["did_to_backfill_counts_map"]) == sorted(dids), summary
assert all(sum(c.values()) > 0 for c in summary["did_to_backfill_counts_map"].values()), summary

def get(url):
    try:
        with urllib.request.urlopen(url) as r: return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e: return e.code, dict(e.headers), e.read()

stats = json.loads(get(ready["plc"] + "/stats")[2])
hosts = {h["name"]: h for h in stats["hosts"]}
tiny = os.path.getsize(f"{fx}/cars/repo-stream__tiny.car")
little = os.path.getsize(f"{fx}/cars/repo-stream__little.car")
assert hosts["plc"]["requests"] == 4, hosts["plc"]
assert hosts["relay"]["requests"] == 1 and hosts["relay"]["repos_served"] == 0, hosts["relay"]
assert hosts["pds-0"]["repos_served"] == 2 and hosts["pds-0"]["bytes"] > 2 * tiny, hosts["pds-0"]   # its own DID and the relay's
assert hosts["pds-1"]["repos_served"] == 1 and hosts["pds-1"]["bytes"] > little, hosts["pds-1"]
assert hosts["pds-2"]["repos_served"] == 1 and 0 < hosts["pds-2"]["bytes"] < tiny, hosts["pds-2"]      # gzipped
assert stats["pds_total"]["repos_served"] == 4 and stats["pds_total"]["rate_limited"] == 0, stats["pds_total"]
assert all(h["max_open_connections"] >= 1 and h["open_connections"] <= h["max_open_connections"] for h in stats["hosts"]), stats

# pds-1 announces 2 requests per window: the run used 1, so one more is
# answered and the next refused, both with the headers.
repo_url = lambda host, did: ready["hosts"][host]["url"] + "/xrpc/com.atproto.sync.getRepo?did=" + did
status, headers, _ = get(repo_url(1, dids[1]))
assert status == 200 and headers["RateLimit-Remaining"] == "0" and headers["RateLimit-Policy"] == "2;w=1000000000", (status, headers)
status, headers, body = get(repo_url(1, dids[1]))
assert status == 429 and headers["RateLimit-Reset"] == "2000000000" and b"RateLimitExceeded" in body, (status, headers, body[:200])
# pds-2 allows 1 request and refuses the next like Bluesky's PDSes: HTML, no headers.
status, headers, body = get(repo_url(2, dids[2]))
assert status == 429 and headers["Content-Type"] == "text/html" and not any(k.startswith("RateLimit") for k in headers), (status, headers)
assert get(repo_url(0, dids[1]))[0] == 400   # a DID of another host: RepoNotFound
print("stats ok")
PY
kill -TERM $net_pid; wait $net_pid; net_pid=
python3 - "$tmp/stats.json" <<'PY' || exit 1
import json, sys
s = json.load(open(sys.argv[1]))
hosts = {h["name"]: h for h in s["hosts"]}
assert hosts["pds-1"]["requests"] == 3 and hosts["pds-1"]["rate_limited"] == 1, hosts["pds-1"]
assert hosts["pds-2"]["requests"] == 2 and hosts["pds-2"]["rate_limited"] == 1, hosts["pds-2"]
assert s["pds_total"]["rate_limited"] == 2 and s["pds_total"]["repos_served"] == 5, s["pds_total"]
print("SIGTERM stats ok")
PY
echo "fake_network smoke test passed"
