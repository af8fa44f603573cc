"""A redis-server of a test's own (append-only file on), on a free port, to kill and restart:
bench.own_redis's, skipped (failed under CI) where redis-server is missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.own_redis import OwnRedis as _OwnRedis
from tests.support import skip_or_fail


class OwnRedis(_OwnRedis):
    def __init__(self, folder: Path, fsync: str = "no"):
        try:
            subprocess.run(["redis-server", "--version"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            skip_or_fail(f"redis-server not available: {exc}")
        super().__init__(folder, fsync, start_timeout=10.0)
