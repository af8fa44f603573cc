"""One Portal deployment for a multi-node test: its own PostgreSQL schema (migrated), Redis
database and storage, its staff users and API tokens, then as many app nodes and RQ workers as
the test starts; everything stopped and dropped when the `with` ends (processes first, by pid).

    with deployment(tmp_path, "links") as run:
        a, b = run.add_node("node-a", workers=1), run.add_node("node-b", workers=1)
        template = run.api(MARKETING, "POST", "/api/v1/templates", fields=…, node=a)

The start-up every test in tests/multinode/ repeated (schema, Redis, environment, `db upgrade`,
users, tokens, nodes, workers, teardown) lives here once; the processes themselves are
tests.multinode.cluster's.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

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
)

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
PASSWORD = "multinode-pass-1"
SUPERVISOR = "boss@example.com"
REP = "rep@example.com"
MARKETING = "mkt@example.com"
# (email, role, extra `users create` arguments): a supervisor, their rep, marketing.
TEAM: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (SUPERVISOR, "supervisor", ()),
    (REP, "rep", ("--supervisor", SUPERVISOR)),
    (MARKETING, "marketing", ()),
)


def require_postgres() -> None:
    """At module level: many nodes need a server database (skipped in the SQLite pass)."""
    if not PG_URL.startswith("postgresql"):
        pytest.skip(
            "many nodes need a server database: this test runs in the PostgreSQL pass "
            "(PORTAL_TEST_DATABASE_URL=postgresql+psycopg://…)",
            allow_module_level=True,
        )


@dataclass
class Deployment:
    """A deployment under test: how to reach its nodes, its database and its settings."""

    name: str
    workdir: Path
    env: dict[str, str]
    database_url: str
    redis_url: str
    engine: sa.Engine
    tokens: dict[str, str] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)
    turn: int = 0

    @property
    def redis_db(self) -> int:
        return int(self.redis_url.rsplit("/", 1)[1])

    def add_node(self, name: str, workers: int = 2, **env: str) -> str:
        """Start an app node (gunicorn, `workers` processes); its base URL once it answers."""
        proc, base = start_node(name, {**self.env, **env}, self.workdir, workers=workers)
        self.procs.append(proc)
        self.nodes.append(base)
        return base

    def add_worker(self, name: str, *args: str, **env: str) -> Proc:
        proc = start_worker(name, {**self.env, **env}, self.workdir, *args)
        self.procs.append(proc)
        return proc

    def node(self) -> str:
        """The next node, round robin: consecutive requests alternate between the nodes."""
        base = self.nodes[self.turn % len(self.nodes)]
        self.turn += 1
        return base

    def api(self, who: str, method: str, path: str, *, node: str | None = None, **kwargs: Any):
        """An API call as `who` (an e-mail with a token) on `node` (default: the next one)."""
        client = Browser(headers={"Authorization": f"Bearer {self.tokens[who]}"})
        response = client.request(method, (node or self.node()) + path, **kwargs)
        assert 200 <= response.status < 300, f"{method} {path}: {response.status} {response.data!r}"
        return json.loads(response.data) if response.data else None

    def sql(self, query: str, **params: Any) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))


@contextmanager
def deployment(
    workdir: Path,
    name: str,
    *,
    users: Sequence[tuple[str, str, Sequence[str]]] = TEAM,
    tokens_for: Sequence[str] = (REP, MARKETING),
    storage: dict[str, str] | None = None,
    **extra_env: str,
) -> Iterator[Deployment]:
    """A migrated deployment with its users and tokens, no process running yet. Storage: one
    local folder for every node (what one renders, the others serve) unless given."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        database_url = stack.enter_context(private_schema(PG_URL, f"mn_{name}"))
        redis_url = stack.enter_context(private_redis())
        env = portal_env(
            workdir,
            database_url=database_url,
            redis_url=redis_url,
            storage=storage
            or {"PORTAL_STORAGE": "local", "PORTAL_STORAGE_PATH": str(workdir / "st")},
            **{
                "PORTAL_BASE_URL": "http://portal.example",
                # its own pub/sub channels: other tests' live readers (customer 1 exists in
                # every test's database) must never reach this deployment's pages
                "PORTAL_REDIS_PREFIX": f"portal-{name}-{secrets.token_hex(4)}",
                **extra_env,
            },
        )
        tokens = prepare_database(env, users, password=PASSWORD, tokens_for=tokens_for)
        engine = sa.create_engine(database_url)
        stack.callback(engine.dispose)
        run = Deployment(name, workdir, env, database_url, redis_url, engine)
        run.tokens = tokens
        stack.callback(stop_all, run.procs)  # stopped before the schema is dropped
        yield run
