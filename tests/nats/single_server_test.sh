#!/usr/bin/env bash
# The NATS sink on one real nats-server: every record of a backfill lands on its
# subject exactly once with the right headers, the same records as the SQLite
# sink's for the same input, one commits message per DID; a second backfill of
# the same DIDs adds nothing (Nats-Msg-Id de-duplication); a server that is not
# there is a clear error; a server that comes up late is waited for.
set -u
cli=$1 fake_pds=$2 nats_dump=$3 fx=$4
here=$(dirname "$0")
source "$here/nats_lib.sh"

start_fake_pds "$fx/cars/repo-stream__little.car" 12 6
port=$(free_port) mport=$(free_port)

# No server yet: a clear error within the connect timeout, nothing done.
cat "$tmp/config.yaml" - >"$tmp/quick.yaml" <<YAML
output: {nats: {connect_timeout_seconds: 1}}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/quick.yaml" --output nats --nats-url "nats://127.0.0.1:$port" \
  --output-dir "$tmp/none" >/dev/null 2>"$tmp/none.log"
code=$?
[[ $code -eq 1 ]] && grep -q "connecting to NATS at nats://127.0.0.1:$port" "$tmp/none.log" && grep -q "nats-server -js" "$tmp/none.log"
check no-server-error $? "exit $code: $(tail -3 "$tmp/none.log")"

# The server comes up once the run has found it missing: the run waits for it.
( for _ in $(seq 1 600); do grep -q "does not answer yet" "$tmp/nats.log" 2>/dev/null && break; sleep 0.05; done
  start_nats n1 "$port" "$mport"; echo "${nats_pid[n1]}" >"$tmp/n1.pid"; wait ) &
bg_pids+=($!)
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output nats --nats-url "nats://127.0.0.1:$port" \
  --output-dir "$tmp/nats" --types post,like,follow,repost,reply >"$tmp/nats.json" 2>"$tmp/nats.log"
code=$?
bg_pids+=("$(cat "$tmp/n1.pid" 2>/dev/null)")
[[ $code -eq 1 ]]; check exit-code $? "exit $code (2 broken repos must exit 1): $(tail -5 "$tmp/nats.log")"
grep -q "does not answer yet; waiting" "$tmp/nats.log"; check waited-for-server $? "$(head -5 "$tmp/nats.log")"

"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/sqlite" \
  --types post,like,follow,repost,reply >"$tmp/sqlite.json" 2>"$tmp/sqlite.log"
"$nats_dump" "nats://127.0.0.1:$port" BACKFILL >"$tmp/dump1.jsonl"; check dump $? "nats_dump failed"
python3 "$here/check_nats_output.py" "$tmp/dump1.jsonl" "$tmp/sqlite/queue" "$tmp/nats.json" backfill.records
check same-as-sqlite $? "see above"
state=$(sqlite3 "$tmp/nats/state/state.db" "SELECT status, COUNT(*) FROM dids GROUP BY status ORDER BY status" | tr '\n' ' ')
[[ $state == "done|10 failed|2 " ]]; check state-store $? "$state"

# The same DIDs again with a fresh state store: all republished, nothing stored twice.
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output nats --nats-url "nats://127.0.0.1:$port" \
  --output-dir "$tmp/nats2" --types post,like,follow,repost,reply >/dev/null 2>"$tmp/nats2.log"
"$nats_dump" "nats://127.0.0.1:$port" BACKFILL >"$tmp/dump2.jsonl"
cmp -s "$tmp/dump1.jsonl" "$tmp/dump2.jsonl"; check dedup-on-redo $? "$(wc -l <"$tmp/dump1.jsonl") messages before, $(wc -l <"$tmp/dump2.jsonl") after"

# An existing stream that does not fit is refused with its name and subjects.
cat "$tmp/config.yaml" - >"$tmp/other.yaml" <<YAML
output: {nats: {subject_prefix: other.records}}
YAML
"$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/other.yaml" --output nats --nats-url "nats://127.0.0.1:$port" \
  --output-dir "$tmp/other" >/dev/null 2>"$tmp/other.log"
code=$?
[[ $code -eq 1 ]] && grep -q "stream BACKFILL exists with subjects \[backfill.records.>\], which do not include other.records.>" "$tmp/other.log"
check stream-mismatch $? "exit $code: $(tail -2 "$tmp/other.log")"

# A server that wants a user and password: the wrong one is refused with the server's reason.
aport=$(free_port) amport=$(free_port)
start_nats auth "$aport" "$amport" --user backfill --pass s3cret; wait_nats_ready "$amport"
for pass in wrong s3cret; do
  cat "$tmp/config.yaml" - >"$tmp/auth-$pass.yaml" <<YAML
output: {nats: {url: "nats://127.0.0.1:$aport", user: backfill, password: $pass, connect_timeout_seconds: 1}}
YAML
  "$cli" run --dids "$(head -1 "$tmp/dids")" --config "$tmp/auth-$pass.yaml" --output nats --output-dir "$tmp/auth-$pass" \
    >/dev/null 2>"$tmp/auth-$pass.log"
  echo $? >"$tmp/auth-$pass.code"
done
[[ $(cat "$tmp/auth-wrong.code") -eq 1 ]] && grep -qi "connecting to NATS at nats://127.0.0.1:$aport: .*author.*check output.nats.user/password" "$tmp/auth-wrong.log"
check auth-refused $? "exit $(cat "$tmp/auth-wrong.code"): $(tail -2 "$tmp/auth-wrong.log")"
[[ $(cat "$tmp/auth-s3cret.code") -eq 0 ]]; check auth-accepted $? "exit $(cat "$tmp/auth-s3cret.code"): $(tail -2 "$tmp/auth-s3cret.log")"
finish
