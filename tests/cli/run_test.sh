#!/usr/bin/env bash
# `bsky-backfill run` as a user runs it: a DID list with bad lines, a loopback
# PLC + PDS, SQLite queues, the final JSON object and the exit code.
set -u
cli=$1 fake_pds=$2 fx=$3
tmp=$(mktemp -d); pds_pid=
trap '[[ -n $pds_pid ]] && kill $pds_pid 2>/dev/null; rm -rf "$tmp"' EXIT
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
{ echo "# study participants"; cat "$tmp/dids"; echo; echo "not-a-did"; echo "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"; head -1 "$tmp/dids"; } >"$tmp/list.txt"

"$cli" run --dids-file "$tmp/list.txt" --dids did:plc:aaaaaaaaaaaaaaaaaaaaaaaa --config "$tmp/config.yaml" \
  --output-dir "$tmp/out" --batch-size 5 --types post,like,follow,repost,reply >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 1 ]]; check exit-code $? "exit $code (2 broken repos and 2 bad lines must exit 1): $(tail -5 "$tmp/log")"
python3 - "$tmp/summary.json" "$tmp" <<'PY' || failures=$((failures + 1))
import json, sys
s = json.load(open(sys.argv[1]))
dids = open(sys.argv[2] + "/dids").read().split()
assert s["total_batches"] == 3, s["total_batches"]                      # 13 DIDs in batches of 5
done = s["did_to_backfill_counts_map"]
assert len(done) == 10, sorted(done)                                    # 12 served, 2 broken
for d in dids[5::6]: assert d in s["failed"] and "stream ends" in s["failed"][d], s["failed"].get(d)
lst = sys.argv[2] + "/list.txt"
# Rejected lines are keyed by where they are (two equal bad lines stay two entries), the text in the value.
assert s["failed"][lst + ":15"].startswith("'not-a-did': not a DID"), s["failed"]
assert s["failed"][lst + ":16"].startswith("'did:key:") and "only did:plc and did:web" in s["failed"][lst + ":16"], s["failed"]
assert s["account_states"] == {"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa": "not_found"}, s["account_states"]
counts = next(iter(done.values()))
assert set(counts) <= {"post", "like", "follow", "repost", "reply"}, counts
assert all(c == counts for c in done.values())
print("summary ok")
PY
passed=$((passed + 1))
total=0
for db in "$tmp"/out/queue/output_backfill_sync_*.db; do
  read -r rows records uris <<<"$(sqlite3 -separator ' ' "$db" "SELECT COUNT(DISTINCT queue.id), COUNT(*), COUNT(DISTINCT json_extract(value, '\$.uri')) FROM queue, json_each(queue.payload)")"
  [[ $records -eq $uris ]]; check "no-duplicates-$(basename "$db")" $? "$records records, $uris distinct URIs"
  staged=$(sqlite3 "$db" "SELECT COUNT(*) FROM staging")
  [[ $staged -eq 0 ]]; check "no-staging-left-$(basename "$db")" $? "$staged staged rows left"
  total=$((total + records))
done
expected=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(sum(sum(c.values()) for c in s['did_to_backfill_counts_map'].values()))" "$tmp/summary.json")
[[ $total -eq $expected ]]; check queue-total $? "$total records in the queues, the summary says $expected"
[[ ! -e "$tmp/out/queue/output_backfill_sync_profile.db" ]]; check types-filter $? "profile was not asked for"
state=$(sqlite3 "$tmp/out/state/state.db" "SELECT status, COUNT(*) FROM dids GROUP BY status ORDER BY status" | tr '\n' ' ')
[[ $state == "done|10 failed|2 not_found|1 " ]]; check state-store $? "$state"
grep -q "not-a-did' skipped: not a DID" "$tmp/log"; check bad-line-logged $? "$(head -5 "$tmp/log")"

# Metrics: the chosen address is logged, the final figures are written, and a
# port that is taken (the fake PDS's) is an error that names it.
"$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/config.yaml" --output-dir "$tmp/m" \
  --metrics-listen 127.0.0.1:0 --metrics-file "$tmp/m.prom" >/dev/null 2>"$tmp/mlog"
grep -q 'metrics at http://127.0.0.1:[0-9]*/metrics' "$tmp/mlog"; check metrics-listen $? "$(cat "$tmp/mlog")"
grep -q '^bsky_dids_total{state="done"} 1$' "$tmp/m.prom"; check metrics-file $? "$(cat "$tmp/m.prom" 2>&1 | head -20)"
grep -q '^bsky_http_responses_total{client="pds",code="200"} 1$' "$tmp/m.prom"; check metrics-responses $? "$(grep responses "$tmp/m.prom")"
grep -q '^bsky_resolver_cache_total{result="miss"} 1$' "$tmp/m.prom"; check metrics-resolver-miss $? "$(grep resolver "$tmp/m.prom")"
grep -q '^bsky_resolver_cache_total{result="hit"} 0$' "$tmp/m.prom"; check metrics-resolver-hit $? "$(grep resolver "$tmp/m.prom")"
grep -q '^bsky_exporter_wait_seconds [0-9.e+-]*$' "$tmp/m.prom"; check metrics-exporter-wait $? "$(grep exporter "$tmp/m.prom")"
grep -q '^bsky_exporter_queue_depth 0$' "$tmp/m.prom"; check metrics-exporter-queue $? "$(grep exporter "$tmp/m.prom")"
# Retries by host: a PLC directory on a port nobody listens on refuses each
# attempt (retryable); max_attempts 2 is one retry, counted for that host.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/config.yaml" --plc-url "http://127.0.0.1:$dead" --output-dir "$tmp/m3" \
  --metrics-file "$tmp/dead.prom" >/dev/null 2>"$tmp/deadlog"
grep -q "^bsky_fetch_retries_total{client=\"plc\",host=\"127.0.0.1:$dead\"} 1$" "$tmp/dead.prom"
check metrics-retries-by-host $? "$(grep retries "$tmp/dead.prom"; tail -3 "$tmp/deadlog")"
"$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/config.yaml" --output-dir "$tmp/m2" \
  --metrics-listen "127.0.0.1:$port" >/dev/null 2>"$tmp/merr"
code=$?
[[ $code -eq 1 ]] && grep -q "cannot listen on 127.0.0.1:$port" "$tmp/merr"; check metrics-port-taken $? "exit $code: $(cat "$tmp/merr")"

# Usage errors exit 2.
"$cli" run --output-dir "$tmp/x" >/dev/null 2>&1; [[ $? -eq 2 ]]; check needs-dids $? "no DIDs must exit 2"
"$cli" run --dids did:plc:aaaaaaaaaaaaaaaaaaaaaaaa --batch-size 0 >/dev/null 2>&1; [[ $? -eq 2 ]]; check batch-size $? "--batch-size 0 must exit 2"
"$cli" run --dids did:plc:aaaaaaaaaaaaaaaaaaaaaaaa --start-timestamp yesterday --output-dir "$tmp/y" >/dev/null 2>"$tmp/err"; [[ $? -eq 2 ]]
check bad-timestamp $? "$(cat "$tmp/err")"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
