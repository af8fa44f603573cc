"""Issue 16's acceptance: `kill -9` of a gunicorn worker during downloads loses no acknowledged
`doc.downloaded` event.

The production topology (tests/deploy/portal_nginx.py): nginx in front of gunicorn (gthread, 2
worker processes, PORTAL_DOWNLOADS=accel), PostgreSQL and Redis of the test's own, an RQ worker
storing the queued events. Threads download their own customer's link in a loop, through nginx,
and count the answers that were 200 with the whole file: acknowledged. Mid-load one gunicorn
worker gets SIGKILL; gunicorn replaces it and the load goes on. Then (bounded poll) each
delivery has at least as many stored doc.downloaded events as acknowledged downloads (more is
allowed: a download recorded by a worker killed before it answered), and no more than were
asked for: nginx sends a request whose kept-alive upstream connection broke to another worker,
with the same X-Request-Id, and that second try records nothing new.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from bench.documents import noise_pdf
from bench.processes import children_of
from tests.deploy.portal_nginx import deployment
from tests.multinode.cluster import private_redis, start_worker
from tests.support import wait_until

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
if not PG_URL.startswith("postgresql"):
    pytest.skip(
        "gunicorn workers and an RQ worker need a server database: this runs in the "
        "PostgreSQL pass (PORTAL_TEST_DATABASE_URL=postgresql+psycopg://…)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

READERS = 4
PDF = noise_pdf(pages=1)


@dataclass
class Load:
    asked: Counter = field(default_factory=Counter)  # delivery id -> requests sent
    acknowledged: Counter = field(default_factory=Counter)  # delivery id -> 200 with the file
    statuses: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def download_loop(url: str, delivery: int, load: Load) -> None:
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=20))
    headers = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}
    while not load.stop.is_set():
        with load.lock:
            load.asked[delivery] += 1
        try:
            answer = http.request("GET", url, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            with load.lock:
                load.statuses[type(exc).__name__] += 1
            continue
        with load.lock:
            load.statuses[answer.status] += 1
            if answer.status == 200 and answer.data == PDF:
                load.acknowledged[delivery] += 1


def stored(engine: sa.Engine) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT delivery_id, count(*) FROM events WHERE type = 'doc.downloaded' "
                "GROUP BY delivery_id"
            )
        ).all()
    return Counter(dict(rows))


@pytest.mark.long(seconds=12)
def test_kill_9_of_a_gunicorn_worker_loses_no_acknowledged_download(tmp_path):
    with ExitStack() as stack:
        redis_url = stack.enter_context(private_redis())
        run = stack.enter_context(
            deployment(tmp_path, PDF, redis_url=redis_url, workers=2, PORTAL_DOWNLOADS="accel")
        )
        rq = start_worker("rq", run.env, tmp_path, "--no-tick")
        stack.callback(rq.stop)
        sent = [run.send(f"客户{n}") for n in range(READERS)]
        workers = set(children_of(run.node.process.pid))
        assert len(workers) == 2, workers

        load = Load()
        threads = [
            threading.Thread(
                target=download_loop, args=(run.base + path, delivery, load), daemon=True
            )
            for delivery, path in sent
        ]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: sum(load.acknowledged.values()) >= 20, 60, "downloads to go")
            before = sum(load.acknowledged.values())
            os.kill(sorted(workers)[0], signal.SIGKILL)
            wait_until(
                lambda: set(children_of(run.node.process.pid)) - workers,
                30,
                "gunicorn to replace the killed worker",
            )
            wait_until(
                lambda: sum(load.acknowledged.values()) >= before + 20,
                30,
                "downloads acknowledged after the kill",
            )
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(30)

        def caught_up() -> bool:
            found = stored(run.engine)
            return all(found[d] >= n for d, n in load.acknowledged.items())

        try:
            wait_until(caught_up, 60, "every acknowledged download to be stored", every=0.5)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}: acknowledged {dict(load.acknowledged)}, stored {dict(stored(run.engine))}"
                f", answers {dict(load.statuses)}\n{rq.log()[-3000:]}"
            ) from None
        found = stored(run.engine)
        assert all(found[d] <= load.asked[d] for d in found), (found, load.asked)
        assert set(found) == {delivery for delivery, _path in sent}
