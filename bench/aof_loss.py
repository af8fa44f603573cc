"""Acknowledged Redis writes lost on a kill -9, per `appendfsync` policy (docs/deploy.md, Redis).

`python -m bench.aof_loss [--policies no,everysec,always] [--trials 3] [--seconds 4]
[--busy-disk]`

Each trial starts a redis-server of its own (appendonly yes, the policy, a folder of its own in
a new folder made inside --folder or the temporary folder, removed after), has `--clients`
threads XADD entries with names of their own, each remembered once Redis has answered, kills
Redis with -9 after `--seconds`, starts it again on the same folder and counts the answered
entries the stream no longer holds. `--busy-disk` keeps the disk busy meanwhile (stress-ng
--hdd, in the folder), the condition under which `everysec` answers writes that are not yet in
the file. The ingest stream (portal.tracking.ingest_queue) trusts exactly this: an entry Redis
answered is in its file.

Prints one line per trial: policy, entries answered, entries lost.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.own_redis import OwnRedis

STREAM = "aof-loss"


def trial(policy: str, folder: Path, seconds: float, clients: int) -> tuple[int, int]:
    """(entries Redis answered, of those the ones missing after the kill and restart)."""
    from redis import Redis

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    server = OwnRedis(folder, policy)
    server.start()
    answered: list[str] = []
    stop = threading.Event()

    def write(number: int) -> None:
        client = Redis(port=server.port)
        count = 0
        while not stop.is_set():
            name = f"{number}-{count}"
            try:
                client.xadd(STREAM, {"k": name})
            except Exception:
                return  # the kill: this one was never answered
            answered.append(name)
            count += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(clients)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    try:
        server.start()
        client = Redis(port=server.port)
        kept = {fields[b"k"].decode() for _id, fields in client.xrange(STREAM)}
    finally:
        server.kill()
    return len(answered), sum(1 for name in answered if name not in kept)


@contextmanager
def busy_disk(folder: Path, on: bool) -> Iterator[None]:
    """stress-ng writing and syncing files in `folder` (on the disk the AOF is on)."""
    if not on:
        yield
        return
    if shutil.which("stress-ng") is None:
        sys.exit("--busy-disk needs stress-ng (apt-get install stress-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    stress = subprocess.Popen(
        ["stress-ng", "--hdd", "2", "--hdd-bytes", "512M", "--timeout", "3600s"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        yield
    finally:
        stress.terminate()
        stress.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aof_loss", description=__doc__)
    parser.add_argument("--policies", default="no,everysec,always")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--busy-disk", action="store_true")
    parser.add_argument(
        "--folder",
        type=Path,
        help="a folder on the disk to measure (a new folder is made in it, and removed)",
    )
    args = parser.parse_args(argv)
    # always a new folder of our own (inside --folder when given): only it is removed after
    work = Path(tempfile.mkdtemp(prefix="portal-aof-loss-", dir=args.folder))
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    try:
        with busy_disk(work / "stress", args.busy_disk):
            for policy in args.policies.split(","):
                for _ in range(args.trials):
                    answered, lost = trial(policy, work / policy, args.seconds, args.clients)
                    print(f"{policy}: {answered} answered, {lost} lost", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
