#!/usr/bin/env bash
# resolve.plc_export through the real `bsky-backfill run` on a loopback network
# (tests/support/fake_network): an export file names every DID's PDS but one's
# (one of them only after an earlier operation pointing nowhere, beside a
# nullified operation and a malformed line); the run must finish every DID
# and ask the PLC directory exactly once, for the DID the export lacks.
set -u
cli=$1 fake_network=$2 fx=$3
. "$(dirname "$0")/../support/fake_network.sh"
tmp=$(mktemp -d); net_pid=
trap 'stop_network; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT

cat >"$tmp/spec.json" <<JSON
{"seed": "plc-export",
 "templates": {"tiny": "$fx/cars/repo-stream__tiny.car"},
 "hosts": [{}, {}],
 "repos": [{"template": "tiny", "count": 6}]}
JSON
start_network "$tmp/spec.json"

python3 - "$tmp" "$fx" <<'PY' || exit 1
import json, sys
tmp, fx = sys.argv[1], sys.argv[2]
ready = json.load(open(f"{tmp}/ready.json"))
key = json.load(open(f"{fx}/interop/crypto/signature-fixtures.json"))[0]["publicKeyDid"]
def line(did, endpoint, nullified=False):
    op = {"type": "plc_operation", "rotationKeys": [key], "verificationMethods": {"atproto": key},
          "alsoKnownAs": [f"at://{did[8:]}.test"], "prev": None, "sig": "c2ln",
          "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": endpoint}}}
    return json.dumps({"did": did, "operation": op, "cid": "bafyreie", "nullified": nullified,
                       "createdAt": "2024-01-01T00:00:00.000Z"})
dids = [d["did"] for d in ready["dids"]]
with open(f"{tmp}/dids", "w") as f:
    f.write("".join(d + "\n" for d in dids))
nowhere = "http://127.0.0.1:9"
with open(f"{tmp}/export.jsonl", "w") as f:
    f.write(line(dids[0], nowhere) + "\n")                    # superseded below
    f.write("{not json\n")
    for d in ready["dids"][:-1]:                              # the last DID is left to the directory
        f.write(line(d["did"], ready["hosts"][d["host"]]["url"]) + "\n")
    f.write(line(dids[1], nowhere, nullified=True) + "\n")   # a forked-away operation: ignored
PY
cat >"$tmp/config.yaml" <<YAML
plc_url: $(plc_url)
allow_private_addresses: true
verify_signatures: false
resolve: {plc_export: $tmp/export.jsonl}
time_range: {start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}
YAML
"$cli" run --dids-file "$tmp/dids" --config "$tmp/config.yaml" --output-dir "$tmp/out" >"$tmp/summary.json" 2>"$tmp/log"
code=$?
[[ $code -eq 0 ]] || { echo "FAIL: run exited $code: $(tail -5 "$tmp/log")"; exit 1; }
[[ -s $tmp/out/state/plc-export.db ]] || { echo "FAIL: no index at out/state/plc-export.db"; exit 1; }
grep -q "export.jsonl:2: skipped a malformed PLC export line" "$tmp/log" || { echo "FAIL: the malformed line 2 is not reported: $(cat "$tmp/log")"; exit 1; }

python3 - "$tmp" <<'PY' || exit 1
import json, sys, urllib.request
tmp = sys.argv[1]
ready = json.load(open(f"{tmp}/ready.json"))
summary = json.load(open(f"{tmp}/summary.json"))
dids = [d["did"] for d in ready["dids"]]
assert sorted(summary["did_to_backfill_counts_map"]) == sorted(dids), summary.get("failed", summary)
assert all(sum(c.values()) > 0 for c in summary["did_to_backfill_counts_map"].values()), summary
with urllib.request.urlopen(ready["plc"] + "/stats") as r: stats = json.loads(r.read())
hosts = {h["name"]: h for h in stats["hosts"]}
assert hosts["plc"]["requests"] == 1, f"the PLC directory got {hosts['plc']['requests']} requests, expected 1 (the DID missing from the export)"
assert stats["pds_total"]["repos_served"] == len(dids), stats["pds_total"]
print(f"{len(dids)} DIDs done, {len(dids) - 1} resolved from the export, 1 PLC request")
PY
echo "plc_export: the export resolved every DID it names; the directory was asked once"
