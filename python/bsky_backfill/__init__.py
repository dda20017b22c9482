"""bsky_backfill: the original backfill service's interface on bsky-backfill's C++ core.

    from bsky_backfill import run_batched_backfill
    result = run_batched_backfill(dids=["did:plc:..."], batch_size=50,
                                  start_timestamp="2024-09-27-00:00:00", end_timestamp="2024-12-02-00:00:00")

Options by keyword (as `bsky-backfill run`'s flags): config (a YAML file), output
("sqlite" or "jsonl"), output_dir (default ./backfill-output without a config file),
types (list of record types), plc_url, concurrency, per_host_concurrency,
verify_signatures, format ("pipeline" or "raw"), time_range_mode ("tag" or "filter").
Log lines go to the `logging` logger "bsky_backfill". See docs/python.md.
"""
import json
import sqlite3
import glob
import os
import sys

from . import _core
from ._core import BackfillError, ConfigurationError, NetworkError, RepoVerificationError

__version__ = _core.__version__
DEFAULT_START_TIMESTAMP = "2024-09-27-00:00:00"
DEFAULT_END_TIMESTAMP = "2024-12-02-00:00:00"

_OPTION_NAMES = {"config": "config_path", "output": "output", "output_dir": "output_dir", "plc_url": "plc_url",
                 "types": "types", "concurrency": "concurrency", "per_host_concurrency": "per_host_concurrency",
                 "verify_signatures": "verify_signatures", "format": "format", "time_range_mode": "time_range_mode",
                 "start_timestamp": "start_timestamp", "end_timestamp": "end_timestamp"}


def _options(options):
    o = _core.RunOptions()
    for key, value in options.items():
        if key not in _OPTION_NAMES:
            raise TypeError(f"unknown option {key!r}; known: {', '.join(sorted(_OPTION_NAMES))}")
        if value is None:
            continue
        if key == "types" and isinstance(value, str):
            value = [t for t in value.split(",") if t]
        if key in ("config", "output_dir"):
            value = os.fspath(value)
        setattr(o, _OPTION_NAMES[key], value)
    return o


def _progress(progress):
    """None/"auto": tqdm on a terminal when installed; False: none; a callable gets a dict."""
    if progress is False:
        return None, None
    if callable(progress):
        return progress, None
    if progress is None or progress == "auto":
        if not sys.stderr.isatty():
            return None, None
    try:
        from tqdm import tqdm
    except ImportError:
        return None, None
    bar = tqdm(unit="DID", desc="backfill")

    def update(p):
        bar.total = p["dids_total"]
        bar.n = p["dids_done"]
        bar.set_postfix(records=p["records"], MB=round(p["bytes"] / 1e6, 1))
    return update, bar


def _run(fn, *args, progress=None):
    callback, bar = _progress(progress)
    try:
        return fn(*args, callback)
    finally:
        if bar is not None:
            bar.close()


def run_batched_backfill(dids, batch_size=50, start_timestamp=DEFAULT_START_TIMESTAMP,
                         end_timestamp=DEFAULT_END_TIMESTAMP, progress=None, **options):
    """Backfills `dids` in batches of `batch_size`; returns the dict `bsky-backfill run` prints:
    {"total_batches", "did_to_backfill_counts_map", "failed", "account_states"?}.
    Ctrl-C stops taking DIDs, lets those in flight end, and raises KeyboardInterrupt;
    calling again resumes."""
    o = _options(dict(options, start_timestamp=start_timestamp, end_timestamp=end_timestamp))
    text = _run(_core.run_batched_backfill, list(dids), batch_size, o, progress=progress)
    return json.loads(text)


def do_backfill_for_users(dids, batch_size=50, progress=None, **options):
    """Backfills `dids`; returns {did: outcome} (status, error, counts, skipped, invalid, ...)."""
    outcomes = _run(_core.backfill_users, list(dids), batch_size, _options(options), progress=progress)
    return {o["did"]: o for o in outcomes}


def do_backfill_for_user(did, **options):
    """Backfills one DID; returns its outcome dict (status, error, counts, ...)."""
    return do_backfill_for_users([did], progress=False, **options)[did]


