"""P11: how soon acknowledged reports are stored after a Redis kill -9, under the P2 load.

The run gets a redis-server of its own (appendonly yes, appendfsync no as docs/deploy.md
recommends: with everysec a kill -9 can lose acknowledged reports; in the run's folder), since
the shared one cannot be killed: so P11 must be the first figure of its run
(`python -m bench --only P11`), before the server and workers start on the shared Redis.

A warm-up, then `--runs` pairs (default 3; X is the median of the fault runs' values, Y of the
baselines', each taken on its own: how big a backlog the load leaves varies by thousands of
reports from run to run) of the P2 load (bench/lua/ingest.lua, one
report per batch, for `duration` s):
- baseline: no fault. Y = from the middle of the load (plus the outage's length, the same mark
  as the fault run's) to the last acknowledged report stored: the drain of the same backlog;
- fault: Redis killed with -9 in the middle of the load and started again OUTAGE_S later (the
  AOF brings the stream back); X = from Redis answering again to the last acknowledged report
  stored. Goal: X ≤ 10 s.
Both count the stored page.viewed events against the acknowledged (202) reports: none may be
missing. A fault run may store a few more than were acknowledged: a report Redis took (and its
AOF kept) just before the kill, whose answer the kill cut off (the client saw a 503). Twice is
impossible: every report has a key of its own, and keys are unique in the events table.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from bench import wrk
from bench.own_redis import OwnRedis
from bench.p2_ingest import PAGES, _stored, sessions
from bench.report import Figure, median
from bench.settings import Settings
from bench.stack import Stack, StackError

log = logging.getLogger("bench")
OUTAGE_S = 1.0


def _last_stored(stack: Stack, expected: int, timeout: float) -> tuple[int, float]:
    """Poll until `expected` reports are stored: (stored, the monotonic time it was seen)."""
    deadline = time.monotonic() + timeout
    while True:
        stored = _stored(stack)
        seen = time.monotonic()
        if stored >= expected or seen > deadline:
            return stored, seen
        time.sleep(0.1)


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    if stack.server_pid() is not None:
        raise StackError("P11 needs a Redis of its own: run it alone (python -m bench --only P11)")
    redis = OwnRedis(stack.workdir / "p11-redis")  # appendfsync no, as recommended
    redis.start()
    shared = stack.env.get("PORTAL_REDIS_URL")
    stack.env["PORTAL_REDIS_URL"] = os.environ["PORTAL_REDIS_URL"] = redis.url
    try:
        return _measure(stack, settings, redis)
    finally:
        redis.kill()
        if shared:  # the stack flushes the shared database it claimed when it stops
            stack.env["PORTAL_REDIS_URL"] = os.environ["PORTAL_REDIS_URL"] = shared


def _measure(stack: Stack, settings: Settings, redis: OwnRedis) -> list[Figure]:
    tokens = sessions(stack, settings)
    base = stack.server()
    token_file = stack.workdir / "p11-tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    phase = max(settings.load.duration, 6.0)
    load = wrk.Load(settings.load.threads, settings.load.connections, phase + 2)

    def one_run(tag: str, fault: bool) -> tuple[float, int, int]:
        """(seconds from the mark to the last acknowledged report stored, acked, stored)."""
        before = _stored(stack)
        marks: dict[str, float] = {}

        def inject() -> None:
            time.sleep(phase / 2)
            if fault:
                redis.kill()
                time.sleep(OUTAGE_S)
                marks["back"] = redis.start()
            else:
                time.sleep(OUTAGE_S)
                marks["back"] = time.monotonic()

        injector = threading.Thread(target=inject, daemon=True)
        injector.start()
        result = wrk.run(
            base, load, "ingest.lua", [str(token_file), str(phase), tag, str(PAGES), "/t/r"]
        )
        injector.join(60)
        acked = int(result.extra.get("acked", 0))
        stored, seen = _last_stored(stack, before + acked, settings.p2_drain_timeout)
        waited = seen - marks["back"]
        log.info(
            "P11 %s: %d acked, %d refused, %d stored; last stored %.1f s after the mark",
            {"p11w": "warm-up", "p11b": "baseline", "p11k": "fault"}[tag[:4]],
            acked,
            int(result.extra.get("failed", 0)),
            stored - before,
            waited,
        )
        return waited, acked, stored - before

    one_run("p11w", False)  # warm-up: the workers' first drains, connection pools
    baselines, faults = [], []
    for n in range(settings.runs):  # pairs: the load's backlog varies from run to run
        baselines.append(one_run(f"p11b{n}", False))
        faults.append(one_run(f"p11k{n}", True))
    baseline = median([b[0] for b in baselines])
    after_kill = median([f[0] for f in faults])

    def runs(pairs: list[tuple[float, int, int]]) -> str:
        return ", ".join(f"{s:.1f} s ({a} acked, {st} stored)" for s, a, st in pairs)

    return [
        Figure(
            key="P11",
            name="P11 drain after a Redis kill s",
            value=after_kill,
            baseline=baseline,
            measures=(
                f"P2 load ({phase:.0f} s of `POST /t/r`), Redis (own, AOF, appendfsync no) "
                f"kill -9 in the middle and started {OUTAGE_S:.0f} s later: seconds from Redis "
                "answering again to the last acknowledged report stored"
            ),
            baseline_is=(
                "the same load without a fault: seconds from the same mark to the last "
                "acknowledged report stored"
            ),
            goal="value ≤ 10 s",
            note=(
                f"median of {settings.runs} pairs; fault runs: {runs(faults)}; "
                f"baselines: {runs(baselines)}"
            ),
        )
    ]
