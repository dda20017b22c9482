#!/usr/bin/env bash
# SIGHUP in the real daemon, seen from outside: a lower per-host rate is seen
# by the server (fake_network's /stats, sampled by this test), a new record
# type is exported for the DIDs that start after the reload, and reloads sent
# one after the other during heavy in-flight work lose nothing: every DID is
# in its file's result, every record of every DID in its queue exactly once.
set -u
daemon=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid= pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# One host with 40 ms of latency: four at a time, some 50 repos/s at most before the reload.
cat >"$tmp/spec.json" <<JSON
{"seed": "daemon-reload", "templates": {"tiny": "$fx/cars/repo-stream__tiny.car"},
 "hosts": [{"latency_ms": 40}], "repos": [{"template": "tiny", "count": 330, "host": 0}]}
JSON
start_network "$tmp/spec.json"
host_url=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][0]['url'])" "$tmp/ready.json")
mkdir -p "$tmp/spool"
# The knobs the reloads turn are on lines of their own, for sed.
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
spool_dir: $tmp/spool
state_dir: $tmp/state
output:
  dir: $tmp/out
  batch_size: 5
allow_private_addresses: true
verify_signatures: false
record_types: [post, like]
stop_timeout_seconds: 5
metrics: {listen: 127.0.0.1:0}
rate_limits:
  pds:
    requests: 1000
    window_seconds: 1
    burst: 100
  max_concurrent_per_host: 4
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
set_key() { sed -i "s/^\(  *$1:\) .*/\1 $2/" "$tmp/config.yaml"; }  # set_key KEY VALUE (an indented key)
set_types() { sed -i "s/^record_types: .*/record_types: [$1]/" "$tmp/config.yaml"; }
# Repos the host served so far, as the host counts them.
served() { python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1] + "/stats", timeout=5))["hosts"][1]["repos_served"])' "$host_url"; }
# rate_over SECONDS: repos served per second over the next SECONDS, as the host saw them.
rate_over() {
  local s0 t0 s1 t1
  s0=$(served); t0=$(date +%s%N); sleep "$1"; s1=$(served); t1=$(date +%s%N)
  python3 -c "import sys; print(round(($s1 - $s0) / (($t1 - $t0) / 1e9), 1))"
}
reloads_seen() { grep -c 'config reloaded' "$tmp/log"; }
reload() {  # reload: SIGHUP, then wait until the daemon says it applied it
  local before
  before=$(reloads_seen)
  kill -HUP "$pid"
  for _ in $(seq 1 100); do [[ $(reloads_seen) -gt $before ]] && return 0; sleep 0.05; done
  return 1
}
dids() { sed -n "$1p" "$tmp/dids"; }

"$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!
dids 1,300 >"$tmp/spool/.big.part" && mv "$tmp/spool/.big.part" "$tmp/spool/big.txt"
for _ in $(seq 1 200); do [[ $(served) -ge 20 ]] && break; sleep 0.05; done
fast=$(rate_over 1)

# The per-host rate falls to 5 a second (a bucket of 1): after the DIDs in
# flight end, the host sees no more than that.
set_key requests 5; set_key burst 1
reload; check reload-rate $? "$(tail -3 "$tmp/log")"
sleep 1
slow=$(rate_over 3)
echo "repos served per second: $fast before the reload, $slow after it"
python3 -c "import sys; sys.exit(not ($fast >= 12))"; check rate-before $? "only $fast/s before the reload: the test proves nothing"
python3 -c "import sys; sys.exit(not (1 <= $slow <= 6))"; check rate-after $? "$slow/s after a reload to 5/s (a bucket of 1)"
! grep 'take effect only after a restart' "$tmp/log" | grep -q rate_limits; check rate-not-restart-only $? "$(grep restart "$tmp/log")"

# Reloads during heavy work: rate, concurrency, batch size and types back and
# forth while DIDs are in flight; none is lost or written twice.
set_key requests 1000; set_key burst 100
reload; check reload-fast $? "$(tail -3 "$tmp/log")"
for round in 1 2 3 4 5 6; do
  if (( round % 2 )); then set_key max_concurrent_per_host 1; set_key batch_size 50; set_types "post, like, repost"
  else set_key max_concurrent_per_host 4; set_key batch_size 5; set_types "post, like"; fi
  reload; check "reload-busy-$round" $? "$(tail -3 "$tmp/log")"
  sleep 0.3
done
busy_served=$(served)
(( busy_served < 300 )); check reloads-in-flight $? "every repo was served before the reloads ended: the test proves nothing"

# A new type for the DIDs that start after the reload: profiles; and 50 per
# batch, which the next result counts its batches by.
set_types "post, like, profile"; set_key batch_size 50
reload; check reload-types $? "$(tail -3 "$tmp/log")"
for _ in $(seq 1 600); do [[ -e $tmp/spool/finished/big.txt.result.json ]] && break; sleep 0.1; done
dids 301,330 >"$tmp/spool/.next.part" && mv "$tmp/spool/.next.part" "$tmp/spool/next.txt"
for f in big.txt next.txt; do
  for _ in $(seq 1 600); do [[ -e $tmp/spool/finished/$f.result.json ]] && break; sleep 0.1; done
  [[ -e $tmp/spool/finished/$f.result.json ]]; check "result-$f" $? "$(tail -5 "$tmp/log")"
done
kill -TERM "$pid"; wait "$pid"; code=$?; pid=
check exit $code "exit $code: $(tail -3 "$tmp/log")"
grep -q 'config reload rejected' "$tmp/log"; [[ $? -ne 0 ]]; check no-rejected-reload $? "$(grep 'reload rejected' "$tmp/log")"

python3 - "$tmp" <<'PY' || failures=$((failures + 1))
import glob, json, sqlite3, sys
tmp = sys.argv[1]
dids = open(f"{tmp}/dids").read().split()
files = {"big.txt": dids[:300], "next.txt": dids[300:330]}
results = {f: json.load(open(f"{tmp}/spool/finished/{f}.result.json")) for f in files}
for f, want in files.items():
    done = results[f]["did_to_backfill_counts_map"]
    assert sorted(done) == sorted(want), (f, len(done), results[f].get("failed"))
# Profiles only where the reload that asked for them came first: none for the
# DIDs of big.txt served before the first reload, one for each DID of next.txt.
assert all(c.get("profile") == 1 for c in results["next.txt"]["did_to_backfill_counts_map"].values()), results["next.txt"]
assert results["next.txt"]["total_batches"] == 1, results["next.txt"]["total_batches"]
without = sum("profile" not in c for c in results["big.txt"]["did_to_backfill_counts_map"].values())
assert without >= 20, without
seen, per_did = set(), {}
for db in glob.glob(f"{tmp}/out/queue/output_backfill_sync_*.db"):
    rtype = db.rsplit("_", 1)[1][:-3]
    for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
        for rec in json.loads(payload):
            assert rec["uri"] not in seen, rec["uri"]
            seen.add(rec["uri"])
            key = (rec["uri"].split("/")[2], rtype)
            per_did[key] = per_did.get(key, 0) + 1
expected = 0
for r in results.values():
    for did, counts in r["did_to_backfill_counts_map"].items():
        for rtype, n in counts.items():
            assert per_did.get((did, rtype), 0) == n, (did, rtype, per_did.get((did, rtype)), n)
            expected += n
assert len(seen) == expected, (len(seen), expected)
print(f"reload: {len(seen)} records of 330 DIDs, each once; {without} DIDs of big.txt without profiles")
PY
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
