#!/usr/bin/env bash
# A second SIGTERM during the drain: the first one lets the DIDs in flight
# finish (stop_timeout_seconds is long here, and a slow host's repos take
# seconds each), the second ends the daemon at once, exit 0, with the state
# consistent (every record of every done DID in its queue once, nothing of
# the others); a restart completes the rest, each record exactly once. Then a
# SIGTERM while a large file is being read.
set -u
daemon=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid= pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# Host 1 trickles its repos (286 KB at 40 KB/s: some 7 s each).
cat >"$tmp/spec.json" <<JSON
{"seed": "daemon-stop",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car", "little": "$fx/cars/repo-stream__little.car"},
 "hosts": [{}, {"bandwidth_bytes_per_second": 40000}],
 "repos": [{"template": "tiny", "count": 20, "host": 0}, {"template": "little", "count": 6, "host": 1}]}
JSON
start_network "$tmp/spec.json"
stats_url=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hosts'][0]['url'] + '/stats')" "$tmp/ready.json")
mkdir -p "$tmp/spool"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
spool_dir: $tmp/spool
state_dir: $tmp/state
output: {dir: $tmp/out, batch_size: 5}
allow_private_addresses: true
verify_signatures: false
stop_timeout_seconds: 60
metrics: {listen: 127.0.0.1:0}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
# Body bytes the slow host has sent so far.
slow_bytes() { python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["hosts"][2]["bytes"])' "$stats_url"; }
# No URI twice; every done DID's records are there, as many per type as the
# store counted, and no record of a DID that is not done. Prints the done DIDs.
consistent() {
  python3 - "$tmp" <<'PY'
import glob, json, sqlite3, sys
tmp = sys.argv[1]
state = {did: (status, json.loads(counts or "{}")) for did, status, counts in
         sqlite3.connect(f"{tmp}/state/state.db").execute("SELECT did, status, counts FROM dids")}
seen, per_did = set(), {}
for db in glob.glob(f"{tmp}/out/queue/output_backfill_sync_*.db"):
    rtype = db.rsplit("_", 1)[1][:-3]
    for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
        for rec in json.loads(payload):
            assert rec["uri"] not in seen, f"{rec['uri']} is in the queues twice"
            seen.add(rec["uri"])
            key = (rec["uri"].split("/")[2], rtype)
            per_did[key] = per_did.get(key, 0) + 1
for (did, rtype), n in per_did.items():
    assert state.get(did, ("unknown",))[0] == "done", f"{did} is {state.get(did, ('unknown',))[0]} with {n} {rtype} records queued"
for did, (status, counts) in state.items():
    if status == "done":
        for rtype, n in counts.items():
            assert per_did.get((did, rtype), 0) == n, (did, rtype, per_did.get((did, rtype)), n)
print(sum(s == "done" for s, _ in state.values()))
PY
}

"$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!
sed -n 1,26p "$tmp/dids" >"$tmp/spool/.all.part" && mv "$tmp/spool/.all.part" "$tmp/spool/all.txt"
for _ in $(seq 1 200); do [[ $(slow_bytes) -ge 40000 ]] && break; sleep 0.05; done
kill -TERM "$pid"
sleep 1
kill -0 "$pid" 2>/dev/null; check draining $? "the daemon ended within 1 s of the first SIGTERM: the test proves nothing"
grep -q 'received SIGTERM: taking no new DIDs' "$tmp/log"; check first-signal $? "$(tail -3 "$tmp/log")"
t0=$(date +%s%N); kill -TERM "$pid"; wait "$pid"; code=$?; t1=$(date +%s%N); pid=
ms=$(( (t1 - t0) / 1000000 ))
echo "second SIGTERM to exit: $ms ms"
check second-signal-exit $code "exit $code: $(tail -3 "$tmp/log")"
(( ms < 2000 )); check second-signal-prompt $? "took $ms ms (stop_timeout_seconds is 60)"
grep -q 'received SIGTERM again: abandoning' "$tmp/log"; check second-signal-logged $? "$(tail -3 "$tmp/log")"
done_then=$(consistent); check consistent-after-stop $? "$done_then"
[[ $done_then =~ ^[0-9]+$ ]] && (( done_then < 26 )); check left-work $? "$done_then of 26 DIDs done at the stop: nothing was abandoned"
[[ ! -e $tmp/spool/finished/all.txt.result.json ]]; check no-result-yet $? "all.txt answered before the stop"

