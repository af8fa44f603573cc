"""Issue 6, item 2: a render job whose work-horse is killed (-9) mid-render is retried, not lost.

The app sends with jobs on RQ (a Redis database of the test's own); a real `flask --app wsgi
worker` process renders. The document is large enough that its render takes seconds; once the
worker's work-horse has been rendering it for a moment, the horse gets SIGKILL (an OOM kill, a
crashed host process). The render job is queued with RQ retries (portal.jobs.retried), so the
worker retries it and the delivery ends up rendered without anybody opening it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.processes import children_of
from portal.delivery.models import Delivery, RenderStatus
from portal.extensions import db
from tests.delivery.helpers import make_template
from tests.multinode.cluster import Proc, portal_env, private_redis, start_worker, wait_until

# With both passes, the PostgreSQL one runs it: its subject is RQ's retry of a killed work-horse,
# which does not depend on the database, and a large render killed and done again cost ~25 s
# of CPU in each pass.
pytestmark = [pytest.mark.slow, pytest.mark.only_in_pass("postgresql")]

ROWS = 400  # a render of several seconds on a loaded 2-core machine


def large_document() -> str:
    rows = "".join(
        f"<tr><td>{i}</td><td>智能工厂方案条目 {i}</td><td>¥{i * 97:,}</td>"
        f"<td>{'说明文字 ' * 6}</td></tr>"
        for i in range(ROWS)
    )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><style>"
        "body{font-family:'Noto Sans CJK SC',sans-serif} td{border:1px solid #999;padding:2px}"
        "</style></head><body><h1>{{ customer.name }}</h1>"
        f"<table>{rows}</table></body></html>"
    )


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def app_config(app_config: dict, redis_url: str) -> dict:
    return {**app_config, "REDIS_URL": redis_url, "TICK_INTERVAL": 0}


@pytest.fixture
def worker(app, redis_url: str, tmp_path: Path) -> Iterator[Proc]:
    """`flask --app wsgi worker` on the app's database, storage and Redis; stopped by pid."""
    env = portal_env(
        tmp_path,
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=redis_url,
        storage={
            "PORTAL_STORAGE": "local",
            "PORTAL_STORAGE_PATH": app.config["STORAGE_LOCAL_PATH"],
        },
        PORTAL_TICK_INTERVAL="0",
        PORTAL_RENDER_PROGRESS_LOG="1",  # the test sees the render laying out its pages
    )
    proc = start_worker("render-worker", env, tmp_path, "--no-tick")
    yield proc
    proc.stop()


def worker_idle(worker: Proc, redis_url: str) -> bool:
    from redis import Redis
    from rq import Worker

    if not worker.alive():
        raise AssertionError(f"the worker exited:\n{worker.log()[-3000:]}")
    connection = Redis.from_url(redis_url)
    return any(
        w.pid == worker.process.pid and w.get_state() == "idle" for w in Worker.all(connection)
    )


def render_status(delivery_id: int) -> str:
    db.session.expire_all()
    status = db.session.scalar(select(Delivery.render_status).where(Delivery.id == delivery_id))
    db.session.commit()  # end the read: the worker writes the row
    return status


@pytest.mark.long(seconds=10)
def test_a_render_whose_work_horse_is_killed_is_retried_and_the_delivery_ends_up_rendered(
    app, client, world, api_headers, worker, redis_url
):
    big = make_template(world.marketing, name="大型方案文档", html=large_document())
    wait_until(lambda: worker_idle(worker, redis_url), 60, "the RQ worker to be ready")
    baseline = set(children_of(worker.process.pid))  # its scheduler, if it runs one

    sent = client.post(
        "/api/v1/deliveries",
        json={"customer_id": world.customer.id, "template_id": big.id},
        headers=api_headers(world.rep),
    )
    assert sent.status_code == 201, sent.get_data(as_text=True)
    delivery_id = sent.get_json()["id"]

    started = len(worker.log())
    horses = wait_until(
        lambda: set(children_of(worker.process.pid)) - baseline,
        30,
        "the work-horse to start rendering",
    )
    # Mid-render: WeasyPrint (its progress is in the worker's log) is laying out the pages.
    wait_until(
        lambda: "Creating layout - Page 3" in worker.log()[started:],
        30,
        "the render to be laying out pages",
        every=0.05,
    )
    assert render_status(delivery_id) == RenderStatus.PENDING, "the render ended before the kill"
    for horse in horses:
        os.kill(horse, signal.SIGKILL)
    wait_until(
        lambda: "Work-horse terminated unexpectedly" in worker.log(),
        15,
        "the worker to see its work-horse die",
    )
    assert worker.alive()

    wait_until(
        lambda: render_status(delivery_id) == RenderStatus.READY,
        60,
        "the killed render to be retried and finish",
    )
    db.session.expire_all()
    assert (
        db.session.scalar(select(Delivery.render_error).where(Delivery.id == delivery_id)) is None
    )
