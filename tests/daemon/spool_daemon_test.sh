#!/usr/bin/env bash
# bsky-backfilld doing its job through the real binary: DID lists dropped
# into the spool directory (one waiting at start-up, one written atomically,
# one by a slow non-atomic writer, ignored names, the same name twice), a
# reload that changes the record types for the DIDs that start after it, a
# SIGTERM drain with a restart, and SIGKILLs at random moments. At the end
# every DID of every file is in that file's result, and every record of every
# done DID is in its queue exactly once.
set -u
daemon=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid= pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }

# Host 1 trickles its repos (286 KB at 60 KB/s): DIDs there are in flight when the signals come.
cat >"$tmp/spec.json" <<JSON
{"seed": "spool-daemon",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car", "little": "$fx/cars/repo-stream__little.car"},
 "hosts": [{}, {"bandwidth_bytes_per_second": 60000}, {"latency_ms": 20}],
 "repos": [{"template": "tiny", "count": 30, "host": 0}, {"template": "little", "count": 8, "host": 1},
           {"template": "tiny", "count": 30, "host": 2}]}
JSON
start_network "$tmp/spec.json"
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
d = [x["did"] for x in json.load(open(f"{tmp}/ready.json"))["dids"]]
fast, slow, far = d[:30], d[30:38], d[38:]
lists = {"a": fast[:10], "b": fast[10:20], "c": fast[20:30], "a2": far[:3], "d": far[3:13], "e": slow, "f": far[13:30]}
json.dump(lists, open(f"{tmp}/lists.json", "w"))
PY
list() { python3 -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))[sys.argv[2]]))" "$tmp/lists.json" "$1"; }
mkdir -p "$tmp/spool"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
spool_dir: $tmp/spool
state_dir: $tmp/state
output: {dir: $tmp/out, batch_size: 5}
allow_private_addresses: true
verify_signatures: false
record_types: [post, like]
stop_timeout_seconds: 1
metrics: {listen: 127.0.0.1:0}
retries: {max_attempts: 3, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
start() { "$daemon" --config "$tmp/config.yaml" 2>>"$tmp/log" & pid=$!; }
wait_file() { for _ in $(seq 1 "${2:-600}"); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }
drop() { list "$1" >"$tmp/spool/.$2.part"; mv "$tmp/spool/.$2.part" "$tmp/spool/$2"; }  # atomic: write, then rename

# Waiting at start-up, with two bad lines.
{ list a; echo "not-a-did"; echo "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"; } >"$tmp/spool/a.txt"
start
wait_file "$tmp/spool/finished/a.txt.result.json"; check startup-file $? "$(tail -5 "$tmp/log")"
# A CSV with a quoted comma before the did column; a slow non-atomic writer; names to ignore; the same name again.
{ echo 'handle,"note, with comma",did'; list b | sed 's/^/x.bsky.social,"a, b",/'; } >"$tmp/spool/.b.part" && mv "$tmp/spool/.b.part" "$tmp/spool/b.csv"
( list c | head -5 | sed 's/.*/{"did":"&"}/'; sleep 1; list c | tail -5 | sed 's/.*/{"did":"&"}/' ) >"$tmp/spool/c.jsonl"
echo "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" >"$tmp/spool/.hidden.txt"; echo "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" >"$tmp/spool/x.tmp"
drop a2 a.txt
for f in b.csv c.jsonl a~2.txt; do wait_file "$tmp/spool/finished/$f.result.json"; check "result-$f" $? "$(ls -R "$tmp/spool") $(tail -5 "$tmp/log")"; done

# A reload adds profiles: the next file's DIDs export them.
sed -i 's/^record_types: \[post, like\]/record_types: [post, like, profile]/' "$tmp/config.yaml"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q 'config reloaded' "$tmp/log" && break; sleep 0.05; done
drop d d.txt
wait_file "$tmp/spool/finished/d.txt.result.json"; check reload-file $? "$(tail -5 "$tmp/log")"

# SIGTERM while the slow host's DIDs are in flight: exit 0 soon, the rest after a restart.
drop e e.txt
sleep 2
t0=$(date +%s%N); kill -TERM "$pid"; wait "$pid"; code=$?; t1=$(date +%s%N)
check sigterm-exit $code "exit $code: $(tail -5 "$tmp/log")"
(( (t1 - t0) / 1000000 < 8000 )); check sigterm-prompt $? "took $(( (t1 - t0) / 1000000 )) ms with stop_timeout_seconds 1"
[[ ! -e $tmp/spool/finished/e.txt.result.json ]]; check sigterm-left-work $? "e.txt finished before the stop: the test proves nothing"
start

# SIGKILL at random moments while f.txt is worked, restarting each time.
drop f f.txt
for delay in 0.7 0.3 1.1; do sleep "$delay"; kill -9 "$pid"; wait "$pid" 2>/dev/null; start; done
for f in e.txt f.txt; do wait_file "$tmp/spool/finished/$f.result.json" 900; check "result-$f" $? "$(tail -5 "$tmp/log")"; done
kill -TERM "$pid"; wait "$pid"; pid=

python3 - "$tmp" <<'PY' || failures=$((failures + 1))
import glob, json, os, sqlite3, sys
tmp = sys.argv[1]
lists = json.load(open(f"{tmp}/lists.json"))
files = {"a.txt": "a", "b.csv": "b", "c.jsonl": "c", "a~2.txt": "a2", "d.txt": "d", "e.txt": "e", "f.txt": "f"}
results = {f: json.load(open(f"{tmp}/spool/finished/{f}.result.json")) for f in files}
for f, key in files.items():
    done = results[f]["did_to_backfill_counts_map"]
    assert sorted(done) == sorted(lists[key]), (f, results[f]["failed"])
report = json.load(open(f"{tmp}/spool/accepted/a.txt.report.json"))
assert [r["line"] for r in report["rejected"]] == [11, 12], report
assert any("not-a-did" in k or "not-a-did" in v for k, v in results["a.txt"]["failed"].items()), results["a.txt"]["failed"]
# The reload: profiles only for DIDs that started after it.
assert all("profile" not in c for f in ("a.txt", "b.csv", "c.jsonl") for c in results[f]["did_to_backfill_counts_map"].values())
assert all(c.get("profile") == 1 for c in results["d.txt"]["did_to_backfill_counts_map"].values()), results["d.txt"]
# Ignored names stay where they were.
assert os.path.exists(f"{tmp}/spool/.hidden.txt") and os.path.exists(f"{tmp}/spool/x.tmp")
# Exactly once: every record of every done DID in its queue once, as many as the results count.
seen, per_did = set(), {}
for db in glob.glob(f"{tmp}/out/queue/output_backfill_sync_*.db"):
    rtype = db.rsplit("_", 1)[1][:-3]
    for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
        for rec in json.loads(payload):
            assert rec["uri"] not in seen, rec["uri"]
            seen.add(rec["uri"])
            key = (rec["uri"].split("/")[2], rtype)
            per_did[key] = per_did.get(key, 0) + 1
for r in results.values():
    for did, counts in r["did_to_backfill_counts_map"].items():
        for rtype, n in counts.items():
            assert per_did.get((did, rtype), 0) == n, (did, rtype, per_did.get((did, rtype)), n)
expected = sum(n for r in results.values() for c in r["did_to_backfill_counts_map"].values() for n in c.values())
assert len(seen) == expected, (len(seen), expected)
print(f"spool daemon: {len(seen)} records of {sum(len(v) for v in lists.values())} DIDs in 7 files, each once")
PY
echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
