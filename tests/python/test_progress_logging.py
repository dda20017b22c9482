"""Progress (a callback, or tqdm), logging through Python's `logging`, and a
large repo streamed by get_bsky_records_for_user in bounded memory."""
import logging
import os
import subprocess
import sys
import textwrap

import bsky_backfill as bb

HERE = os.path.dirname(os.path.abspath(__file__))


def test_progress_callback_sees_every_did(fake_pds, tmp_path):
    config, dids = fake_pds(5)
    seen = []
    result = bb.run_batched_backfill(dids, batch_size=2, config=config, output_dir=tmp_path / "out", progress=seen.append)
    assert len(result["did_to_backfill_counts_map"]) == 5
    assert seen, "the callback was never called"
    assert [p["dids_done"] for p in seen] == sorted(p["dids_done"] for p in seen)
    last = seen[-1]
    assert last["dids_total"] == 5 and last["dids_done"] == 5, last
    assert last["records"] == sum(sum(c.values()) for c in result["did_to_backfill_counts_map"].values()), last
    assert last["bytes"] > 0


def test_progress_with_tqdm_when_asked(fake_pds, tmp_path, capsys):
    config, dids = fake_pds(3)
    bb.run_batched_backfill(dids, config=config, output_dir=tmp_path / "out", progress=True)
    err = capsys.readouterr().err
    assert "backfill" in err and "3/3" in err, err[-500:]


def test_log_lines_go_to_python_logging(fake_pds, tmp_path, caplog):
    config, dids = fake_pds(2)
    with caplog.at_level(logging.INFO, logger="bsky_backfill"):
        outcome = bb.do_backfill_for_user(dids[0], config=config, output_dir=tmp_path / "out")
    assert outcome["status"] == "done"
    mine = [r for r in caplog.records if r.name == "bsky_backfill"]
    assert any(dids[0] in r.getMessage() and "done" in r.getMessage() and r.levelno == logging.INFO for r in mine), \
        [r.getMessage() for r in mine]


def test_a_large_repo_streams_in_bounded_memory(fake_pds, tmp_path):
    """200,000 records (about 68 MB of CAR): the iterator's peak RSS must stay far
    below the repo's size. Measured in a fresh interpreter, as its peak RSS since
    the module was imported: getrusage's ru_maxrss there would start at pytest's
    own peak (Linux keeps it across fork and exec), so the child resets its
    high-water mark (/proc/self/clear_refs) and reads VmHWM instead."""
    car = tmp_path / "big.car"
    gen = subprocess.run([sys.executable, os.path.join(HERE, "..", "support", "big_repo_car.py"), str(car), "200000"],
                         capture_output=True, text=True, cwd=os.path.join(HERE, "..", "support"))
    assert gen.returncode == 0, gen.stderr
    car_bytes = car.stat().st_size
    config, dids = fake_pds(1, car=str(car))
    with open(config, "a") as f:
        f.write("limits: {spill_threshold_bytes: 4MiB}\n")
    script = textwrap.dedent(f"""
        import bsky_backfill as bb
        def peak_kb():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        open("/proc/self/clear_refs", "w").write("5")  # the high-water mark starts again from now
        before = peak_kb()
        n = 0
        for record in bb.get_bsky_records_for_user({dids[0]!r}, config={config!r}):
            n += 1
        print(n, before, peak_kb())
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    n, before_kb, after_kb = map(int, run.stdout.split())
    assert n == 200000
    grown = (after_kb - before_kb) * 1024
    print(f"peak RSS grew {grown / 1e6:.1f} MB over {car_bytes / 1e6:.1f} MB of CAR")
    assert grown < car_bytes / 3, f"peak RSS grew {grown / 1e6:.1f} MB for a {car_bytes / 1e6:.1f} MB repo"
