"""The processes below a process, from /proc: what a stop must reach beyond a process group.

An RQ worker forks a work horse per job, and RQ puts the horse in a process group of its own
(setpgrp), so a signal to the worker's group does not reach it: a horse that outlives its killed
worker goes on running its job against the Redis database and schema the worker had, which the
next user of that database then finds written to. The stack of `python -m bench` and the tests'
clusters record a worker's descendants before stopping it and kill any still there after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def _stat_fields(pid: int) -> list[str]:
    # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after its ")".
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def children_of(pid: int) -> list[int]:
    """The pids whose parent is pid (a gunicorn master's workers, a worker's horse)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(_stat_fields(int(stat.parent.name))[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def start_time(pid: int) -> int | None:
    """A process's start time (clock ticks since boot), None when it is gone: with the pid it
    names one process, whatever reuses the pid later."""
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def descendants(pid: int) -> set[tuple[int, int]]:
    """Every process below pid, as (pid, start time)."""
    found: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        for child in children_of(todo.pop()):
            started = start_time(child)
            if started is not None and (child, started) not in found:
                found.add((child, started))
                todo.append(child)
    return found


def kill_left(processes: set[tuple[int, int]]) -> int:
    """SIGKILL those of `processes` (descendants() taken earlier) still running; how many."""
    killed = 0
    for pid, started in processes:
        if start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything below it, as a crash ends a machine's worker and its
    work horse. The process is stopped (SIGSTOP) before its tree is recorded, so it forks no
    child between the record and the kill; its children are re-parented once it is dead,
    hence the record. Only the processes recorded are signalled (kill_left)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGSTOP)
    below = descendants(process.pid)
    process.kill()
    kill_left(below)
