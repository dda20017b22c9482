#!/usr/bin/env bash
# End to end against the reference implementation: @atproto/dev-env's PLC
# directory and PDS on loopback, filled through the real API by harness.mjs,
# behind nginx terminating TLS with a CA made for the run, with the PDS's own
# rate limiter switched on at a few requests per window; then
# `bsky-backfill run` over every account (and DIDs that cannot work),
# compared with the ground truth from listRecords. Signatures are verified
# against the keys the PLC directory serves; the run's metrics must show the
# 429s nginx logged. Then bsky-backfilld takes the same list from its spool
# directory: its result file and queues must match the run's.
set -u
cli=$1 daemon=${2:-}
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d); harness_pid=
cleanup() {
  [[ -n $harness_pid ]] && kill $harness_pid 2>/dev/null
  [[ -n ${daemon_pid:-} ]] && kill -9 $daemon_pid 2>/dev/null
  local nginx_pid; nginx_pid=$(cat "$tmp/nginx/nginx.pid" 2>/dev/null) && kill -QUIT "$nginx_pid" 2>/dev/null
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT
started=$(date +%s)
rate_limit=${E2E_RATE_LIMIT:-3/3}

# The marker is written last: an install cut short (a timeout mid-compile of
# better-sqlite3) is redone rather than half used.
if [[ ! -f $here/node_modules/.bsky-installed ]]; then
  (cd "$here" && npm_config_nodedir=${npm_config_nodedir:-/usr} npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1 &&
   touch node_modules/.bsky-installed) \
    || { echo "FAIL: npm ci: $(tail -20 "$tmp/npm.log")"; echo "0 passed, 1 failed"; exit 1; }
fi
E2E_RATE_LIMIT=$rate_limit node "$here/harness.mjs" "$tmp" >"$tmp/harness.log" 2>&1 & harness_pid=$!
for _ in $(seq 1 240); do [[ -s $tmp/truth.json ]] && break; kill -0 $harness_pid 2>/dev/null || break; sleep 0.5; done
if [[ ! -s $tmp/truth.json ]]; then echo "FAIL: the harness did not come up: $(tail -30 "$tmp/harness.log")"; echo "0 passed, 1 failed"; exit 1; fi
echo "e2e: reference PDS and PLC seeded, nginx TLS front up in $(( $(date +%s) - started )) s (the PDS allows ${rate_limit%/*} requests per ${rate_limit#*/} s)"

python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
t = json.load(open(f"{tmp}/truth.json"))
dids = [a["did"] for a in t["accounts"].values()] + list(t["states"]) + list(t["broken"])
# DIDs that cannot work: not registered, and a did:web host with nothing listening.
dids += ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:web:localhost%3A1"]
open(f"{tmp}/dids.txt", "w").write("\n".join(dids) + "\n")
# The client's own bucket is generous and 8 requests may be in flight per
# host: the PDS's limit is the one that binds, and its 429s must be handled.
# One attempt per fetch: a 429 that used up the retry budget would fail a DID.
open(f"{tmp}/config.yaml", "w").write(f"""plc_url: {t['plc']}
allow_private_addresses: true
verify_signatures: true
tls: {{ca_file: {t['ca_file']}}}
resolve: {{hosts: {{{t['public_host']}: 127.0.0.1}}}}
output: {{format: raw, batch_size: 25}}
record_types: [post, reply, like, repost, follow, block, profile, list, listitem, threadgate]
retries: {{max_attempts: 1, backoff_base_seconds: 0.05, backoff_cap_seconds: 0.1}}
rate_limits: {{pds: {{requests: 100000, window_seconds: 1, burst: 1000}}, max_concurrent_per_host: 8}}
time_range: {{start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}}
""")
PY
# Use up the PDS's window through the front, so the run's first getRepo meets a 429.
python3 - "$tmp" <<'PY'
import json, socket, ssl, sys
from urllib.parse import urlsplit
t = json.load(open(f"{sys.argv[1]}/truth.json"))
ctx = ssl.create_default_context(cafile=t["ca_file"])
front = urlsplit(t["public_pds"])
for _ in range(int(t["rate_limit"].split("/")[0])):
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname=front.hostname) as s:
        s.sendall(f"GET /xrpc/com.atproto.server.describeServer HTTP/1.1\r\nHost: {front.netloc}\r\nConnection: close\r\n\r\n".encode())
        while s.recv(65536): pass
