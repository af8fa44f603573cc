"""A redis-server of a test's own (append-only file on), on a free port, to kill and restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support import skip_or_fail


class OwnRedis:
    """redis-server with appendonly yes in `folder`; appendfsync `no` (docs/deploy.md),
    `everysec` or `always`."""

    def __init__(self, folder: Path, fsync: str = "no"):
        try:
            subprocess.run(["redis-server", "--version"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            skip_or_fail(f"redis-server not available: {exc}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = folder
        self.fsync = fsync
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it and return once it answers (the AOF loaded)."""
        from redis import Redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", self.fsync, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(self.url).ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (as `systemctl stop redis`)."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)
        self.process = None