def get_bsky_records_for_user(did, types=None, **options):
    """Yields the DID's verified records (pipeline format, or format="raw") as they stream in."""
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    stream = _core.RecordStream(did, _options(options), types)
    try:
        while True:
            line = stream.next_line()
            if line is None:
                return
            yield json.loads(line)
    finally:
        stream.close()


def get_plc_directory_doc(did, **options):
    """The DID document the PLC directory (or did:web host) serves for `did`, checked, as a dict."""
    return json.loads(_core.plc_directory_doc(did, _options(options)))


def _dumps(record):
    def default(v):
        if isinstance(v, (bytes, bytearray)):
            import base64
            return {"$bytes": base64.b64encode(v).decode().rstrip("=")}
        raise TypeError(f"cannot encode {type(v).__name__} in a record")
    return json.dumps(record, default=default)


def identify_record_type(record, collection=None):
    """The record type: the last segment of the collection (default: record["$type"]); "reply"
    for a post with a `reply`. Raises ValueError with the reason the pipeline counts it invalid."""
    collection = collection if collection is not None else record.get("$type", "")
    record_type, reason = _core.record_type(collection, _dumps(record))
    if reason:
        raise ValueError(reason)
    return record_type


def identify_post_type(post):
    """"reply" for a post whose value has a `reply` field, else "post"."""
    return identify_record_type(post, "app.bsky.feed.post")


def validate_record_timestamp(record, start_timestamp=DEFAULT_START_TIMESTAMP, end_timestamp=DEFAULT_END_TIMESTAMP):
    """True when the record's createdAt lies in [start, end]; ValueError when it is unusable."""
    value, in_range, reason = _core.synctimestamp(_dumps(record), start_timestamp, end_timestamp)
    if value is None:
        raise ValueError(reason)
    return in_range


def validate_record_type(record_type, types=None):
    """Whether `record_type` (a short type or collection NSID) is among the configured types."""
    return record_type in set(_core.configured_types(list(types) if types is not None else None))


def assign_default_backfill_synctimestamp(timestamp):
    """The standardised synctimestamp for a time outside the study range: day <= 15 -> the
    15th, else the 1st of the next month, at 00:00:00."""
    return _core.default_synctimestamp(timestamp)


def transform_backfilled_record(record, uri, cid, start_timestamp=DEFAULT_START_TIMESTAMP,
                                end_timestamp=DEFAULT_END_TIMESTAMP, format="pipeline", rev=""):
    """The record as the queues hold it (pipeline or raw format); `uri` is at://did/collection/rkey."""
    if not uri.startswith("at://") or uri.count("/") != 4:
        raise ValueError(f"uri {uri!r} is not at://did/collection/rkey")
    author, collection, rkey = uri[5:].split("/")
    record_type = identify_record_type(record, collection)
    value, _, _ = _core.synctimestamp(_dumps(record), start_timestamp, end_timestamp)
    return json.loads(_core.transform(_dumps(record), uri, cid, author, collection, rkey, record_type, value, rev,
                                      format == "pipeline"))


def read_car(path, did=None, key=None, format="pipeline"):
    """Yields a CAR file's records offline, verified, as `bsky-backfill inspect` prints them."""
    records = _core.CarRecords(os.fspath(path), did, key, format)
    try:
        while True:
            line = records.next_line()
            if line is None:
                return
            yield json.loads(line)
    finally:
        records.close()


def read_queue(output_dir, record_type):
    """Yields the records of one type's SQLite queue or JSONL directory under `output_dir`."""
    db = os.path.join(output_dir, "queue", f"output_backfill_sync_{record_type}.db")
    if os.path.exists(db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for (payload,) in con.execute("SELECT payload FROM queue ORDER BY id"):
                yield from json.loads(payload)
        finally:
            con.close()
        return
    for part in sorted(glob.glob(os.path.join(output_dir, record_type, "part-*.jsonl"))):
        with open(part) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


__all__ = ["BackfillError", "ConfigurationError", "NetworkError", "RepoVerificationError",
           "run_batched_backfill", "do_backfill_for_users", "do_backfill_for_user", "get_bsky_records_for_user",
           "get_plc_directory_doc", "identify_record_type", "identify_post_type", "validate_record_timestamp",
           "validate_record_type", "transform_backfilled_record", "assign_default_backfill_synctimestamp",
           "read_car", "read_queue"]
