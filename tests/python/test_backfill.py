"""run_batched_backfill / do_backfill_* / get_bsky_records_for_user against the
loopback fake PDS, compared with the real CLI's output for the same input."""
import _thread
import json
import os
import subprocess
import threading
import sys
import time

import pytest

import bsky_backfill as bb
import conftest


def test_run_batched_backfill_equals_cli_json(fake_pds, tmp_path):
    config, dids = fake_pds(300, broken_every=50)
    dids = dids + ["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "not-a-did"]
    cli = subprocess.run([conftest.CLI, "run", "--dids", ",".join(dids), "--config", config, "--output-dir",
                          str(tmp_path / "cli"), "--batch-size", "40"], capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr[-2000:]
    expected = json.loads(cli.stdout)
    got = bb.run_batched_backfill(dids, batch_size=40, start_timestamp="2000-01-01-00:00:00",
                                  end_timestamp="2100-01-01-00:00:00", config=config, output_dir=str(tmp_path / "py"))
    assert got == expected
    assert got["total_batches"] == 8 and len(got["did_to_backfill_counts_map"]) == 294
    likes = list(bb.read_queue(str(tmp_path / "py"), "like"))
    assert len(likes) == sum(c.get("like", 0) for c in got["did_to_backfill_counts_map"].values())
    assert len({r["uri"] for r in likes}) == len(likes)


def test_do_backfill_for_user_and_users(fake_pds, tmp_path):
    config, dids = fake_pds(6, broken_every=3)
    one = bb.do_backfill_for_user(dids[0], config=config, output_dir=str(tmp_path / "out"))
    assert one["status"] == "done" and sum(one["counts"].values()) + one["skipped"] + one["invalid"] == 278
    many = bb.do_backfill_for_users(dids, config=config, output_dir=str(tmp_path / "out"), output="jsonl")
    assert [many[d]["status"] for d in dids] == ["done", "done", "failed"] * 2
    assert "stream ends" in many[dids[2]]["error"]
    with pytest.raises(bb.ConfigurationError, match="output must be"):
        bb.do_backfill_for_user(dids[0], config=config, output="kafka")


def test_keyboard_interrupt_stops_and_a_second_call_resumes_exactly_once(fake_pds, tmp_path):
    config, dids = fake_pds(300)
    out = str(tmp_path / "out")
    calls = []

    def interrupt_on_first_report(p):
        calls.append(p)
        if len(calls) == 1:
            _thread.interrupt_main()  # as Ctrl-C: from outside the run, to the main thread
    with pytest.raises(KeyboardInterrupt):
        bb.run_batched_backfill(dids, batch_size=50, config=config, output_dir=out, concurrency=1, per_host_concurrency=1,
                                progress=interrupt_on_first_report)
    assert 0 < calls[0]["dids_done"] < 300, calls[0]
    checker = os.path.join(os.path.dirname(__file__), "..", "cli", "check_exactly_once.py")
    result = bb.run_batched_backfill(dids, batch_size=50, config=config, output_dir=out)
    assert len(result["did_to_backfill_counts_map"]) == 300 and not result["failed"]
    per_did = {sum(c.values()) for c in result["did_to_backfill_counts_map"].values()}
    assert len(per_did) == 1
    check = subprocess.run([sys.executable, checker, out, "sqlite", str(per_did.pop()), "--final", "300", "0"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_get_bsky_records_for_user_streams(fake_pds):
    config, dids = fake_pds(2)
    records = list(bb.get_bsky_records_for_user(dids[0], config=config))
    assert len(records) == 278 and all(r["author"] == dids[0] for r in records)
    assert list(bb.get_bsky_records_for_user(dids[0], config=config, types=["like"])) == [r for r in records if r["record_type"] == "like"]
    with pytest.raises(bb.NetworkError):
        list(bb.get_bsky_records_for_user("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", config=config))
    doc = bb.get_plc_directory_doc(dids[0], config=config)
    assert doc["id"] == dids[0]
