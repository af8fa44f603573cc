"""The production topology for tests: nginx (deploy/nginx/portal.conf, run by bench.nginx as an
unprivileged subprocess) in front of gunicorn, on a database of the test's own.

`deployment(...)` starts the stack, with a rep and a marketing user (API tokens) and a PDF
brochure uploaded; everything is stopped by pid when the `with` block ends.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench import nginx
from tests.multinode.cluster import (
    Browser,
    Proc,
    portal_env,
    prepare_database,
    private_schema,
    start_node,
    stop_all,
)
from tests.support import skip_or_fail

PASSWORD = "nginx-pass-1"
REP = "rep@example.com"
MARKETING = "mkt@example.com"
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")


@dataclass
class Deployment:
    base: str  # nginx
    app_base: str  # gunicorn itself
    env: dict[str, str]
    engine: sa.Engine
    workdir: Path
    node: Proc
    proxy: nginx.Nginx
    tokens: dict[str, str] = field(default_factory=dict)
    template_id: int = 0

    def api(self, who: str, method: str, path: str, **kwargs) -> dict:
        client = Browser(headers={"Authorization": f"Bearer {self.tokens[who]}"})
        response = client.request(method, self.app_base + path, **kwargs)
        assert 200 <= response.status < 300, f"{method} {path}: {response.status} {response.data!r}"
        return json.loads(response.data) if response.data else {}

    def send(self, name: str = "张伟") -> tuple[int, str]:
        """A delivery of the brochure to a new customer: its id and its download path."""
        who = {"name": name, "company": "华东"}
        customer = self.api(REP, "POST", "/api/v1/customers", json=who)
        sent = self.api(
            REP,
            "POST",
            "/api/v1/deliveries",
            json={"customer_id": customer["id"], "template_id": self.template_id},
        )
        return sent["id"], re.search(r"/d/[^/?#]+", sent["url"]).group(0) + "/download"

    def downloads(self, delivery: int | None = None) -> int:
        """The doc.downloaded events stored (of one delivery's, if given)."""
        query = "SELECT count(*) FROM events WHERE type = 'doc.downloaded'"
        if delivery is not None:
            query += " AND delivery_id = :d"
        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), {"d": delivery}).scalar()


@contextmanager
def deployment(
    tmp_path: Path,
    pdf: bytes,
    *,
    redis_url: str | None = None,
    storage: dict[str, str] | None = None,
    workers: int = 1,
    gate_secret: str = "",
    **extra: str,
) -> Iterator[Deployment]:
    """The stack (see the module's note); `gate_secret`: the download gate's, given to the app
    and to nginx (none: the gate stays idle)."""
    if not nginx.available():
        skip_or_fail(f"nginx is not installed ({nginx.NGINX}): apt-get install nginx")
    with ExitStack() as stack:
        if PG_URL.startswith("postgresql"):
            database_url = stack.enter_context(private_schema(PG_URL, "nginx"))
        else:
            database_url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        env = portal_env(
            tmp_path,
            database_url=database_url,
            redis_url=redis_url,
            storage=storage,
            PORTAL_BASE_URL="http://portal.example",
            PORTAL_TICK_INTERVAL="0",
            PORTAL_PROXY_FIX="1",
            PORTAL_DOWNLOAD_GATE_SECRET=gate_secret,
            **extra,
        )
        env.setdefault("PORTAL_STORAGE_PATH", str(tmp_path / "st"))
        instance = Path(env["PORTAL_INSTANCE_PATH"])
        cache = instance / "render-cache"
        env["PORTAL_RENDER_CACHE_PATH"] = str(cache)
        staff = ((REP, "rep", ()), (MARKETING, "marketing", ()))
        tokens = prepare_database(env, staff, password=PASSWORD, tokens_for=(REP, MARKETING))
        engine = sa.create_engine(database_url)
        stack.callback(engine.dispose)
        procs: list[Proc] = []
        stack.callback(stop_all, procs)
        node, app_base = start_node("node", env, tmp_path, workers=workers)
        procs.append(node)
        cache.mkdir(parents=True, exist_ok=True)
        storage_root = Path(env["PORTAL_STORAGE_PATH"])
        storage_root.mkdir(parents=True, exist_ok=True)
        upstream = app_base.removeprefix("http://")
        proxy = nginx.Nginx(
            tmp_path / "nginx", upstream, cache, storage_root, gate_secret=gate_secret
        )
        try:
            base = proxy.start()
        except nginx.NginxError as exc:
            skip_or_fail(f"nginx could not start: {exc}")
        stack.callback(proxy.stop)
        run = Deployment(base, app_base, env, engine, tmp_path, node, proxy, tokens)
        template = run.api(
            MARKETING,
            "POST",
            "/api/v1/templates",
            fields={
                "file": ("brochure.pdf", pdf, "application/pdf"),
                "name": "产品手册",
                "kind": "brochure",
                "changelog": "v1",
            },
        )
        run.template_id = template["id"]
        yield run
