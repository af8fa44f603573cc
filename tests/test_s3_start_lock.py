"""scripts/test starts the shared S3 server in the background holding a lock that the tests take
before they run start-s3.sh themselves (tests/s3_support.py): the lock must end with the start,
not live on in the servers the start script leaves running, or every S3 test would wait for it
(for ever, before the wait had a bound)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from tests import s3_support, support

ROOT = Path(__file__).resolve().parents[1]


def _free(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_the_lock_is_free_once_the_start_script_returns(tmp_path: Path):
    lock = tmp_path / "s3.lock"
    script = tmp_path / "start.sh"
    # as start-s3.sh does: servers started with nohup … &, still running when it returns
    script.write_text('nohup sleep 60 >/dev/null 2>&1 &\necho $! > "$(dirname "$0")/server.pid"\n')
    subprocess.run(
        ["bash", "-c", f'source scripts/_setup.sh; portal_start_s3 "{lock}" "{script}"'],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    server = int((tmp_path / "server.pid").read_text())
    try:
        os.kill(server, 0)  # the "server" still runs ...
        assert _free(lock), "the server the start script left running holds the lock"
    finally:
        os.kill(server, 9)


def test_a_test_waits_for_the_lock_at_most_its_bound(tmp_path: Path, monkeypatch):
    lock = tmp_path / "s3.lock"
    monkeypatch.setattr(s3_support, "START_LOCK", lock)
    monkeypatch.setattr(s3_support, "START_WAIT_S", 0)
    monkeypatch.setattr(support, "IN_CI", False)  # skip_or_fail: a skip, not CI's failure
    holder = os.open(lock, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(pytest.skip.Exception, match="still held"), s3_support._start_lock():
            pass
    finally:
        os.close(holder)
    with s3_support._start_lock():  # free again: taken at once
        assert not _free(lock)
