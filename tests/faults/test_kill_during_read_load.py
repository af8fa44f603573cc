"""Issue 6, item 2: `kill -9` a gunicorn worker and the RQ worker during a read-report load;
every report acknowledged with a 2xx is stored, exactly once.

A real deployment on PostgreSQL and Redis (a schema and a Redis database of the test's own):
gunicorn (gthread, 2 worker processes) and `flask --app wsgi worker`. Threads post read-report
batches (each report with a key of its own) for a few real view sessions. Mid-load, while the
RQ worker runs a job, one gunicorn worker process and the RQ worker with its work-horse get
SIGKILL; a new RQ worker is started and the load goes on. Then, once the queue has drained
(bounded poll): every acknowledged report is stored, and no report is stored twice.

With Redis, /t/r acknowledges (202) once the batch is in the Redis stream and an RQ job applies
it (portal.tracking.ingest_queue: entries a killed job had read are re-claimed); without the
queue it answers 200 after the commit. The test holds for both: it counts what is stored.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.processes import children_of, kill_tree
from tests.multinode.cluster import (
    Browser,
    Proc,
    portal_env,
    prepare_database,
    private_redis,
    private_schema,
    start_node,
    start_worker,
    stop_all,
    wait_until,
)

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
if not PG_URL.startswith("postgresql"):
    pytest.skip(
        "gunicorn workers and an RQ worker need a server database: this runs in the "
        "PostgreSQL pass (PORTAL_TEST_DATABASE_URL=postgresql+psycopg://…)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "faults-pass-1"
REP = "rep@example.com"
MARKETING = "mkt@example.com"
READERS = 6  # threads posting batches
REPORTS_PER_BATCH = 2
DOCUMENT = (
    "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'></head><body>"
    "<section style='break-after: page'><h1>报价</h1><p>{{ customer.name }}</p></section>"
    "<section><h2>价格</h2><p>标准版 ¥98,000 / 年</p></section></body></html>"
)


@dataclass
class Deployment:
    base: str
    env: dict[str, str]
    engine: sa.Engine
    redis_url: str
    workdir: Path
    node: Proc
    procs: list[Proc]  # every process started: stopped by pid at the end
    rq: list[Proc] = field(default_factory=list)  # the RQ workers, in the order started
    tokens: dict[str, str] = field(default_factory=dict)

    def start_rq_worker(self, *args: str) -> Proc:
        proc = start_worker(f"rq-{len(self.rq)}", self.env, self.workdir, "--no-tick", *args)
        self.procs.append(proc)
        self.rq.append(proc)
        return proc

    def api(self, who: str, method: str, path: str, **kwargs) -> dict:
        client = Browser(headers={"Authorization": f"Bearer {self.tokens[who]}"})
        response = client.request(method, self.base + path, **kwargs)
        assert 200 <= response.status < 300, f"{method} {path}: {response.status} {response.data!r}"
        return json.loads(response.data)

    def scalar(self, query: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with ExitStack() as stack:
        database_url = stack.enter_context(private_schema(PG_URL, "faults_ingest"))
        redis_url = stack.enter_context(private_redis())
        env = portal_env(
            tmp_path,
            database_url=database_url,
            redis_url=redis_url,
            PORTAL_BASE_URL="http://portal.example",
            PORTAL_TICK_INTERVAL="0",
            PORTAL_TRACKING_RATE_LIMIT="1000000/minute",
            PORTAL_EVENTS_RATE_LIMIT="1000000/minute",
        )
        staff = ((REP, "rep", ()), (MARKETING, "marketing", ()))
        tokens = prepare_database(env, staff, password=PASSWORD, tokens_for=(REP, MARKETING))
        engine = sa.create_engine(database_url)
        stack.callback(engine.dispose)
        procs: list[Proc] = []
        stack.callback(stop_all, procs)  # every process, before the schema is dropped
        node, base = start_node("node", env, tmp_path)
        procs.append(node)
        run = Deployment(base, env, engine, redis_url, tmp_path, node, procs, tokens=tokens)
        run.start_rq_worker()
        yield run


def job_running(redis_url: str) -> bool:
    from redis import Redis
    from rq import Queue

    return Queue("portal", connection=Redis.from_url(redis_url)).started_job_registry.count > 0


def view_sessions(run: Deployment) -> list[str]:
    """Two deliveries, rendered by the worker, each opened twice: four ingest tokens."""
    template = run.api(
        MARKETING,
        "POST",
        "/api/v1/templates",
        fields={
            "file": ("doc.html", DOCUMENT.encode(), "text/html"),
            "name": "报价单",
            "kind": "quote",
            "changelog": "v1",
        },
    )
    customer = run.api(REP, "POST", "/api/v1/customers", json={"name": "张伟", "company": "华东"})
    sent = [
        run.api(
            REP,
            "POST",
            "/api/v1/deliveries",
            json={"customer_id": customer["id"], "template_id": template["id"]},
        )
        for _ in range(2)
    ]
    wait_until(
        lambda: run.scalar("SELECT count(*) FROM deliveries WHERE render_status = 'ready'") == 2,
        60,
        "both deliveries rendered by the worker",
    )
    tokens = []
    reader = Browser()
    for delivery in sent * 2:
        path = re.search(r"/d/[^/?#]+", delivery["url"]).group(0)
        page = reader.get(run.base + path)
        assert page.status == 200, page.data[:500]
        match = re.search(r'data-ingest-token="([^"]+)"', page.data.decode())
        assert match, page.data[:2000]
        tokens.append(match.group(1))
        # the viewer confirms the open once a page shows (a fetch alone is a preview, and an
        # unconfirmed session's reports are refused)
        confirmed = reader.post(run.base + "/t/o", body=json.dumps({"s": match.group(1)}))
        assert confirmed.status == 200, confirmed.data[:500]
    # A batch may credit no more than the wall clock since the session began: start them an
    # hour ago, so that the load is credited (what is stored does not depend on it).
    with run.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE view_sessions SET started_at = started_at - interval '1 hour', "
                "last_seen_at = last_seen_at - interval '1 hour'"
            )
        )
    return tokens


@dataclass
class Load:
    acknowledged: list[str] = field(default_factory=list)  # report keys answered 2xx
    statuses: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    pause: float = 0.0  # seconds each reader waits between batches (0: as fast as it can)


def read_reports(base: str, tokens: list[str], load: Load, reader: int) -> None:
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=20))
    n = 0
    while not load.stop.wait(load.pause):
        n += 1
        keys = [uuid.uuid4().hex for _ in range(REPORTS_PER_BATCH)]
        body = {
            "s": tokens[(reader + n) % len(tokens)],
            "reports": [
                {"k": key, "type": "page.viewed", "page": 1 + i % 2, "ms": 1_000, "final": False}
                for i, key in enumerate(keys)
            ],
        }
        try:
            answer = http.request(
                "POST",
                f"{base}/t/r",
                body=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )
        except urllib3.exceptions.HTTPError as exc:  # the worker died under the request
            with load.lock:
                load.statuses[type(exc).__name__] += 1
            continue
        with load.lock:
            load.statuses[answer.status] += 1
            if 200 <= answer.status < 300:
                load.acknowledged.extend(keys)


def stored_keys(run: Deployment) -> Counter:
    """How many times each report key is stored (event keys are "s<session>:<report key>")."""
    with run.engine.connect() as conn:
        keys = conn.scalars(
            sa.text("SELECT idempotency_key FROM events WHERE type = 'page.viewed'")
        ).all()
    return Counter(key.split(":", 1)[-1] for key in keys)


def queue_state(run: Deployment, missing: set[str]) -> str:
    """Where the missing reports are in Redis, for the failure message: still in the stream
    (and whether read and not acknowledged, by whom), set aside in the dead stream, or gone."""
    from redis import Redis

    redis = Redis.from_url(run.redis_url)
    prefix = "portal:{ingest}"
    found: dict[str, list[str]] = {"stream": [], "dead": []}
    ids: dict[bytes, str] = {}
    for where in found:
        for entry_id, fields in redis.xrange(f"{prefix}:{where}"):
            keys = {row.get("k") for row in json.loads(fields[b"b"]).get("r", [])}
            for key in keys & missing:
                found[where].append(key)
                ids[entry_id] = where
    try:
        pending = redis.xpending_range(f"{prefix}:stream", "appliers", "-", "+", 1000)
    except Exception as exc:  # no group: nothing read
        pending = [{"error": repr(exc)}]
    state = {
        "flag": redis.get(f"{prefix}:drain"),
        "stream length": redis.xlen(f"{prefix}:stream"),
        "missing in stream": len(found["stream"]),
        "missing in dead": len(found["dead"]),
        "their entries": {k.decode(): v for k, v in ids.items()},
        "pending": pending[:20],
        "consumers": redis.execute_command("XINFO", "CONSUMERS", f"{prefix}:stream", "appliers")
        if redis.exists(f"{prefix}:stream")
        else None,
        "rq queues": {k.decode(): redis.llen(k) for k in redis.keys("rq:queue:*")},
    }
    redis.close()
    return repr(state)


@pytest.mark.long(seconds=20)
def test_kill_9_of_a_gunicorn_worker_and_the_rq_worker_loses_no_acknowledged_report(deployment):
    run = deployment
    tokens = view_sessions(run)
    gunicorn_workers = set(children_of(run.node.process.pid))
    assert len(gunicorn_workers) == 2, gunicorn_workers

    load = Load()
    threads = [
        threading.Thread(target=read_reports, args=(run.base, tokens, load, i), daemon=True)
        for i in range(READERS)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(load.acknowledged) >= 40, 30, "the load to get going")
        # Kill while the RQ worker is running a job (queued mode: a drain), if it gets one.
        deadline = time.monotonic() + 5
        while not job_running(run.redis_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        acknowledged_before = len(load.acknowledged)
        victim = sorted(gunicorn_workers)[0]
        os.kill(victim, signal.SIGKILL)
        kill_tree(run.rq[0].process)  # the worker and all below it (work horse, scheduler)
        assert run.rq[0].process.wait(10) == -signal.SIGKILL
        run.start_rq_worker()
        # The load goes on: the surviving gunicorn worker, then its replacement, answer.
        wait_until(
            lambda: len(load.acknowledged) >= acknowledged_before + 100,
            30,
            "reports acknowledged after the kill",
        )
        wait_until(
            lambda: set(children_of(run.node.process.pid)) - gunicorn_workers,
            30,
            "gunicorn to replace the killed worker",
        )
        # The customers go on reading, at a reader's pace: their reports queue new drains, and
        # those re-claim what the killed drain had read and not acknowledged (once idle).
        load.pause = 1.0

        def caught_up() -> bool:
            with load.lock:
                acknowledged = set(load.acknowledged)
            return acknowledged <= set(stored_keys(run))

        wait_until(caught_up, 75, "every acknowledged report to be stored", every=1)
    except AssertionError as exc:
        missing = set(load.acknowledged) - set(stored_keys(run))
        raise AssertionError(
            f"{exc}: {len(missing)} of {len(load.acknowledged)} acknowledged reports not stored "
            f"(answers {dict(load.statuses)}); {queue_state(run, missing)}\n"
            + "\n".join(f"--- {proc.name}:\n{proc.log()[-3000:]}" for proc in run.rq)
        ) from None
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)

    acknowledged = set(load.acknowledged)
    assert len(acknowledged) == len(load.acknowledged)  # keys are unique by construction
    # The last batches, acknowledged after the poll above, are drained as any others.
    wait_until(lambda: acknowledged <= set(stored_keys(run)), 30, "the last reports to be stored")
    assert load.statuses[202] + load.statuses[200] > 0
    stored = stored_keys(run)
    duplicates = {key: n for key, n in stored.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} reports stored more than once"
    assert run.node.alive() and run.rq[-1].alive()
