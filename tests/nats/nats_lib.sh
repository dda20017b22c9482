# Shared by the NATS tests: real nats-server processes with JetStream on loopback.
# Source it; it sets $tmp (removed at exit) and kills every server it started.
tmp=$(mktemp -d)
declare -a bg_pids=()
cleanup() { for p in "${bg_pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; [[ -n ${KEEP_TMP:-} ]] && echo "kept $tmp" || rm -rf "$tmp"; }
trap cleanup EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }
finish() { echo "$passed passed, $failures failed"; [[ $failures -eq 0 ]]; }

command -v nats-server >/dev/null || { echo "nats-server is not installed (scripts/install-deps installs it)"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nats NAME PORT MONITOR_PORT [extra nats-server args...]: sets nats_pid[NAME]
declare -A nats_pid=()
start_nats() {
  local name=$1 port=$2 mport=$3; shift 3
  mkdir -p "$tmp/$name"
  nats-server -js -sd "$tmp/$name/store" -a 127.0.0.1 -p "$port" -m "$mport" -n "$name" "$@" >>"$tmp/$name/log" 2>&1 &
  nats_pid[$name]=$!
  bg_pids+=($!)
}

# wait_nats_ready MONITOR_PORT...: until each answers /healthz with JetStream up
wait_nats_ready() {
  local p
  for p in "$@"; do
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -sf "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 || { echo "nats-server with monitor port $p did not become ready"; return 1; }
  done
}

# start_fake_pds CAR N [BROKEN_EVERY]: sets pds_port, writes $tmp/dids
start_fake_pds() {
  "$fake_pds" "$1" "$2" "$tmp/pds_port" "$tmp/dids" "${3:-0}" & bg_pids+=($!)
  for _ in $(seq 1 100); do [[ -s $tmp/pds_port ]] && break; sleep 0.05; done
  pds_port=$(cat "$tmp/pds_port")
  cat >"$tmp/config.yaml" <<YAML
plc_url: http://127.0.0.1:$pds_port
allow_private_addresses: true
verify_signatures: false
retries: {max_attempts: 2, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
}
