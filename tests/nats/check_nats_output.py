"""Compares a JetStream dump (nats_dump) with the SQLite queues of the same backfill.

Usage: check_nats_output.py DUMP.jsonl SQLITE_QUEUE_DIR RUN_SUMMARY.json PREFIX
Every record of the SQLite queues must be on {PREFIX}.{type} exactly once, with
Nats-Msg-Id {uri}#{cid} and the Bsky-* headers; nothing else; one commits
message per done DID whose counts match the run's summary.
"""
import collections, glob, json, os, sqlite3, sys

dump, queue_dir, summary_path, prefix = sys.argv[1:5]
msgs = [json.loads(line) for line in open(dump)]
summary = json.load(open(summary_path))

expected = collections.Counter()
for db in glob.glob(os.path.join(queue_dir, "output_backfill_sync_*.db")):
    rtype = os.path.basename(db)[len("output_backfill_sync_"):-3]
    for (payload,) in sqlite3.connect(db).execute("SELECT payload FROM queue"):
        for rec in json.loads(payload):
            expected[(rtype, json.dumps(rec, sort_keys=True))] += 1
assert expected, "the SQLite run exported nothing"

got = collections.Counter()
ids = collections.Counter()
commits = {}
for m in msgs:
    h = m["headers"]
    if m["subject"] == prefix + ".commits":
        body = json.loads(m["data"])
        assert body["did"] not in commits, "two commits messages for " + body["did"]
        assert h["Bsky-Did"] == body["did"] and body["status"] == "done", m
        commits[body["did"]] = body
        continue
    assert m["subject"].startswith(prefix + "."), m["subject"]
    rtype = m["subject"][len(prefix) + 1:]
    rec = json.loads(m["data"])
    assert h["Nats-Msg-Id"] == rec["uri"] + "#" + rec["cid"], (h, rec["uri"])
    assert h["Bsky-Did"] == rec["author"] and rec["uri"].startswith("at://" + rec["author"] + "/"), h
    assert h["Bsky-Collection"] == rec["uri"].split("/")[3], h
    assert h["Bsky-Record-Type"] == rtype == rec["record_type"], (h, rtype)
    assert "Bsky-Rev" in h, h
    ids[h["Nats-Msg-Id"]] += 1
    got[(rtype, json.dumps(rec, sort_keys=True))] += 1

dupes = [k for k, n in ids.items() if n > 1]
assert not dupes, f"{len(dupes)} records stored twice, e.g. {dupes[:3]}"
missing = expected - got
extra = got - expected
assert not missing and not extra, f"{sum(missing.values())} missing, {sum(extra.values())} extra; e.g. {list(missing)[:1]} {list(extra)[:1]}"
done = summary["did_to_backfill_counts_map"]
assert set(commits) == set(done), (sorted(set(done) - set(commits)), sorted(set(commits) - set(done)))
for did, counts in done.items():
    c = {k: v for k, v in commits[did]["counts"].items() if v}
    assert c == {k: v for k, v in counts.items() if v}, (did, c, counts)
print(f"nats ok: {sum(got.values())} records, {len(commits)} commits messages")
