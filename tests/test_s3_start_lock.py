"""scripts/test starts the shared S3 server in the background holding a lock that the tests and
the bench take before they run start-s3.sh themselves (bench/s3_server.py): the lock must end
with the start, not live on in the servers the start script leaves running, or every S3 test
would wait for it (for ever, before the wait had a bound)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from bench import s3_server
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


def _never_run(folder: Path) -> Path:
    """A start script of the test's own (the shared one may be absent: the lock is what is
    tested), which fails loudly if it ever runs."""
    script = folder / "start-s3.sh"
    script.write_text("echo 'ran without the lock' >&2; exit 3\n")
    return script


def test_a_start_waits_for_the_lock_at_most_its_bound(tmp_path: Path, monkeypatch):
    lock = tmp_path / "s3.lock"
    monkeypatch.setattr(s3_server, "START_LOCK", lock)
    monkeypatch.setattr(s3_server, "START_WAIT_S", 0)
    monkeypatch.setattr(s3_server, "START_S3", _never_run(tmp_path))
    monkeypatch.setattr(support, "IN_CI", False)  # skip_or_fail: a skip, not CI's failure
    holder = os.open(lock, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(s3_server.S3ServerError, match="still held"), s3_server.start_lock():
            pass
        # a test is skipped with the reason (failed under CI), and start-s3.sh never runs
        with pytest.raises(pytest.skip.Exception, match="still held"):
            s3_support.run_start_s3("env")
    finally:
        os.close(holder)
    with s3_server.start_lock():  # free again: taken at once
        assert not _free(lock)


def test_the_bench_starts_the_server_under_the_same_lock(tmp_path: Path, monkeypatch):
    """bench/stack.py's S3 settings come through run_start_s3: a held lock stops it too."""
    from bench.stack import StackError, _s3_env

    lock = tmp_path / "s3.lock"
    monkeypatch.setattr(s3_server, "START_LOCK", lock)
    monkeypatch.setattr(s3_server, "START_WAIT_S", 0)
    monkeypatch.setattr(s3_server, "START_S3", _never_run(tmp_path))
    holder = os.open(lock, os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(StackError, match="still held"):
            _s3_env()
    finally:
        os.close(holder)
