#!/usr/bin/env bash
# The work loop through the real `bsky-backfill run` on a loopback network
# (tests/support/fake_network): DIDs listed grouped by host, where the first
# host answers Bluesky's header-less 429s for its first 8 s and the second
# trickles a 286 KB repo at 40 KB/s. Every other host's DIDs must be done
# before either of those two finishes: no batch barrier, no slot held by a
# paused or slow host. (`--batch-size 10` is the original service's output
# grouping; with a batch barrier the first ten DIDs would hold the rest back.)
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid=
trap 'stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT

cat >"$tmp/spec.json" <<JSON
{"seed": "schedule",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car", "little": "$fx/cars/repo-stream__little.car"},
 "hosts": [{"rate_limits": [{"requests": 0, "window_seconds": 1, "headers": false, "until_seconds": 8}]},
           {"bandwidth_bytes_per_second": 40000},
           {"rate_limits": [{"requests": 10, "window_seconds": 1}]},
           {"rate_limits": [{"requests": 10, "window_seconds": 1}]},
           {"rate_limits": [{"requests": 10, "window_seconds": 1}]},
           {"rate_limits": [{"requests": 10, "window_seconds": 1}]}],
 "repos": [{"template": "tiny", "count": 4, "host": 0}, {"template": "little", "count": 2, "host": 1},
           {"template": "tiny", "count": 10, "host": 2}, {"template": "tiny", "count": 10, "host": 3},
           {"template": "tiny", "count": 10, "host": 4}, {"template": "tiny", "count": 10, "host": 5}]}
JSON
start_network "$tmp/spec.json"
# The list in the order the spec dealt it: grouped by host.
python3 -c "import json,sys; [print(d['did']) for d in json.load(open(sys.argv[1]))['dids']]" "$tmp/ready.json" >"$tmp/dids"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
rate_limits: {default_pause_seconds: 2, max_concurrent_fetches: 8, max_concurrent_per_host: 2}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" --batch-size 10 >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 0 ]] || { echo "FAIL: run exited $code: $(tail -5 "$tmp/log")"; exit 1; }

python3 - "$tmp" <<'PY' || exit 1
import json, sqlite3, sys
tmp = sys.argv[1]
ready = json.load(open(f"{tmp}/ready.json"))
summary = json.load(open(f"{tmp}/summary.json"))
host_of = {d["did"]: d["host"] for d in ready["dids"]}
assert sorted(summary["did_to_backfill_counts_map"]) == sorted(host_of), summary["failed"]
assert summary["total_batches"] == 5, summary["total_batches"]
db = sqlite3.connect(f"{tmp}/out/state/state.db")
ended = {did: t for did, t in db.execute("SELECT did, updated_at FROM dids")}
paused, slow = 0, 1  # host indexes in the spec
first_stalled = min(t for d, t in ended.items() if host_of[d] in (paused, slow))
last_other = max(t for d, t in ended.items() if host_of[d] not in (paused, slow))
assert last_other < first_stalled, f"the other hosts' last DID ended {last_other - first_stalled} ms after the first stalled one"
print(f"the other hosts' last DID ended {first_stalled - last_other} ms before the first paused or slow one")
PY
echo "schedule: other hosts finished while one was paused and one slow"

# An interrupt while the PLC holds every lookup: nothing durable is in flight,
# so run stops at once, reporting the DIDs as not finished, and exits 130.
stop_network
cp "$tmp/dids" "$tmp/dids.scheduled"
echo '{"plc": {"hold": true}, "hosts": [{}], "repos": []}' >"$tmp/hold.json"
start_network "$tmp/hold.json"
sed -i "s#^plc_url: .*#plc_url: $(plc_url)#" "$tmp/config.yaml"
"$cli" run --dids-file "$tmp/dids.scheduled" --config "$tmp/config.yaml" --output-dir "$tmp/held" >"$tmp/held.json" 2>"$tmp/held.log" & run_pid=$!
sleep 1
kill -INT $run_pid
for _ in $(seq 1 100); do kill -0 $run_pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $run_pid 2>/dev/null; then kill -9 $run_pid; echo "FAIL: run did not stop within 10 s of an interrupt while lookups were held"; exit 1; fi
wait $run_pid; code=$?
[[ $code -eq 130 ]] || { echo "FAIL: an interrupted run exited $code, not 130: $(tail -3 "$tmp/held.log")"; exit 1; }
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert len(s['failed']) == 46 and all(v.startswith('not finished') for v in s['failed'].values()), s" "$tmp/held.json" || exit 1
echo "schedule: an interrupt with lookups held stopped at once"
