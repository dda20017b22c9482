#!/usr/bin/env bash
# A 3-node JetStream cluster (three nats-server processes routed on loopback,
# the stream with 3 replicas): the stream's leader is killed in the middle of
# a backfill; the run completes, and every record is in the stream exactly
# once (a publish resent after the fail-over is dropped by Nats-Msg-Id).
set -u
cli=$1 fake_pds=$2 nats_dump=$3 fx=$4
here=$(dirname "$0")
source "$here/nats_lib.sh"

start_fake_pds "$fx/cars/repo-stream__little.car" 40
declare -a ports mports cports
for i in 1 2 3; do ports[$i]=$(free_port); mports[$i]=$(free_port); cports[$i]=$(free_port); done
routes="nats://127.0.0.1:${cports[1]},nats://127.0.0.1:${cports[2]},nats://127.0.0.1:${cports[3]}"
for i in 1 2 3; do
  start_nats "n$i" "${ports[$i]}" "${mports[$i]}" --cluster_name backfill --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$routes"
done
wait_nats_ready "${mports[1]}" "${mports[2]}" "${mports[3]}" || { cat "$tmp"/n*/log | tail -20; exit 1; }
urls="nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]},nats://127.0.0.1:${ports[3]}"
cat "$tmp/config.yaml" - >"$tmp/cluster.yaml" <<YAML
output: {nats: {replicas: 3, ack_timeout_seconds: 3, publish_attempts: 10, connect_timeout_seconds: 30}}
rate_limits: {max_concurrent_fetches: 4, max_concurrent_per_host: 4}
YAML

"$cli" run --dids-file "$tmp/dids" --config "$tmp/cluster.yaml" --output nats --nats-url "$urls" \
  --output-dir "$tmp/nats" --types post,like,follow,repost,reply >"$tmp/nats.json" 2>"$tmp/nats.log" &
run_pid=$!
bg_pids+=($run_pid)
# Once some DIDs are done, kill the server that leads the stream.
for _ in $(seq 1 600); do
  done_now=$(sqlite3 "$tmp/nats/state/state.db" "SELECT COUNT(*) FROM dids WHERE status = 'done'" 2>/dev/null || echo 0)
  [[ ${done_now:-0} -ge 5 ]] && break
  sleep 0.05
done
leader=$("$nats_dump" --leader "$urls" BACKFILL)
[[ $leader =~ ^n[123]$ ]]; check leader-found $? "leader '$leader'"
kill -9 "${nats_pid[$leader]}" 2>/dev/null
echo "killed the stream leader $leader after $done_now DIDs were done"
wait "$run_pid"
code=$?
[[ $code -eq 0 ]]; check run-completes $? "exit $code: $(tail -5 "$tmp/nats.log")"
left=$(sqlite3 "$tmp/nats/state/state.db" "SELECT COUNT(*) FROM dids WHERE status != 'done'")
[[ $left -eq 0 ]]; check all-done $? "$left DIDs not done"

"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/sqlite" \
  --types post,like,follow,repost,reply >"$tmp/sqlite.json" 2>"$tmp/sqlite.log"
survivor=$(for i in 1 2 3; do [[ n$i != "$leader" ]] && echo "nats://127.0.0.1:${ports[$i]}" && break; done)
"$nats_dump" "$survivor" BACKFILL >"$tmp/dump.jsonl"; check dump $? "nats_dump failed"
python3 "$here/check_nats_output.py" "$tmp/dump.jsonl" "$tmp/sqlite/queue" "$tmp/nats.json" backfill.records
check exactly-once-after-failover $? "see above"
finish
