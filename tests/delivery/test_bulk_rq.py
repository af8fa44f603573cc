"""Issue 12, item 7 acceptance: a bulk send of 200 customers with Redis and 2 RQ workers makes
200 deliveries and 200 distinct renders, and its progress endpoint reaches 200 done.

The app queues the jobs on a Redis database of the test's own (tests/multinode/cluster.
private_redis); two real `flask --app wsgi worker` processes on the test's database and storage
run them. The template is one line, so each render is cheap; the test's cost is the 200 renders
shared by the two workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.extensions import db
from tests.delivery.helpers import make_template
from tests.multinode.cluster import Proc, portal_env, private_redis, start_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

if not os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql"):
    pytest.skip(
        "two worker processes writing at once need a server database (SQLite answers "
        "'database is locked'): this test runs in the PostgreSQL pass "
        "(PORTAL_TEST_DATABASE_URL=postgresql+psycopg://…)",
        allow_module_level=True,
    )

CUSTOMERS = 200
WORKERS = 2
HTML = "<!doctype html><meta charset='utf-8'><p>{{ customer.name }} · {{ customer.company }}</p>"


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


@pytest.fixture
def app_config(app_config: dict, redis_url: str) -> dict:
    return {**app_config, "REDIS_URL": redis_url, "TICK_INTERVAL": 0}


@pytest.fixture
def workers(app, redis_url: str, tmp_path: Path) -> Iterator[list[Proc]]:
    """Two `flask --app wsgi worker` processes on the app's database, storage and Redis."""
    env = portal_env(
        tmp_path,
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=redis_url,
        storage={
            "PORTAL_STORAGE": "local",
            "PORTAL_STORAGE_PATH": app.config["STORAGE_LOCAL_PATH"],
        },
        PORTAL_TICK_INTERVAL="0",
    )
    procs = [start_worker(f"bulk-worker-{n}", env, tmp_path, "--no-tick") for n in range(WORKERS)]
    yield procs
    for proc in procs:
        proc.stop()


def listening(procs: list[Proc], redis_url: str) -> bool:
    from redis import Redis
    from rq import Worker

    for proc in procs:
        if not proc.alive():
            raise AssertionError(f"a worker exited:\n{proc.log()[-3000:]}")
    pids = {w.pid for w in Worker.all(Redis.from_url(redis_url))}
    return all(proc.process.pid in pids for proc in procs)


@pytest.mark.long(seconds=32)
def test_a_bulk_send_of_200_customers_on_two_workers_is_done_with_200_distinct_renders(
    app, client, world, api_headers, workers, redis_url
):
    template = make_template(
        world.marketing, name="批量简介", kind="brochure", html=HTML, content_tags=""
    )
    db.session.add_all(
        Customer(
            owner_id=world.rep.id,
            name=f"客户{n:03d}",
            company=f"公司{n:03d}",
            email=f"bulk{n}@example.com",
        )
        for n in range(CUSTOMERS)
    )
    db.session.commit()
    ids = list(
        db.session.scalars(
            select(Customer.id).where(Customer.email.like("bulk%")).order_by(Customer.id)
        )
    )
    assert len(ids) == CUSTOMERS
    wait_until(lambda: listening(workers, redis_url), 60, "both RQ workers to listen")
    headers = api_headers(world.rep)

    answer = client.post(
        "/api/v1/sends",
        json={"template_id": template.id, "customer_ids": ids},
        headers=headers,
    )
    assert answer.status_code == 202, answer.get_data(as_text=True)
    url = f"/api/v1/sends/{answer.get_json()['id']}"

    def finished():
        db.session.commit()  # a fresh read each time: the workers write the rows
        progress = client.get(url, headers=headers).get_json()
        return progress if progress["done"] + progress["failed"] == CUSTOMERS else None

    try:
        progress = wait_until(finished, 600, "the 200 sends to finish", every=0.5)
    except AssertionError:
        raise AssertionError("\n".join(proc.log()[-3000:] for proc in workers)) from None
    failed = [d for d in progress["deliveries"] if d["status"] != "done"]
    assert not failed, failed[:3]
    assert progress["done"] == progress["total"] == CUSTOMERS
    assert {d["render_status"] for d in progress["deliveries"]} == {"ready"}
    deliveries = db.session.scalar(select(func.count()).select_from(Delivery))
    assert deliveries == CUSTOMERS
    assert len({d["delivery_id"] for d in progress["deliveries"]}) == CUSTOMERS
    renders = list(Path(app.config["STORAGE_LOCAL_PATH"]).rglob("renders/*/*.pdf"))
    assert len(renders) == CUSTOMERS, "one personalised render per customer"
    assert len({r.read_bytes() for r in renders}) == CUSTOMERS
    both = [proc.log().count("send_item") for proc in workers]
    assert all(both), f"both workers took jobs: {both}"