PY
run_started=$(date +%s)
"$cli" run --dids-file "$tmp/dids.txt" --config "$tmp/config.yaml" --output-dir "$tmp/out" --metrics-file "$tmp/metrics.prom" \
  >"$tmp/summary.json" 2>"$tmp/run.log"
code=$?
echo "e2e: bsky-backfill run took $(( $(date +%s) - run_started )) s (exit $code)"
# The same accounts in the pipeline format (the default) with the default
# record types (profiles, lists, list items and threadgates are skipped), into JSONL.
sed 's/format: raw/format: pipeline/; /^record_types:/d' "$tmp/config.yaml" >"$tmp/pipeline.yaml"
"$cli" run --dids-file "$tmp/dids.txt" --config "$tmp/pipeline.yaml" --output-dir "$tmp/pipeline" --output jsonl \
  --metrics-file "$tmp/pipeline-metrics.prom" >"$tmp/pipeline-summary.json" 2>"$tmp/pipeline.log"

python3 - "$tmp" "$code" <<'PY'
import glob, json, os, sqlite3, sys
from datetime import datetime
tmp, code = sys.argv[1], int(sys.argv[2])
t = json.load(open(f"{tmp}/truth.json"))
s = json.load(open(f"{tmp}/summary.json"))
passed = failed = 0
def check(name, ok, detail=""):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}: {detail}"[:2000])

