"""The Redis setting docs/deploy.md recommends for the ingest stream keeps what it answered.

With `appendonly yes` and `appendfsync no`, Redis writes a command to its file before it
answers (the kernel holds the page), so a kill -9 loses no answered write. bench.aof_loss, the
tool behind the figures in docs/deploy.md, runs one trial here: it would find every entry lost
if the AOF were off or not read back, and some lost under `everysec` on a lagging disk (not
asserted: that needs the disk to lag).
"""

from __future__ import annotations

import shutil

import pytest

from bench import aof_loss
from bench.own_redis import OwnRedis
from tests.support import skip_or_fail


@pytest.fixture(autouse=True)
def _redis_server():
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server not installed")


def test_a_kill_9_loses_no_answered_write_with_appendfsync_no(tmp_path):
    answered, lost = aof_loss.trial("no", tmp_path / "redis", seconds=1.0, clients=4)
    assert answered > 100
    assert lost == 0


def test_the_trial_sees_a_loss(tmp_path, monkeypatch):
    """Without the AOF (what it exists to catch), the same trial counts every entry lost."""

    class WithoutAof(OwnRedis):
        def __init__(self, folder, fsync):
            super().__init__(folder, fsync, extra_args=("--appendonly", "no"))

    monkeypatch.setattr(aof_loss, "OwnRedis", WithoutAof)
    answered, lost = aof_loss.trial("no", tmp_path / "redis", seconds=0.5, clients=2)
    assert answered > 0
    assert lost == answered
