#!/usr/bin/env bash
# Two bsky-backfilld sharing one NATS work stream (intake.kind nats), both
# publishing records to NATS. `bsky-backfill enqueue` fills the stream (the
# same DIDs twice: added once). Together the daemons do every DID, and none
# is done by both; then one is SIGKILLed mid-run and the other finishes its
# unacknowledged DIDs after the ack wait. Every record is stored once.
set -u
cli=$1 daemon=$2 fake_pds=$3 nats_dump=$4 fx=$5
here=$(dirname "$0")
source "$here/nats_lib.sh"

start_fake_pds "$fx/cars/repo-stream__tiny.car" 400
port=$(free_port) mport=$(free_port)
start_nats n1 "$port" "$mport"; wait_nats_ready "$mport" || exit 1
url="nats://127.0.0.1:$port"
head -200 "$tmp/dids" >"$tmp/first.txt"; tail -200 "$tmp/dids" >"$tmp/second.txt"

daemon_config() {  # NAME
  mkdir -p "$tmp/$1/spool"
  cat "$tmp/config.yaml" - >"$tmp/$1.yaml" <<YAML
spool_dir: $tmp/$1/spool
state_dir: $tmp/$1/state
intake: {kind: nats}
output: {kind: nats, dir: $tmp/$1/out, nats: {url: "$url", work_ack_wait_seconds: 3, work_max_deliveries: 5}}
metrics: {listen: 127.0.0.1:0}
stop_timeout_seconds: 2
rate_limits: {max_concurrent_fetches: 4, max_concurrent_per_host: 4}
YAML
}
declare -A dpid=()
start_daemon() { "$daemon" --config "$tmp/$1.yaml" 2>>"$tmp/$1.log" & dpid[$1]=$!; bg_pids+=($!); }
done_in() { sqlite3 "$tmp/$1/state/state.db" "SELECT did FROM dids WHERE status = 'done'" 2>/dev/null; }
commits() { "$nats_dump" "$url" BACKFILL 2>/dev/null | python3 -c '
import json, sys
print(len({json.loads(json.loads(l)["data"])["did"] for l in sys.stdin if json.loads(l)["subject"] == "backfill.records.commits"}))'; }
wait_commits() { for _ in $(seq 1 1200); do [[ $(commits) -ge $1 ]] && return 0; sleep 0.1; done; return 1; }

"$cli" enqueue --nats "$url" --dids-file "$tmp/first.txt" >"$tmp/enq1.json"; code=$?
[[ $code -eq 0 ]] && grep -q '"enqueued":200,"duplicates":0' "$tmp/enq1.json"; check enqueue $? "exit $code: $(cat "$tmp/enq1.json")"
"$cli" enqueue --nats "$url" --dids-file "$tmp/first.txt" --dids not-a-did >"$tmp/enq2.json"; code=$?
[[ $code -eq 1 ]] && grep -q '"enqueued":0,"duplicates":200' "$tmp/enq2.json" && grep -q "not-a-did" "$tmp/enq2.json"
check enqueue-dedup $? "exit $code: $(cat "$tmp/enq2.json")"

daemon_config a; daemon_config b
start_daemon a; start_daemon b
wait_commits 200; check first-200-done $? "$(commits) commits messages; $(tail -3 "$tmp/a.log") $(tail -3 "$tmp/b.log")"
sort <(done_in a) >"$tmp/a1"; sort <(done_in b) >"$tmp/b1"
both=$(comm -12 "$tmp/a1" "$tmp/b1" | wc -l)
union=$(sort -u "$tmp/a1" "$tmp/b1" | wc -l)
[[ $both -eq 0 && $union -eq 200 ]]; check split-once $? "$union DIDs done, $both by both"
[[ -s $tmp/a1 && -s $tmp/b1 ]]; check both-worked $? "a did $(wc -l <"$tmp/a1"), b did $(wc -l <"$tmp/b1")"

# SIGKILL a in the middle of the next 200: b finishes them after the ack wait.
"$cli" enqueue --nats "$url" --dids-file "$tmp/second.txt" >/dev/null
for _ in $(seq 1 600); do [[ $(done_in a | wc -l) -ge $(( $(wc -l <"$tmp/a1") + 10 )) ]] && break; sleep 0.05; done
kill -9 "${dpid[a]}"
wait_commits 400; check all-400-done $? "$(commits) commits messages; $(tail -3 "$tmp/b.log")"
# What a held when it died (taken, not done) was redelivered to b and done there.
sqlite3 "$tmp/a/state/state.db" "SELECT did FROM dids WHERE status != 'done'" | sort >"$tmp/a_left"
comm -23 "$tmp/a_left" <(done_in b | sort) >"$tmp/a_lost"
[[ -s $tmp/a_left && ! -s $tmp/a_lost ]]; check redelivered-to-b $? "$(wc -l <"$tmp/a_left") held by a when killed, $(wc -l <"$tmp/a_lost") not done by b"
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/sqlite" --types block,follow,like,post,reply,repost \
  >"$tmp/sqlite.json" 2>/dev/null
"$nats_dump" "$url" BACKFILL >"$tmp/dump.jsonl"
python3 "$here/check_nats_output.py" "$tmp/dump.jsonl" "$tmp/sqlite/queue" "$tmp/sqlite.json" backfill.records
check exactly-once $? "see above"
kill -TERM "${dpid[b]}"; wait "${dpid[b]}"; code=$?
[[ $code -eq 0 ]]; check b-stops $? "exit $code"
finish
