"""The loopback S3 server of ../shared/s3 (start-s3.sh), started under the machine's one lock.

scripts/test starts the server in the background (`flock -o` on START_LOCK, scripts/_setup.sh)
while the SQLite pass already runs; the tests (tests/s3_support.py) and the bench
(bench/stack.py) run start-s3.sh through run_start_s3, which takes the same lock first.
start-s3.sh restarts a server it finds half up, so two starts at once could stop each other's.
One lock for the machine, as the server is one (start-s3.sh's S3_STATE_DIR).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_S3 = Path(__file__).resolve().parents[2] / "shared" / "s3" / "start-s3.sh"
START_LOCK = Path((os.environ.get("S3_STATE_DIR") or "/tmp/s3-swift") + ".lock")  # noqa: S108 (start-s3.sh's own default)
START_WAIT_S = 600.0


class S3ServerError(Exception):
    """The server could not be started or asked (the message says why)."""


@contextmanager
def start_lock() -> Iterator[None]:
    """START_LOCK held, waiting at most START_WAIT_S; without a lock file (not writable here)
    the start goes ahead as it did before the lock."""
    try:
        fd = os.open(START_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + START_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise S3ServerError(
                        f"S3 server: {START_LOCK} still held after {START_WAIT_S:.0f} s"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # the lock goes with it


def run_start_s3(*args: str, timeout: float = 600) -> str:
    """`bash start-s3.sh ARGS` under the lock (no ARGS: start the server if it is not up,
    `env`: its settings as shell exports); its output."""
    if not START_S3.is_file():
        raise S3ServerError(f"S3 server script not found: {START_S3}")
    command = f"bash {START_S3} {' '.join(args)}".strip()
    try:
        with start_lock():
            proc = subprocess.run(
                ["bash", str(START_S3), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise S3ServerError(f"S3 server: `{command}` did not finish in {timeout:.0f} s") from None
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-2000:]
        raise S3ServerError(f"S3 server: `{command}` failed: {output}")
    return proc.stdout
