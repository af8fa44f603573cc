"""Issue 16, item 1's acceptance: two app processes, revoke through one, the other refuses within
one second, also when its pub/sub connection was cut before the revoke.

Two gunicorn nodes of one worker process each, on one PostgreSQL schema, one Redis database and
one storage folder. Node B downloads a document (so its link cache holds the link), then the
link is revoked three ways and B must refuse it (410):

- through node A's API, B's subscription up: the message empties B's cache;
- through node A's API, after B's subscription was cut (its Redis client killed): B either
  noticed (and stopped trusting its cache) or the message came through a new subscription;
- in SQL, bypassing the app: no message at all (a lost one), only the entries' one-second
  life ends it.

"Refuses" is polled with a generous deadline, as a busy machine can stretch any of it; the
one-second bound itself is asserted on the cache's own clock and entries in
tests/delivery/test_link_cache.py (the same three cases, two apps in one process).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from bench.processes import children_of
from tests.multinode.cluster import Browser, wait_until
from tests.multinode.deployment import MARKETING, REP, deployment, require_postgres

pytestmark = [pytest.mark.postgres]
require_postgres()

DOCUMENT = (
    "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'></head><body>"
    "<h1>产品手册</h1><p>尊敬的{{ customer.name }}，您好！</p></body></html>"
).encode()
REFUSAL_DEADLINE = 30  # seconds: the bound is one; this only absorbs a loaded machine


@dataclass
class Cluster:
    node_a: str
    node_b: str
    node_b_pid: int
    redis: Redis
    redis_db: int
    engine: sa.Engine
    tokens: dict[str, str]

    def api(self, who: str, path: str, **kwargs) -> dict:
        client = Browser(headers={"Authorization": f"Bearer {self.tokens[who]}"})
        response = client.post(self.node_a + path, **kwargs)
        assert 200 <= response.status < 300, (path, response.status, response.data[:500])
        return json.loads(response.data) if response.data else {}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with deployment(tmp_path, "links") as run:
        base_a = run.add_node("node-a", workers=1)
        base_b = run.add_node("node-b", workers=1)
        [worker_b] = children_of(run.procs[-1].process.pid)
        redis = Redis.from_url(run.redis_url)
        try:
            yield Cluster(base_a, base_b, worker_b, redis, run.redis_db, run.engine, run.tokens)
        finally:
            redis.close()


def send(cluster: Cluster, template_id: int, name: str) -> dict:
    customer = cluster.api(REP, "/api/v1/customers", json={"name": name, "company": "华东精密"})
    return cluster.api(
        REP, "/api/v1/deliveries", json={"customer_id": customer["id"], "template_id": template_id}
    )


def download_path(delivery: dict) -> str:
    return "/d/" + delivery["url"].split("/d/", 1)[1].split("/")[0] + "/download"


def status_on_b(cluster: Cluster, delivery: dict) -> int:
    return Browser().get(cluster.node_b + download_path(delivery)).status


def served_by_b(cluster: Cluster, delivery: dict) -> None:
    """B serves the file, so its cache holds the link (a first download may render it)."""
    for _ in range(3):
        assert status_on_b(cluster, delivery) == 200


def b_refuses(cluster: Cluster, delivery: dict) -> None:
    wait_until(
        lambda: status_on_b(cluster, delivery) == 410,
        REFUSAL_DEADLINE,
        f"node B to refuse delivery {delivery['id']}",
    )


def b_subscriptions(cluster: Cluster) -> list[dict]:
    """Node B's link cache subscriptions: named by its worker's pid, in our Redis database."""
    name = f"portal-link-cache:{cluster.node_b_pid}:"
    return [
        client
        for client in cluster.redis.client_list(_type="pubsub")
        if client.get("name", "").startswith(name) and client.get("db") == str(cluster.redis_db)
    ]


def test_a_revoke_through_one_node_is_refused_by_the_other(cluster: Cluster) -> None:
    template = cluster.api(
        MARKETING,
        "/api/v1/templates",
        fields={
            "file": ("doc.html", DOCUMENT, "text/html"),
            "name": "产品手册",
            "kind": "brochure",
            "changelog": "v1",
        },
    )
    heard, cut, lost = (send(cluster, template["id"], name) for name in ("张伟", "李娜", "王强"))
    for delivery in (heard, cut, lost):
        served_by_b(cluster, delivery)
    wait_until(lambda: b_subscriptions(cluster), REFUSAL_DEADLINE, "node B to subscribe")

    # 1. B's subscription up: the revoke made on A reaches B.
    cluster.api(REP, f"/api/v1/deliveries/{heard['id']}/revoke")
    b_refuses(cluster, heard)
    assert status_on_b(cluster, cut) == 200  # the others still work

    # 2. B's subscription cut before the revoke.
    served_by_b(cluster, cut)
    subscriptions = b_subscriptions(cluster)
    assert subscriptions
    for client in subscriptions:
        cluster.redis.client_kill_filter(_id=client["id"])
    cluster.api(REP, f"/api/v1/deliveries/{cut['id']}/revoke")
    b_refuses(cluster, cut)

    # 3. No message at all: the revoke committed behind the app's back.
    wait_until(lambda: b_subscriptions(cluster), REFUSAL_DEADLINE, "node B to subscribe again")
    served_by_b(cluster, lost)
    with cluster.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE deliveries SET revoked_at = now() WHERE id = :id"), {"id": lost["id"]}
        )
    b_refuses(cluster, lost)
    assert Browser().get(cluster.node_a + download_path(lost)).status == 410
