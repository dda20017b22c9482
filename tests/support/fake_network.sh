# Sourced by the tests that drive bsky-backfill over tests/support/fake_network.
# Needs $fake_network (the executable) and $tmp (the test's directory).

# start_network SPEC: starts the network, waits for $tmp/ready.json and writes
# the DIDs, in the spec's order, to $tmp/dids; sets net_pid.
start_network() {
  rm -f "$tmp/ready.json"
  "$fake_network" "$1" "$tmp/ready.json" "$tmp/stats.json" >"$tmp/net.out" 2>"$tmp/net.err" & net_pid=$!
  for _ in $(seq 1 600); do [[ -s $tmp/ready.json ]] && break; sleep 0.05; done
  [[ -s $tmp/ready.json ]] || { echo "FAIL: fake_network did not start: $(tail -3 "$tmp/net.err")"; exit 1; }
  python3 -c "import json,sys; [print(d['did']) for d in json.load(open(sys.argv[1]))['dids']]" "$tmp/ready.json" >"$tmp/dids"
}

# Ends the network; it writes $tmp/stats.json as it goes.
stop_network() {
  [[ -n ${net_pid:-} ]] && { kill "$net_pid"; wait "$net_pid"; } 2>/dev/null
  net_pid=
}

plc_url() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['plc'])" "$tmp/ready.json"; }
