#!/usr/bin/env bash
# The server goes away in the middle of a run. Restarted within the ack
# timeout's retries, the run rides through it and completes with every record
# stored once. Gone for longer, the DIDs whose publishes were not all
# acknowledged are not `done` (and have no commits message); once the server is
# back, the next run completes them with nothing lost and nothing twice.
set -u
cli=$1 fake_pds=$2 nats_dump=$3 fx=$4
here=$(dirname "$0")
source "$here/nats_lib.sh"

start_fake_pds "$fx/cars/repo-stream__little.car" 40
port=$(free_port) mport=$(free_port)
start_nats n1 "$port" "$mport"; wait_nats_ready "$mport" || exit 1
url="nats://127.0.0.1:$port"
cat "$tmp/config.yaml" - >"$tmp/nats.yaml" <<YAML
output: {nats: {ack_timeout_seconds: 1, publish_attempts: 8}}
rate_limits: {max_concurrent_fetches: 2, max_concurrent_per_host: 2}
YAML
done_count() { sqlite3 "$1/state/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'done'" 2>/dev/null || echo 0; }
wait_done() { for _ in $(seq 1 600); do [[ $(done_count "$1") -ge $2 ]] && return 0; sleep 0.05; done; return 1; }
types=post,like,follow,repost,reply

# 1. A restart within the retries: the same run completes.
"$cli" run --dids-file "$tmp/dids" --config "$tmp/nats.yaml" --output nats --nats-url "$url" --output-dir "$tmp/a" \
  --types $types >"$tmp/a.json" 2>"$tmp/a.log" &
run_pid=$!; bg_pids+=($run_pid)
wait_done "$tmp/a" 5
kill -9 "${nats_pid[n1]}"; sleep 2
start_nats n1 "$port" "$mport"
wait "$run_pid"; code=$?
[[ $code -eq 0 ]]; check rides-through-restart $? "exit $code: $(grep -i 'nats\|fail' "$tmp/a.log" | tail -5)"
grep -q "NATS: lost the connection" "$tmp/a.log"; check disconnect-logged $? "$(grep -i nats "$tmp/a.log" | head -5)"
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/sqlite" --types $types >/dev/null 2>&1
"$nats_dump" "$url" BACKFILL >"$tmp/dump_a.jsonl"
python3 "$here/check_nats_output.py" "$tmp/dump_a.jsonl" "$tmp/sqlite/queue" "$tmp/a.json" backfill.records
check exactly-once-after-restart $? "see above"

# 2. Down for longer than the retries: not done, then completed by the next run.
#    (A fresh stream name, so this part's records are counted on their own.)
cat "$tmp/config.yaml" - >"$tmp/nats_b.yaml" <<YAML
output: {nats: {stream: OUTAGE, subject_prefix: outage.records, ack_timeout_seconds: 1, publish_attempts: 2}}
rate_limits: {max_concurrent_fetches: 2, max_concurrent_per_host: 2}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/nats_b.yaml" --output nats --nats-url "$url" --output-dir "$tmp/b" \
  --types $types >"$tmp/b.json" 2>"$tmp/b.log" &
run_pid=$!; bg_pids+=($run_pid)
wait_done "$tmp/b" 5
kill -9 "${nats_pid[n1]}"
wait "$run_pid"; code=$?
[[ $code -eq 1 ]]; check outage-fails-run $? "exit $code"
grep -q "not all acknowledged\|pending again" "$tmp/b.log"; check outage-reason $? "$(grep -i 'nats\|pending' "$tmp/b.log" | tail -3)"
start_nats n1 "$port" "$mport"; wait_nats_ready "$mport"
"$nats_dump" "$url" OUTAGE >"$tmp/dump_b1.jsonl"
python3 - "$tmp/dump_b1.jsonl" "$tmp/b/state/state.db" <<'PY'
import json, sqlite3, sys
commits = {json.loads(l)["data"] and json.loads(json.loads(l)["data"])["did"] for l in open(sys.argv[1]) if json.loads(l)["subject"] == "outage.records.commits"}
status = dict(sqlite3.connect(sys.argv[2]).execute("SELECT did, status FROM dids"))
done = {d for d, s in status.items() if s == "done"}
assert done, "nothing was done before the outage"
assert len(done) < len(status), "everything was done: the outage came too late"
assert commits == done, ("done without a commits message", sorted(done - commits)[:3], "commits without done", sorted(commits - done)[:3])
print(f"outage: {len(done)} done with commits messages, {len(status) - len(done)} not done")
PY
check not-done-without-acks $? "see above"
"$cli" run --dids-file "$tmp/dids" --config "$tmp/nats_b.yaml" --output nats --nats-url "$url" --output-dir "$tmp/b" \
  --types $types >"$tmp/b2.json" 2>"$tmp/b2.log"
code=$?
[[ $code -eq 0 ]]; check next-run-completes $? "exit $code: $(tail -3 "$tmp/b2.log")"
"$nats_dump" "$url" OUTAGE >"$tmp/dump_b2.jsonl"
python3 "$here/check_nats_output.py" "$tmp/dump_b2.jsonl" "$tmp/sqlite/queue" "$tmp/b2.json" outage.records
check exactly-once-after-outage $? "see above"
finish
