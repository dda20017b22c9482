#!/usr/bin/env bash
# bsky-backfilld: READY=1 to systemd, SIGHUP reload (good and bad file), SIGTERM exit 0.
set -u
daemon=$1 example=$2
tmp=$(mktemp -d); trap 'kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }
wait_for() {  # wait_for FILE PATTERN
  for _ in $(seq 1 100); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1
}

# Port 0: the daemon picks a free port for /metrics and logs it.
# The example config with its directories moved into the test's own.
sed -e 's/^  listen: 127.0.0.1:9464/  listen: 127.0.0.1:0/' -e "s#/var/lib/bsky-backfill/#$tmp/var/#" "$example" >"$tmp/config.yaml"
scrape() { python3 -c 'import sys, urllib.request
try: r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())' "$1"; }
# A stand-in for systemd's notify socket: a datagram listener that logs what it receives.
python3 - "$tmp/notify.sock" >"$tmp/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode(), flush=True)
PY
notify_pid=$!
trap 'kill "$pid" "$notify_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do [[ -S "$tmp/notify.sock" ]] && break; sleep 0.05; done

NOTIFY_SOCKET="$tmp/notify.sock" WATCHDOG_USEC=200000 "$daemon" --config "$tmp/config.yaml" 2>"$tmp/log" &
pid=$!
wait_for "$tmp/notify.log" 'READY=1'; check ready $? "no READY=1: $(cat "$tmp/notify.log") $(cat "$tmp/log")"
metrics_url=$(grep -o 'metrics at http://[^ ]*' "$tmp/log" | head -1 | cut -d' ' -f3)
[[ $metrics_url == http://127.0.0.1:*/metrics ]]; check metrics-address $? "no metrics address in the log: $(cat "$tmp/log")"
# /healthz is 200 once the first state-store read and write probe have answered.
for _ in $(seq 1 100); do health=$(scrape "${metrics_url%/metrics}/healthz"); [[ $health == $'200\nok'* ]] && break; sleep 0.1; done
[[ $health == $'200\nok'* ]]; check healthz $? "$health"

# A valid change: the log level and a restart-only key.
sed -i "s/^log_level: info/log_level: debug/; s#^  dir: $tmp/var/output#  dir: /tmp/elsewhere#" "$tmp/config.yaml"
kill -HUP "$pid"
wait_for "$tmp/log" 'config reloaded'; check reload $? "$(cat "$tmp/log")"
grep -q 'output.dir changed; these take effect only after a restart' "$tmp/log"; check restart-key $? "$(cat "$tmp/log")"
grep -q 'RELOADING=1' "$tmp/notify.log"; check reloading $? "$(cat "$tmp/notify.log")"

# An invalid file is rejected and the daemon keeps running.
echo "bogus_key: 1" >>"$tmp/config.yaml"
kill -HUP "$pid"
wait_for "$tmp/log" 'config reload rejected'; check reject $? "$(cat "$tmp/log")"
grep -q 'bogus_key: unknown key' "$tmp/log"; check reject-names-key $? "$(cat "$tmp/log")"
kill -0 "$pid" 2>/dev/null; check still-running $? "the daemon died on a bad reload"
page=$(scrape "$metrics_url")
grep -q '^bsky_config_reloads_total{result="applied"} 1$' <<<"$page"; check metrics-reload-applied $? "$page"
grep -q '^bsky_config_reloads_total{result="rejected"} 1$' <<<"$page"; check metrics-reload-rejected $? "$page"

grep -q 'WATCHDOG=1' "$tmp/notify.log"; check watchdog $? "no WATCHDOG=1 with WATCHDOG_USEC set: $(cat "$tmp/notify.log")"
wait_for "$tmp/notify.log" 'STATUS=.*DIDs ended.*records/s' || sleep 6
grep -q 'STATUS=.*DIDs ended, .* in flight, .* queued, .* records/s' "$tmp/notify.log"; check status $? "$(grep STATUS "$tmp/notify.log")"

kill -TERM "$pid"
wait "$pid"; code=$?
check sigterm-exit $code "exit $code"
grep -q 'STOPPING=1' "$tmp/notify.log"; check stopping $? "$(cat "$tmp/notify.log")"
# In order: READY, RELOADING, READY (twice), STOPPING.
order=$(grep -oE '^(READY|RELOADING|STOPPING)=1' "$tmp/notify.log" | tr '\n' ' ')
[[ $order == "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " ]]; check notify-order $? "$order"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
