"""An S3 server of a test's own, to stop and start: never the shared one other tests use.

The shared start-s3.sh runs Swift s3api; with its own state folder and ports (S3_STATE_DIR,
S3_PORT, S3_BACKEND_PORT_BASE, S3_MEMCACHED_PORT) it starts a second, independent instance.
`crash()` kills that instance's S3 endpoint (the proxy) with SIGKILL, as a crash or a lost host
would; `start()` brings it back (the data on disk is kept).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.multinode.cluster import free_port, wait_until
from tests.s3_support import START_S3
from tests.support import skip_or_fail


def _free_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports (Swift's backends need three)."""
    for _ in range(50):
        base = free_port()
        if base + length > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + length):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise AssertionError("no run of free ports for the private S3 server")


class PrivateS3:
    ACCESS_KEY = "test:tester"
    SECRET_KEY = "testing"
    REGION = "us-east-1"

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "S3_STATE_DIR": str(state_dir),
            "S3_PORT": str(self.port),
            "S3_BACKEND_PORT_BASE": str(_free_run(3)),
            "S3_MEMCACHED_PORT": str(free_port()),
        }
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(START_S3), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def start(self) -> None:
        if not START_S3.is_file():
            skip_or_fail(f"S3 server script not found: {START_S3}")
        result = self._script()
        if result.returncode != 0:
            skip_or_fail(f"private S3 server did not start: {result.stderr[-800:]}")

    def answers(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def crash(self) -> None:
        """SIGKILL the S3 endpoint (the proxy); returns once its port refuses connections."""
        pid = int((self.state_dir / "run" / "proxy.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.answers(), 10, "the killed S3 proxy to stop answering")

    def stop(self) -> None:
        self._script("stop", timeout=60)
