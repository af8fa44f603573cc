"""A redis-server of our own, append-only file on, on a free port: to kill and start again.

P11 (bench/p11_recovery.py), bench.aof_loss and the fault tests (tests/faults/own_redis.py)
kill Redis on purpose, which the shared server must never be.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from bench.stack import free_port


class OwnRedis:
    """redis-server with appendonly yes and appendfsync `fsync` (docs/deploy.md recommends
    `no`), its files in `folder`."""

    def __init__(
        self,
        folder: Path,
        fsync: str = "no",
        start_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ):
        self.port = free_port()
        self.extra_args = extra_args  # more redis-server options (the last of a name wins)
        self.folder = folder
        self.fsync = fsync
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; the monotonic time it first answered (the AOF loaded). TimeoutError if it
        does not answer within start_timeout."""
        from redis import Redis

        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", self.fsync, "--dir", str(self.folder),
             *self.extra_args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + self.start_timeout
        try:
            while True:
                try:
                    client.ping()
                    return time.monotonic()
                except Exception:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"redis-server on {self.port} did not answer") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final write."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (as `systemctl stop redis`)."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(30)
            self.process = None
