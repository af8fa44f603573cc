"""Issue 18: an erasure clears the person's cached files on every node, not only on the one that
runs it. Two real app nodes (gunicorn) and an RQ worker on PostgreSQL, S3 and Redis, each node
with a render cache folder of its own; the customer's copy is served by both nodes (so both
cache it); the admin erases the customer through one node; every node's copies go.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.multinode.cluster import (
    Browser,
    drop_bucket,
    s3_storage_env,
    stop_all,
    wait_until,
)
from tests.multinode.deployment import deployment, require_postgres
from tests.s3_support import shared_s3_settings

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

require_postgres()

HTML = (
    "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'></head><body>"
    "<h1>报价单</h1><p>尊敬的{{ customer.name }}，您好！</p></body></html>"
)


def cached_renders(cache: Path) -> set[str]:
    """The rendered files (not template sources) a node's cache folder holds."""
    renders = cache / "renders"
    return {str(p.relative_to(cache)) for p in renders.rglob("*") if p.is_file()}


@pytest.mark.long(seconds=24)
def test_an_erasure_clears_every_nodes_cache(tmp_path: Path) -> None:
    s3 = shared_s3_settings()
    bucket = f"portal-mn-erase-{secrets.token_hex(4)}"
    staff = {"admin": "admin@example.com", "rep": "rep@example.com", "marketing": "mkt@example.com"}
    with deployment(
        tmp_path,
        "erase",
        users=[(email, role, ()) for role, email in staff.items()],
        tokens_for=list(staff.values()),
        storage=s3_storage_env(s3, bucket),
    ) as run:
        try:
            caches = [tmp_path / f"cache-{n}" for n in range(2)]
            run.add_worker(
                "erase-worker", "--no-tick", PORTAL_RENDER_CACHE_PATH=str(tmp_path / "cache-worker")
            )
            nodes = [
                run.add_node(f"erase-node-{n}", PORTAL_RENDER_CACHE_PATH=str(cache))
                for n, cache in enumerate(caches)
            ]
            database_url = run.database_url

            def api(role: str, node: str, method: str, path: str, **kwargs):
                return run.api(staff[role], method, path, node=node, **kwargs)

            template = api("marketing", nodes[0], "POST", "/api/v1/templates", fields={
                "file": ("quote.html", HTML.encode(), "text/html"),
                "name": "报价单", "kind": "quote", "changelog": "v1",
            })  # fmt: skip
            customer = api("rep", nodes[1], "POST", "/api/v1/customers", json={
                "name": "欧阳娜娜", "company": "娜娜公司", "email": "ouyang@example.com",
            })  # fmt: skip
            sent = api("rep", nodes[0], "POST", "/api/v1/deliveries", json={
                "customer_id": customer["id"], "template_id": template["id"],
            })  # fmt: skip
            engine = sa.create_engine(database_url)
            try:

                def rendered() -> bool:
                    with engine.connect() as conn:
                        status = conn.execute(
                            sa.text("SELECT render_status FROM deliveries WHERE id = :id"),
                            {"id": sent["id"]},
                        ).scalar()
                    assert status != "failed"
                    return status == "ready"

                wait_until(rendered, 180, "the personalised copy rendered by the worker")
            finally:
                engine.dispose()

            # The customer reads on both nodes: each keeps its own copies of their files.
            doc = "/d/" + sent["url"].rsplit("/d/", 1)[1].split("?")[0]
            reader = Browser()
            for node in nodes:
                assert reader.get(node + doc).status == 200
                assert reader.get(node + doc + "/pages/1.png").status == 200
                assert reader.get(node + doc + "/download").status == 200
            theirs = [cached_renders(cache) for cache in caches]
            assert all(theirs), theirs
            assert theirs[0] == theirs[1]  # the same keys, on two disks

            api("admin", nodes[0], "POST", f"/api/v1/customers/{customer['id']}/erase")

            # Every node drops them at its next look at the purge list (a request; at most
            # every 5 s per process, and each node runs two processes).
            def cleared() -> bool:
                for node in nodes:
                    Browser().get(node + "/login")
                left = [theirs[n] & cached_renders(cache) for n, cache in enumerate(caches)]
                return not any(left)

            wait_until(cleared, 60, "every node's cached copies of the erased person gone")
            assert reader.get(nodes[1] + doc).status == 410
        finally:
            stop_all(run.procs)
            drop_bucket(s3, bucket)