"$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!
for _ in $(seq 1 600); do [[ -e $tmp/spool/finished/all.txt.result.json ]] && break; sleep 0.1; done
[[ -e $tmp/spool/finished/all.txt.result.json ]]; check restart-result $? "$(tail -5 "$tmp/log")"
kill -TERM "$pid"; wait "$pid"; code=$?; pid=
check restart-exit $code "exit $code: $(tail -3 "$tmp/log")"
done_now=$(consistent); check consistent-after-restart $? "$done_now"
[[ $done_now == 26 ]]; check all-done $? "$done_now of 26 DIDs done"
python3 - "$tmp" <<'PY'; check result $? "see above"
import json, sys
tmp = sys.argv[1]
dids = open(f"{tmp}/dids").read().split()
result = json.load(open(f"{tmp}/spool/finished/all.txt.result.json"))
assert sorted(result["did_to_backfill_counts_map"]) == sorted(dids), result.get("failed")
PY
# SIGTERM while a large file is being read: the daemon does not wait for the
# rest of the file; the half-read batch is rolled back at the next start and
# the file read again, once.
python3 -c "
import random, sys
alphabet, r = 'abcdefghijklmnopqrstuvwxyz234567', random.Random(7)
with open(sys.argv[1], 'w') as f:
    for _ in range(300000): f.write('did:plc:' + ''.join(r.choice(alphabet) for _ in range(24)) + '\n')
" "$tmp/spool/.big.part"
"$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!
for _ in $(seq 1 100); do grep -q 'started with' "$tmp/log" && break; sleep 0.05; done
big_row() { sqlite3 -cmd ".timeout 2000" "$tmp/state/state.db" "SELECT state || ' ' || (SELECT COUNT(*) FROM batch_dids WHERE batch = s.batch) FROM spool_files s WHERE name = 'big.txt'"; }
mv "$tmp/spool/.big.part" "$tmp/spool/big.txt"
for _ in $(seq 1 200); do [[ $(big_row) == recording* ]] && break; sleep 0.05; done
t0=$(date +%s%N); kill -TERM "$pid"; wait "$pid"; code=$?; t1=$(date +%s%N); pid=
check reading-stop-exit $code "exit $code: $(tail -3 "$tmp/log")"
(( (t1 - t0) / 1000000 < 3000 )); check reading-stop-prompt $? "took $(( (t1 - t0) / 1000000 )) ms while reading a file"
row=$(big_row)
[[ $row == recording* ]]; check reading-interrupted $? "big.txt is '$row' at the stop, not recording: the test proves nothing"
"$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!
for _ in $(seq 1 600); do grep -q 'big.txt: accepted as batch' "$tmp/log" && break; sleep 0.1; done
grep -q 'big.txt: reading was interrupted; its partial batch .* was dropped' "$tmp/log"; check reading-rolled-back $? "$(grep big.txt "$tmp/log")"
row=$(big_row)
[[ $row == "accepted 300000" ]]; check reading-once $? "big.txt is '$row'"
others=$(sqlite3 "$tmp/state/state.db" "SELECT COUNT(*) FROM batch_dids WHERE batch NOT IN (SELECT batch FROM spool_files)")
[[ $others == 0 ]]; check no-partial-batch $? "$others DIDs left in batches of no file"
kill -TERM "$pid"; sleep 0.2; kill -TERM "$pid"; wait "$pid"; code=$?; pid=
check reading-restart-exit $code "exit $code: $(tail -3 "$tmp/log")"
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
