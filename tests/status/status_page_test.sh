#!/usr/bin/env bash
# bsky-backfilld with DID lists in its spool directory: /metrics' DID-state
# gauges equal the store, /healthz turns 503 when the output directory stops
# taking files and 200 again after, and the status page, loaded in headless
# Chromium, shows each spool file's and host's counts.
#
# Tests run as root, for whom chmod does not stop writes: the daemon runs as
# `nobody` (setpriv), owning its directories, so chmod 0555 really makes the
# output directory unwritable for it.
set -u
daemon=$1 fake_network=$2 fx=$3 artifacts=$4
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid= pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; stop_network; rm -rf "$tmp"' EXIT
failures=0 passed=0
check() { if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi; }
chmod 0755 "$tmp"

cat >"$tmp/spec.json" <<JSON
{"seed": "status-page",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car"},
 "hosts": [{}, {}],
 "repos": [{"template": "tiny", "count": 6, "host": 0}, {"template": "tiny", "count": 4, "host": 1}]}
JSON
start_network "$tmp/spec.json"
mkdir -p "$tmp/spool" "$tmp/state" "$tmp/out"
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
spool_dir: $tmp/spool
state_dir: $tmp/state
output: {dir: $tmp/out, batch_size: 5}
allow_private_addresses: true
verify_signatures: false
metrics: {listen: 127.0.0.1:0}
retries: {max_attempts: 2, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
head -6 "$tmp/dids" >"$tmp/spool/first.txt"
{ tail -4 "$tmp/dids"; echo did:plc:aaaaaaaaaaaaaaaaaaaaaaaa; } >"$tmp/spool/second.txt"
chown -R nobody:nogroup "$tmp/spool" "$tmp/state" "$tmp/out" "$tmp/config.yaml"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$daemon" --config "$tmp/config.yaml" 2>"$tmp/log" & pid=$!
for _ in $(seq 1 300); do grep -q 'metrics at http://' "$tmp/log" && break; sleep 0.1; done
addr=$(grep -o 'metrics at http://[0-9.:]*' "$tmp/log" | head -1 | sed 's|metrics at http://||')
[[ -n $addr ]]; check started $? "$(tail -5 "$tmp/log")"
for _ in $(seq 1 300); do [[ -e $tmp/spool/finished/second.txt.result.json && -e $tmp/spool/finished/first.txt.result.json ]] && break; sleep 0.1; done
sleep 3  # one more read of the store by the monitor (every 2 s)

# --- /metrics agrees with the store ---
curl -sf "http://$addr/metrics" >"$tmp/m.prom"
sqlite3 -separator ' ' "file:$tmp/state/state.db?mode=ro" "SELECT status, COUNT(*) FROM dids GROUP BY status" >"$tmp/states.txt"
[[ -s $tmp/states.txt ]]; check store-read $? "no rows"
while read -r st n; do
  grep -qx "bsky_state_dids{state=\"$st\"} $n" "$tmp/m.prom"; check "metric-state-$st" $? "$(grep bsky_state_dids "$tmp/m.prom")"
done <"$tmp/states.txt"
grep -qx 'bsky_spool_files{state="finished"} 2' "$tmp/m.prom"; check metric-spool-files $? "$(grep bsky_spool_files "$tmp/m.prom")"

# Every metric the Grafana dashboard queries is one the daemon publishes.
python3 - "$(dirname "$0")/../../docs/grafana-dashboard.json" "$tmp/m.prom" <<'PY'; check dashboard-metrics $? "see above"
import json, re, sys
d = json.load(open(sys.argv[1]))
assert any(i["name"] == "DS_PROMETHEUS" for i in d["__inputs"])
published = set(re.findall(r"^# TYPE (\S+)", open(sys.argv[2]).read(), re.M))
used = {re.sub(r"_(bucket|sum|count)$", "", m) for p in d["panels"] for t in p["targets"] for m in re.findall(r"\bbsky_[a-z_]+", t["expr"])}
missing = sorted(m for m in used if m not in published)
assert not missing, missing
print(len(used), "dashboard metrics published")
PY

# --- /healthz: 200, 503 with the reason while the output directory is unwritable, 200 again ---
code=$(curl -s -o "$tmp/h1" -w '%{http_code}' "http://$addr/healthz")
[[ $code == 200 ]]; check healthz-ok $? "$code $(cat "$tmp/h1")"
chmod 0555 "$tmp/out"
ok=1; for _ in $(seq 1 50); do code=$(curl -s -o "$tmp/h2" -w '%{http_code}' "http://$addr/healthz"); [[ $code == 503 ]] && { ok=0; break; }; sleep 0.2; done
[[ $ok -eq 0 ]] && grep -q "$tmp/out does not take new files (Permission denied)" "$tmp/h2"; check healthz-unwritable $? "$code $(cat "$tmp/h2")"
chmod 0755 "$tmp/out"
ok=1; for _ in $(seq 1 50); do code=$(curl -s -o "$tmp/h3" -w '%{http_code}' "http://$addr/healthz"); [[ $code == 200 ]] && { ok=0; break; }; sleep 0.2; done
[[ $ok -eq 0 ]]; check healthz-recovers $? "$code $(cat "$tmp/h3")"

# --- the status page in headless Chromium: the DOM after the page's own refresh ---
mkdir -p "$artifacts"
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
        --disable-component-update --disable-sync --user-data-dir="$tmp/chrome")
timeout 60 "${chrome[@]}" --virtual-time-budget=5000 --dump-dom "http://$addr/" >"$tmp/dom.html" 2>"$tmp/chrome.err"
timeout 60 "${chrome[@]}" --virtual-time-budget=5000 --window-size=1200,900 --screenshot="$artifacts/status-page.png" "http://$addr/" >/dev/null 2>&1
[[ -s $artifacts/status-page.png ]]; check screenshot $? "no screenshot"
curl -sf "http://$addr/status.json" >"$tmp/status.json"
python3 - "$tmp/dom.html" "$tmp/status.json" <<'PY'; check page-dom $? "see above"
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(s): super().__init__(); s.rows = {}; s.cur = None; s.cls = None; s.body = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == "body": s.body = a
        if tag == "tr" and ("data-file" in a or "data-host" in a): s.cur = s.rows.setdefault(a.get("data-file") or "host:" + a["data-host"], {})
        if tag == "td" and s.cur is not None: s.cls = a.get("class")
    def handle_endtag(s, tag):
        if tag == "tr": s.cur = None
        if tag == "td": s.cls = None
    def handle_data(s, d):
        if s.cur is not None and s.cls: s.cur[s.cls] = s.cur.get(s.cls, "") + d
p = P(); p.feed(open(sys.argv[1]).read())
st = json.load(open(sys.argv[2]))
assert int(p.body.get("data-refreshes", "0")) >= 1, "the page never refreshed itself"
assert p.rows["first.txt"]["total"] == "6" and p.rows["first.txt"]["done"] == "6", p.rows
assert p.rows["second.txt"]["total"] == "5" and p.rows["second.txt"]["done"] == "4" and p.rows["second.txt"]["other"] == "1", p.rows
hosts = {k[5:]: v for k, v in p.rows.items() if k.startswith("host:")}
want = {h["host"]: h["dids"]["done"] for h in st["hosts"] if h["total"]}
assert len(want) == 2 and sorted(want.values()) == [4, 6], want
for h, done in want.items(): assert hosts[h]["done"] == str(done), (h, hosts)
print("status page ok")
PY

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