def parses(created):
    if not isinstance(created, str): return False
    v = created.strip().replace("z", "Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            datetime.strptime(v.replace("Z", "+00:00") if "%z" in fmt else v, fmt)
            return True
        except ValueError:
            pass
    # more than 6 fractional digits: trim and retry
    if "." in v:
        head, _, tail = v.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        return parses(head + "." + digits[:6] + tail[len(digits):])
    return False

def record_type(collection, value):
    last = (value.get("$type") or collection).split(".")[-1]
    return "reply" if last == "post" and "reply" in value else last

wanted = {"post", "reply", "like", "repost", "follow", "block", "profile", "list", "listitem", "threadgate"}
queues = {}
for db in glob.glob(f"{tmp}/out/queue/output_backfill_sync_*.db"):
    kind = os.path.basename(db)[len("output_backfill_sync_"):-3]
    for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
        for r in json.loads(payload):
            queues.setdefault(r["uri"], []).append((kind, r))
check("no duplicate URIs", all(len(v) == 1 for v in queues.values()), [u for u, v in queues.items() if len(v) > 1][:5])

done = s["did_to_backfill_counts_map"]
for name, account in t["accounts"].items():
    did = account["did"]
    check(f"{name} done", did in done, s["failed"].get(did))
    expected = {}
    for r in account["records"]:
        collection = r["uri"].split("/")[3]
        kind = record_type(collection, r["value"])
        if kind not in wanted or not parses(r["value"].get("createdAt")): continue
        expected[kind] = expected.get(kind, 0) + 1
        got = queues.get(r["uri"], [])
        if len(got) != 1:
            check(f"{r['uri']} exported once", False, f"{len(got)} copies")
            continue
        qkind, row = got[0]
        check(f"{r['uri']} type", qkind == kind, f"{qkind} != {kind}")
        check(f"{r['uri']} cid", row["cid"] == r["cid"], f"{row['cid']} != {r['cid']}")
        check(f"{r['uri']} value", row["record"] == r["value"], f"{row['record']} != {r['value']}")
        check(f"{r['uri']} author/rev", row["author"] == did and row["rev"] == account["rev"], f"{row['author']} {row['rev']} {account['rev']}")
    check(f"{name} counts", done.get(did, {}) == expected, f"{done.get(did)} != {expected}")
# The pipeline format (SPEC §6), checked against the reference's own values.
pipeline = {}
for part in glob.glob(f"{tmp}/pipeline/*/part-*.jsonl"):
    kind = os.path.basename(os.path.dirname(part))
    for line in open(part):
        r = json.loads(line)
        pipeline[r["uri"]] = (kind, r)
as_json = lambda v: None if v is None else json.loads(v)
default_types = {"post", "reply", "like", "repost", "follow", "block"}
expected_skipped = {}
for name, account in t["accounts"].items():
    for r in account["records"]:
        collection = r["uri"].split("/")[3]
        kind = record_type(collection, r["value"])
        if kind not in default_types:
            expected_skipped[account["did"]] = expected_skipped.get(account["did"], 0) + 1
            continue
        if not parses(r["value"].get("createdAt")): continue
        got = pipeline.get(r["uri"])
        if not got:
            check(f"pipeline {r['uri']}", False, "missing")
            continue
        qkind, p = got
        v = r["value"]
        check(f"pipeline {r['uri']} fields", p["record_type"] == kind == qkind and p["cid"] == r["cid"] and p["author"] == account["did"]
              and len(p["synctimestamp"]) == 19, p)
        if kind in ("post", "reply"):
            for key in ("embed", "entities", "facets"):
                check(f"pipeline {r['uri']} {key}", as_json(p[key]) == v.get(key), (p[key], v.get(key)))
            for key in ("langs", "tags"):
                check(f"pipeline {r['uri']} {key}", p[key] == (",".join(v[key]) if key in v else None), (p[key], v.get(key)))
            check(f"pipeline {r['uri']} text", p["text"] == v["text"], p["text"])
        if kind == "reply":
            check(f"pipeline {r['uri']} reply", as_json(p["reply"]) == v["reply"], p["reply"])
        if kind in ("like", "repost"):
            check(f"pipeline {r['uri']} subject", as_json(p["subject"]) == v["subject"], p["subject"])
        if kind in ("follow", "block"):
            check(f"pipeline {r['uri']} subject", p["subject"] == v["subject"], p["subject"])
pipeline_done = json.load(open(f"{tmp}/pipeline-summary.json"))["did_to_backfill_counts_map"]
restricted = {d: {k: n for k, n in c.items() if k in default_types} for d, c in done.items()}
check("pipeline run agrees", pipeline_done == restricted,
      {d: (pipeline_done.get(d), c) for d, c in restricted.items() if pipeline_done.get(d) != c})
check("pipeline run skipped some types", sum(expected_skipped.values()) > 0, expected_skipped)
# Skipped records are counted per DID in the state store (and in the log line).
state = sqlite3.connect(f"{tmp}/pipeline/state/state.db")
stored = {did: (skipped, pds) for did, skipped, pds in state.execute("SELECT did, skipped, pds FROM dids WHERE status = 'done'")}
for name, account in t["accounts"].items():
    did = account["did"]
    check(f"{name} skipped count", stored.get(did, (None,))[0] == expected_skipped.get(did, 0), (stored.get(did), expected_skipped.get(did, 0)))
    # The repo came from the address in the DID document: the TLS front.
    check(f"{name} fetched over TLS", stored.get(did, (0, ""))[1] == t["public_pds"], (stored.get(did), t["public_pds"]))

states = s.get("account_states", {})
for did, state in t["states"].items():
    want = "not_found" if state == "deleted" else state
    check(f"{did} {state}", states.get(did) == want, f"{states.get(did)} (failed: {s['failed'].get(did)})")
check("unregistered DID", states.get("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa") == "not_found", states)
for did, kind in t["broken"].items():
    reason = s["failed"].get(did, "")
    want = "no #atproto_pds service" if kind == "no_pds" else "localhost:1"
    check(f"{kind} DID reported failed with its reason", want in reason, f"{did}: {reason!r}")
check("dead did:web host", "did:web:localhost%3A1" in s["failed"] and "localhost" in s["failed"]["did:web:localhost%3A1"], s["failed"])
check("exit code 1 for the dead host", code == 1, code)
# The run's metrics (Prometheus text) against what nginx saw.
def metrics(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip(): continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out
m, pm = metrics(f"{tmp}/metrics.prom"), metrics(f"{tmp}/pipeline-metrics.prom")
front = t["public_pds"].removeprefix("https://")
log = [l for l in open(t["nginx_access_log"]) if "com.atproto.sync.getRepo" in l]
logged_429 = sum(1 for l in log if '" 429 ' in l)
seen_429 = m.get(f'bsky_rate_limited_total{{host="{front}"}}', 0) + pm.get(f'bsky_rate_limited_total{{host="{front}"}}', 0)
check("the PDS answered 429s", logged_429 >= 1, f"{logged_429} getRepo 429s in the nginx log")
check("metrics count every 429 nginx logged", seen_429 == logged_429, f"metrics {seen_429}, nginx {logged_429}")
check("429 responses by client and code", m.get('bsky_http_responses_total{client="pds",code="429"}', 0)
      + pm.get('bsky_http_responses_total{client="pds",code="429"}', 0) == logged_429, m)
check("metrics: DIDs done", m.get('bsky_dids_total{state="done"}') == len(done), (m.get('bsky_dids_total{state="done"}'), len(done)))
check("metrics: records by type", all(m.get(f'bsky_records_exported_total{{type="{k}"}}', 0) == sum(c.get(k, 0) for c in done.values())
                                       for k in wanted), {k: v for k, v in m.items() if "records_exported" in k})
check("metrics: skipped by type", pm.get('bsky_records_skipped_total{reason="type"}') == sum(expected_skipped.values()),
      (pm.get('bsky_records_skipped_total{reason="type"}'), sum(expected_skipped.values())))
check("metrics: failures", m.get('bsky_dids_total{state="failed"}') == len(s["failed"]), (m.get('bsky_dids_total{state="failed"}'), s["failed"]))
check("metrics: repo bytes", m.get("bsky_repo_bytes_total", 0) > 0, m.get("bsky_repo_bytes_total"))
print(f"e2e: {logged_429} getRepo 429s from the PDS, all counted in the metrics; the runs completed")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
e2e_code=$?

# The daemon: the same list dropped into its spool, against the same servers.
[[ -n $daemon ]] || exit $e2e_code
mkdir -p "$tmp/spool"
cat "$tmp/config.yaml" - >"$tmp/daemon.yaml" <<YAML
spool_dir: $tmp/spool
state_dir: $tmp/daemon/state
metrics: {listen: 127.0.0.1:0}
YAML
sed -i "s|^output: {format: raw, batch_size: 25}|output: {format: raw, batch_size: 25, dir: $tmp/daemon/out}|" "$tmp/daemon.yaml"
daemon_started=$(date +%s)
"$daemon" --config "$tmp/daemon.yaml" 2>"$tmp/daemon.log" & daemon_pid=$!
cp "$tmp/dids.txt" "$tmp/spool/.e2e.part" && mv "$tmp/spool/.e2e.part" "$tmp/spool/e2e.txt"
for _ in $(seq 1 1200); do [[ -s $tmp/spool/finished/e2e.txt.result.json ]] && break; kill -0 $daemon_pid 2>/dev/null || break; sleep 0.25; done
kill -TERM $daemon_pid 2>/dev/null; wait $daemon_pid; daemon_code=$?; daemon_pid=
echo "e2e: bsky-backfilld took $(( $(date +%s) - daemon_started )) s for the list (exit $daemon_code after SIGTERM)"
python3 - "$tmp" "$daemon_code" <<'PY'
import glob, json, os, sqlite3, sys
tmp, code = sys.argv[1], int(sys.argv[2])
passed = failed = 0
def check(name, ok, detail=""):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print(f"FAIL: daemon: {name}: {detail}"[:2000])
result_path = f"{tmp}/spool/finished/e2e.txt.result.json"
check("result file written", os.path.exists(result_path), open(f"{tmp}/daemon.log").read()[-2000:])
if os.path.exists(result_path):
    r = json.load(open(result_path))
    s = json.load(open(f"{tmp}/summary.json"))
    check("counts as the run's", r["did_to_backfill_counts_map"] == s["did_to_backfill_counts_map"],
          {d: (r["did_to_backfill_counts_map"].get(d), c) for d, c in s["did_to_backfill_counts_map"].items()
           if r["did_to_backfill_counts_map"].get(d) != c})
    check("failures as the run's", set(r["failed"]) == set(s["failed"]), (sorted(r["failed"]), sorted(s["failed"])))
    check("account states as the run's", r.get("account_states") == s.get("account_states"), (r.get("account_states"), s.get("account_states")))
def rows(root):
    out = {}
    for db in glob.glob(f"{root}/queue/output_backfill_sync_*.db"):
        kind = os.path.basename(db)[len("output_backfill_sync_"):-3]
        for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
            for rec in json.loads(payload):
                out.setdefault(rec["uri"], []).append((kind, rec["cid"], json.dumps(rec["record"], sort_keys=True)))
    return out
mine, theirs = rows(f"{tmp}/daemon/out"), rows(f"{tmp}/out")
check("each record once", all(len(v) == 1 for v in mine.values()), [u for u, v in mine.items() if len(v) > 1][:5])
check("the run's records, no more, no less", mine == theirs, (len(mine), len(theirs), sorted(set(mine) ^ set(theirs))[:5]))
check("exit 0 after SIGTERM", code == 0, code)
print(f"{passed} passed, {failed} failed (daemon)")
sys.exit(1 if failed else 0)
PY
daemon_checks=$?
[[ $e2e_code -eq 0 && $daemon_checks -eq 0 ]]
