#!/usr/bin/env bash
# End to end against the reference implementation: @atproto/dev-env's PLC
# directory and PDS on loopback, filled through the real API by harness.mjs;
# then `bsky-backfill run` over every account (and DIDs that cannot work),
# compared with the ground truth from listRecords. Signatures are verified
# against the keys the PLC directory serves.
set -u
cli=$1
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d); harness_pid=
trap '[[ -n $harness_pid ]] && kill $harness_pid 2>/dev/null; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
started=$(date +%s)

if [[ ! -d $here/node_modules/@atproto/dev-env ]]; then
  (cd "$here" && npm_config_nodedir=${npm_config_nodedir:-/usr} npm ci --no-audit --no-fund >"$tmp/npm.log" 2>&1) \
    || { echo "FAIL: npm ci: $(tail -20 "$tmp/npm.log")"; echo "0 passed, 1 failed"; exit 1; }
fi
node "$here/harness.mjs" "$tmp" >"$tmp/harness.log" 2>&1 & harness_pid=$!
for _ in $(seq 1 240); do [[ -s $tmp/truth.json ]] && break; kill -0 $harness_pid 2>/dev/null || break; sleep 0.5; done
if [[ ! -s $tmp/truth.json ]]; then echo "FAIL: the harness did not come up: $(tail -30 "$tmp/harness.log")"; echo "0 passed, 1 failed"; exit 1; fi
echo "e2e: reference PDS and PLC seeded in $(( $(date +%s) - started )) s"

python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
t = json.load(open(f"{tmp}/truth.json"))
dids = [a["did"] for a in t["accounts"].values()] + list(t["states"])
# DIDs that cannot work: not registered, and a did:web host with nothing listening.
dids += ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:web:localhost%3A1"]
open(f"{tmp}/dids.txt", "w").write("\n".join(dids) + "\n")
open(f"{tmp}/config.yaml", "w").write(f"""plc_url: {t['plc']}
allow_private_addresses: true
verify_signatures: true
output: {{format: raw, batch_size: 25}}
record_types: [post, reply, like, repost, follow, block, profile, list, listitem, threadgate]
retries: {{max_attempts: 2, backoff_base_seconds: 0.05, backoff_cap_seconds: 0.1}}
time_range: {{start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}}
""")
PY
run_started=$(date +%s)
"$cli" run --dids-file "$tmp/dids.txt" --config "$tmp/config.yaml" --output-dir "$tmp/out" >"$tmp/summary.json" 2>"$tmp/run.log"
code=$?
echo "e2e: bsky-backfill run took $(( $(date +%s) - run_started )) s (exit $code)"
# The same accounts in the pipeline format (the default), into JSONL this time.
sed 's/format: raw/format: pipeline/' "$tmp/config.yaml" >"$tmp/pipeline.yaml"
"$cli" run --dids-file "$tmp/dids.txt" --config "$tmp/pipeline.yaml" --output-dir "$tmp/pipeline" --output jsonl \
  >"$tmp/pipeline-summary.json" 2>"$tmp/pipeline.log"

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
for name, account in t["accounts"].items():
    for r in account["records"]:
        collection = r["uri"].split("/")[3]
        kind = record_type(collection, r["value"])
        if kind not in wanted or not parses(r["value"].get("createdAt")): continue
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
check("pipeline run agrees", pipeline_done == done, {d: (pipeline_done.get(d), c) for d, c in done.items() if pipeline_done.get(d) != c})

states = s.get("account_states", {})
for did, state in t["states"].items():
    want = "not_found" if state == "deleted" else state
    check(f"{did} {state}", states.get(did) == want, f"{states.get(did)} (failed: {s['failed'].get(did)})")
check("unregistered DID", states.get("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa") == "not_found", states)
check("dead did:web host", "did:web:localhost%3A1" in s["failed"] and "localhost" in s["failed"]["did:web:localhost%3A1"], s["failed"])
check("exit code 1 for the dead host", code == 1, code)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
