#!/usr/bin/env python3
"""Checks a run's output against its state store, after a crash or a write error.

usage: check_exactly_once.py OUTPUT_DIR sqlite|jsonl EXPECTED_PER_DID [--state STATE_DIR] [--final DONE FAILED]

Every record of every `done` DID is in its queue exactly once (EXPECTED_PER_DID
records, no URI twice); no record of a DID that is pending, running or failed is
in any queue; a `committing` DID (its move into the queues was interrupted) may
have some, never twice. With --final, the state store holds exactly DONE done
and FAILED failed DIDs and nothing else. Prints what is wrong, exits 1 if anything is.
"""
import collections, glob, json, os, sqlite3, sys

out, kind, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]
state_dir = args[args.index("--state") + 1] if "--state" in args else os.path.join(out, "state")
final = args[args.index("--final") + 1:args.index("--final") + 3] if "--final" in args else None

state = dict(sqlite3.connect(os.path.join(state_dir, "state.db")).execute("SELECT did, status FROM dids"))
uris = []
problems_early = []
if kind == "sqlite":
    for db in glob.glob(os.path.join(out, "queue", "output_backfill_sync_*.db")):
        conn = sqlite3.connect(db)
        # A crash just as a type's file was first made leaves it without tables:
        # nothing was committed there (the next start creates them).
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'queue'").fetchone():
            if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                problems_early.append(f"{db}: has tables but no queue table")
            continue
        for (payload,) in conn.execute("SELECT payload FROM queue"):
            uris += [r["uri"] for r in json.loads(payload)]
else:
    for part in glob.glob(os.path.join(out, "*", "part-*.jsonl")):
        with open(part) as f:
            uris += [json.loads(line)["uri"] for line in f]  # a half-written line does not parse

problems = problems_early
twice = [u for u, n in collections.Counter(uris).items() if n > 1]
if twice:
    problems.append(f"{len(twice)} URIs are in the queues more than once, e.g. {twice[0]}")
per_did = collections.Counter(u.split("/")[2] for u in uris)
for did, status in sorted(state.items()):
    n = per_did.get(did, 0)
    if status == "done" and n != expected:
        problems.append(f"{did} is done with {n} records in the queues, not {expected}")
    if status in ("pending", "running", "failed") and n:
        problems.append(f"{did} is {status} but has {n} records in the queues")
unknown = set(per_did) - set(state)
if unknown:
    problems.append(f"records of DIDs the state store does not know: {sorted(unknown)}")
if final:
    counts = collections.Counter(state.values())
    if counts != collections.Counter({"done": int(final[0]), "failed": int(final[1])}) - collections.Counter():
        problems.append(f"final states {dict(counts)}, expected done={final[0]} failed={final[1]}")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
