"""State a process keeps for itself must not split a deployment: the generated secret key."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.multinode.cluster import ROOT

ROUNDS = 100
# Each process takes part in ROUNDS races: at the same moments, all of them load the secret key
# of a fresh instance folder (as gunicorn's workers and an RQ worker do when they start
# together), and print what they got, one line per round.
RACE = """
import os, sys, time
base, rounds, folder = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
from pathlib import Path
from portal.config import _secret_key
for n in range(rounds):
    time.sleep(max(0.0, base + n * 0.02 - time.time()))
    print(_secret_key(Path(folder, str(n))))
"""


@pytest.mark.long(seconds=5)
def test_processes_starting_together_share_one_generated_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_REDIS_URL", raising=False)
    for n in range(ROUNDS):
        (tmp_path / str(n)).mkdir()
    base = str(time.time() + 3)  # imports take a while: start once all are surely ready
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, base, str(ROUNDS), str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [proc.communicate(timeout=120)[0].split("\n")[:ROUNDS] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    for n in range(ROUNDS):
        stored = (tmp_path / str(n) / "secret_key").read_text().strip()
        assert {lines[n] for lines in outputs} == {stored}, f"round {n}: keys differ"
        assert len(stored) >= 32
        assert (tmp_path / str(n) / "secret_key").stat().st_mode & 0o077 == 0
        assert [p.name for p in (tmp_path / str(n)).iterdir()] == ["secret_key"]
