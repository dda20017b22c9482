# Type stubs for the bsky_backfill package, so editors complete its names and
# type checkers see what the compiled part hides. tests/python/test_stubs.py
# fails when a public name or a parameter has no entry here.
import os
from typing import Any, Callable, Iterator, Literal, Mapping, Optional, Sequence, Union

__version__: str
DEFAULT_START_TIMESTAMP: str
DEFAULT_END_TIMESTAMP: str

_Path = Union[str, os.PathLike[str]]
_Types = Union[str, Sequence[str], None]
_Record = dict[str, Any]
# None or "auto": a tqdm bar on a terminal when tqdm is installed; False: none;
# a callable gets {"dids_total", "dids_done", "records", "bytes", ...}.
_Progress = Union[None, bool, Literal["auto"], Callable[[Mapping[str, Any]], None]]

class BackfillError(Exception): ...
class ConfigurationError(BackfillError): ...
class NetworkError(BackfillError): ...
class RepoVerificationError(BackfillError): ...

# **options of the run functions, by keyword (as `bsky-backfill run`'s flags):
# config: _Path, output: "sqlite" | "jsonl", output_dir: _Path, types: _Types,
# plc_url: str, concurrency: int, per_host_concurrency: int, verify_signatures: bool,
# format: "pipeline" | "raw", time_range_mode: "tag" | "filter".

def run_batched_backfill(
    dids: Sequence[str],
    batch_size: int = 50,
    start_timestamp: str = ...,
    end_timestamp: str = ...,
    progress: _Progress = None,
    **options: Any,
) -> dict[str, Any]: ...
def do_backfill_for_users(dids: Sequence[str], batch_size: int = 50, progress: _Progress = None, **options: Any) -> dict[str, dict[str, Any]]: ...
def do_backfill_for_user(did: str, **options: Any) -> dict[str, Any]: ...
def get_bsky_records_for_user(did: str, types: _Types = None, **options: Any) -> Iterator[_Record]: ...
def get_plc_directory_doc(did: str, **options: Any) -> dict[str, Any]: ...
def identify_record_type(record: Mapping[str, Any], collection: Optional[str] = None) -> str: ...
def identify_post_type(post: Mapping[str, Any]) -> str: ...
def validate_record_timestamp(record: Mapping[str, Any], start_timestamp: str = ..., end_timestamp: str = ...) -> bool: ...
def validate_record_type(record_type: str, types: Optional[Sequence[str]] = None) -> bool: ...
def assign_default_backfill_synctimestamp(timestamp: str) -> str: ...
def transform_backfilled_record(
    record: Mapping[str, Any],
    uri: str,
    cid: str,
    start_timestamp: str = ...,
    end_timestamp: str = ...,
    format: Literal["pipeline", "raw"] = "pipeline",
    rev: str = "",
) -> _Record: ...
def read_car(path: _Path, did: Optional[str] = None, key: Optional[str] = None, format: Literal["pipeline", "raw"] = "pipeline") -> Iterator[_Record]: ...
def read_queue(output_dir: _Path, record_type: str) -> Iterator[_Record]: ...

__all__ = [
    "BackfillError",
    "ConfigurationError",
    "NetworkError",
    "RepoVerificationError",
    "run_batched_backfill",
    "do_backfill_for_users",
    "do_backfill_for_user",
    "get_bsky_records_for_user",
    "get_plc_directory_doc",
    "identify_record_type",
    "identify_post_type",
    "validate_record_timestamp",
    "validate_record_type",
    "transform_backfilled_record",
    "assign_default_backfill_synctimestamp",
    "read_car",
    "read_queue",
]
