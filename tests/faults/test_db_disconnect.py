"""Issue 6, item 2: PostgreSQL drops the app's connections; requests fail cleanly, the pool
recovers.

The app under test connects with an application_name of its own, and only the backends with
that name are terminated (pg_terminate_backend, waiting until each is gone): other tests and
other runs sharing the server keep theirs.

- Killed while idle in the pool: the next requests succeed without an error (the pool tests a
  connection before handing it out: pool_pre_ping) and new backends replace the dead ones.
- Killed in the middle of a request (from a hook on the statement about to run): that request
  answers 503 with a clear message (JSON `service_unavailable` with Retry-After under /api/,
  the friendly page for a staff page), never a 500, and the next request succeeds.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal.extensions import db
from tests.multinode.cluster import Browser
from tests.threaded_servers import serve_in_thread, stop_serving

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
if not PG_URL.startswith("postgresql"):
    pytest.skip(
        "dropping server connections needs PostgreSQL: this runs in the PostgreSQL pass "
        "(PORTAL_TEST_DATABASE_URL=postgresql+psycopg://…)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APP_NAME = f"portal-fault-{os.getpid()}-{secrets.token_hex(3)}"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    separator = "&" if "?" in url else "?"
    return {**app_config, "SQLALCHEMY_DATABASE_URI": f"{url}{separator}application_name={APP_NAME}"}


@pytest.fixture
def admin() -> Iterator[sa.Engine]:
    """A connection of the test's own, outside the app's pool, to kill the app's backends."""
    separator = "&" if "?" in PG_URL else "?"
    engine = sa.create_engine(f"{PG_URL}{separator}application_name=portal-fault-admin")
    yield engine
    engine.dispose()


def app_backends(admin: sa.Engine) -> list[int]:
    with admin.connect() as conn:
        return list(
            conn.scalars(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": APP_NAME},
            )
        )


def terminate(admin: sa.Engine, pids: list[int]) -> int:
    """Terminate these backends and wait (up to 5 s each) until they are gone."""
    with admin.connect() as conn:
        killed = [
            conn.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            for pid in pids
        ]
    return sum(bool(k) for k in killed)


@pytest.fixture
def served(app) -> Iterator[str]:
    """The app behind a real threaded HTTP server: every request has its own app context, torn
    down after it (its connection goes back to the pool), as under gunicorn."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_port}"
    stop_serving(server, thread)


@pytest.fixture
def rep(app, make_user, api_headers, served) -> Browser:
    """A rep signed in on the served app; the test's own session hands its connection back."""
    user = make_user("rep", email="rep@example.com")
    browser = Browser(headers={"Host": "portal.test", **api_headers(user)})
    signed_in = browser.post(
        f"{served}/login", fields={"email": user.email, "password": "password123"}
    )
    assert signed_in.status == 302, signed_in.data[:500]
    db.session.remove()
    return browser


def test_connections_killed_in_the_pool_are_replaced_without_an_error(served, rep, admin):
    # Several connections in the pool, idle, as after a busy moment.
    held = [db.engine.connect() for _ in range(3)]
    for conn in held:
        conn.execute(sa.text("SELECT 1"))
    for conn in held:
        conn.close()
    assert rep.get(f"{served}/api/v1/templates").status == 200
    before = app_backends(admin)
    assert len(before) >= 3

    assert terminate(admin, before) == len(before)
    assert app_backends(admin) == []

    for _ in range(3):
        assert rep.get(f"{served}/api/v1/templates").status == 200
        assert rep.get(f"{served}/customers/").status == 200
    after = app_backends(admin)
    assert after and not set(after) & set(before)  # new backends replaced the dead ones


class KillMidRequest:
    """Terminate the backend of the connection that is about to run a matching statement."""

    def __init__(self, admin: sa.Engine, fragment: str):
        self.admin = admin
        self.fragment = fragment
        self.killed: list[int] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if self.killed or self.fragment not in statement:
            return
        pid = conn.connection.dbapi_connection.info.backend_pid
        self.killed.append(pid)
        assert terminate(self.admin, [pid]) == 1


@pytest.fixture
def kill_mid_request(app, admin):
    hooks = []

    def arm(fragment: str) -> KillMidRequest:
        hook = KillMidRequest(admin, fragment)
        sa.event.listen(db.engine, "before_cursor_execute", hook)
        hooks.append(hook)
        return hook

    yield arm
    for hook in hooks:
        sa.event.remove(db.engine, "before_cursor_execute", hook)


def test_a_request_whose_connection_dies_answers_503_and_the_next_one_succeeds(
    served, rep, kill_mid_request
):
    assert rep.get(f"{served}/api/v1/templates").status == 200

    hook = kill_mid_request("FROM templates")
    api = rep.get(f"{served}/api/v1/templates")

    assert hook.killed, "the request never reached the statement"
    assert api.status == 503, api.data[:2000]
    assert json.loads(api.data)["error"] == {
        "code": "service_unavailable",
        "message": "the database is not answering: try again in a minute",
    }
    assert int(api.headers["Retry-After"]) > 0
    assert rep.get(f"{served}/api/v1/templates").status == 200

    hook = kill_mid_request("FROM customers")
    page = rep.get(f"{served}/customers/")

    assert hook.killed
    assert page.status == 503
    html = page.data.decode()
    assert "Portal 暂时无法使用" in html  # the friendly page, in the reader's language
    assert "Traceback" not in html and "OperationalError" not in html
    assert rep.get(f"{served}/customers/").status == 200
