"""A stopped process leaves nothing running below it, even a child in a process group of its own
(as RQ puts each work horse): a horse that outlived its worker went on draining the Redis database
the next test claimed (bench.processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.processes import descendants, kill_left, kill_tree, start_time
from tests.multinode.cluster import Proc, wait_until

# The parent forks a child that leaves the parent's process group (os.setpgrp, as RQ's
# fork_work_horse does), writes its pid, and sleeps; the parent ignores SIGTERM for a
# while, as a worker in a warm shutdown waits for its horse.
PARENT = """
import os, signal, sys, time
child = os.fork()
if child == 0:
    os.setpgrp()
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(600)
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(600)
"""


def test_stop_kills_a_child_that_left_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "horse.pid"
    proc = Proc("parent", [sys.executable, "-c", PARENT, str(pid_file)], dict(os.environ), tmp_path)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the child to start")
        horse = int(pid_file.read_text())
        assert os.getpgid(horse) != os.getpgid(proc.process.pid)  # out of the group's reach
        assert horse in {pid for pid, _started in descendants(proc.process.pid)}
        proc.stop(timeout=1)
        wait_until(lambda: start_time(horse) is None or _zombie(horse), 10, "the child to die")
    finally:
        proc.stop(timeout=1)
    assert not proc.alive()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_a_pid_is_killed_only_while_it_names_the_process_recorded() -> None:
    """kill_left() kills (pid, start time) pairs: a pid reused by another process since (here:
    the same pid with another start time) is left alone."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        started = start_time(sleeper.pid)
        assert started is not None
        assert kill_left({(sleeper.pid, started + 1)}) == 0
        assert sleeper.poll() is None
        assert kill_left({(sleeper.pid, started)}) == 1
        assert sleeper.wait(10) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait(10)
    assert start_time(2**22 + 1) is None  # above pid_max: no such process


def test_kill_tree_kills_a_child_that_left_the_process_group(tmp_path: Path) -> None:
    """kill -9 of a worker and its work horse (tests/faults): the horse dies too, and the
    worker (which ignores SIGTERM here) is gone by SIGKILL."""
    pid_file = tmp_path / "horse.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)])
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the child to start")
        horse = int(pid_file.read_text())
        kill_tree(parent)
        assert parent.wait(10) == -signal.SIGKILL
        wait_until(lambda: start_time(horse) is None or _zombie(horse), 10, "the child to die")
    finally:
        parent.kill()
        parent.wait(10)
