"""Fixtures for the bsky_backfill module's tests: the fixture CARs, the real
CLI and a loopback fake PDS + PLC directory (tests/support/fake_pds_main.cpp),
passed in by CTest through the environment."""
import os
import subprocess
import time

import pytest

FIXTURES = os.environ.get("BSKY_FIXTURES_DIR", "/work/shared/fixtures")
CLI = os.environ.get("BSKY_CLI")
FAKE_PDS = os.environ.get("BSKY_FAKE_PDS")


@pytest.fixture
def fake_pds(tmp_path):
    """Serves N copies of little.car (278 records each, or the CAR given) under distinct DIDs; yields (config, dids)."""
    def start(count, broken_every=0, car=None):
        if not FAKE_PDS:
            pytest.skip("BSKY_FAKE_PDS not set")
        port_file, dids_file = tmp_path / "port", tmp_path / "dids"
        proc = subprocess.Popen([FAKE_PDS, car or f"{FIXTURES}/cars/repo-stream__little.car", str(count), str(port_file),
                                 str(dids_file), str(broken_every)])
        started.append(proc)
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip() and dids_file.exists():
                break
            time.sleep(0.05)
        port = port_file.read_text().strip()
        config = tmp_path / "config.yaml"
        config.write_text(f"""plc_url: http://127.0.0.1:{port}
allow_private_addresses: true
verify_signatures: false
retries: {{max_attempts: 2, backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}}
time_range: {{start: 2000-01-01-00:00:00, end: 2100-01-01-00:00:00}}
""")
        return str(config), dids_file.read_text().split()
    started = []
    yield start
    for proc in started:
        proc.kill()
        proc.wait()
