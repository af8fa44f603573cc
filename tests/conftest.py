"""Test fixtures.

The database is chosen by PORTAL_TEST_DATABASE_URL (PostgreSQL in CI) and defaults to a SQLite
file. The schema is built once per run by the Alembic migrations, exactly as
`flask --app wsgi db upgrade` builds it; every test then starts from empty tables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache

from portal import create_app
from portal.delivery import link_cache
from portal.extensions import db
from tests.render_memo import RenderMemo
from tests.route_builders import remembered_builders
from tests.s3_support import shared_s3_settings
from tests.support import skip_or_fail

# Password hashes in tests: scrypt as in production, at a work factor near the lowest werkzeug
# accepts (N=256, r=1, instead of its 32768 and 8; at N=64 the hash exceeds the memory limit
# werkzeug gives OpenSSL). Each hash or check cost ~0.5 s of CPU at werkzeug's default and still
# ~2 ms at N=1024, r=8 (0.09 ms now), and the suite makes thousands (every make_user, every
# sign-in); what the tests check (the hash is stored, a wrong password fails, an unknown e-mail
# does the same work) does not depend on the work factor. Processes the tests start (nodes,
# workers, CLI) hash as in production.
TEST_PASSWORD_HASH = "scrypt:256:1:1"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    from functools import partial

    from werkzeug.security import generate_password_hash

    from portal.accounts import services as accounts

    cheap = partial(generate_password_hash, method=TEST_PASSWORD_HASH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "generate_password_hash", cheap)
        dummy = cheap("not-a-real-password")
        patch.setattr(accounts, "_dummy_hash", lambda: dummy)
        yield


@pytest.fixture(autouse=True, scope="session")
def _remembered_route_builders() -> Iterator[None]:
    """The URL builders of one app reused by the next (tests/route_builders.py)."""
    with remembered_builders():
        yield


@pytest.fixture(autouse=True, scope="session")
def _render_memo() -> Iterator[RenderMemo]:
    """WeasyPrint layouts of self-contained HTML remembered per process (tests/render_memo.py)."""
    memo = RenderMemo()
    memo.install()
    yield memo
    memo.uninstall()


@pytest.fixture(autouse=True)
def _real_renders(request: pytest.FixtureRequest, _render_memo: RenderMemo) -> Iterator[None]:
    """Tests marked real_renders lay out every document themselves."""
    _render_memo.enabled = request.node.get_closest_marker("real_renders") is None
    yield
    _render_memo.enabled = True


# ---- which pass runs a test -------------------------------------------------------------------
# scripts/test runs the suite twice, on SQLite (the embedded default) and on PostgreSQL (the
# production target), and says so with PORTAL_TEST_PASSES=both. Then each test runs in the pass
# where it tells something:
# - a test that does not use the pass's database (it takes no `database_url`, directly or
#   through `app`) would do exactly the same thing twice: the SQLite pass only;
# - a browser test (marker `browser`: what Chromium shows and what the viewer's script sends)
#   runs in the PostgreSQL pass only: the server side of everything it touches is tested on
#   both databases by the route and service tests, and Chromium made up a fifth of the SQLite
#   pass (171 s of 985 s of test time);
# - tests that choose a database themselves from PORTAL_TEST_DATABASE_URL say their pass with a
#   marker: `postgres` (the PostgreSQL pass only) or `both_databases` (each pass, on its own
#   database). A module that reads that variable, directly or through the deployment helpers,
#   without one of the markers is a collection error, so that no test can silently drop out of
#   the pass it was written for.
# - a test whose subject is the same on both databases but that costs a lot of CPU may say which
#   pass runs it with `only_in_pass("sqlite")` or `only_in_pass("postgresql")` (the API fuzz
#   splits its modes: valid requests on SQLite, invalid ones, whose failures are the
#   database's, on PostgreSQL).
# Run alone (plain pytest, or one pass), every test runs.
_POSTGRESQL_PASS_MARKERS = ("postgres", "both_databases", "browser")
_READS_THE_PASS_DATABASE = (
    "PORTAL_TEST_DATABASE_URL",
    "tests.multinode.deployment",
    "tests.deploy.portal_nginx",
)


@functools.cache
def _reads_the_pass_database(path: str) -> str | None:
    source = Path(path).read_text()
    return next((name for name in _READS_THE_PASS_DATABASE if name in source), None)


def _only_in_pass(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("only_in_pass")
    if marker is None:
        return None
    name = marker.args[0]
    if name not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{item.nodeid}: only_in_pass({name!r}): sqlite or postgresql")
    return name


def _in_the_postgresql_pass(item: pytest.Item) -> bool:
    only = _only_in_pass(item)
    if only is not None:
        return only == "postgresql"
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    if any(item.get_closest_marker(name) for name in _POSTGRESQL_PASS_MARKERS):
        return True
    named = _reads_the_pass_database(str(item.path))
    if named:
        raise pytest.UsageError(
            f"{item.nodeid} reads {named} but is marked neither postgres nor both_databases "
            "(tests/conftest.py: which pass runs a test)"
        )
    return False


def _in_the_sqlite_pass(item: pytest.Item) -> bool:
    only = _only_in_pass(item)
    if only is not None:
        return only == "sqlite"
    return not any(item.get_closest_marker(name) for name in ("postgres", "browser"))


def _seconds_alone(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.kwargs["seconds"]) if marker else 0.0


def _longest_first(items: list[pytest.Item]) -> None:
    """Tests marked `long` start first, the longest first; the rest keep pytest's order.

    The suite is CPU-bound and xdist hands out tests in collection order, so a 55 s test that
    happens to be collected last runs alone while the other workers have nothing left: on
    2026-12-06, the PostgreSQL pass spent its last ~60 s on one core. Started first, the long
    tests overlap with the short ones. scripts/test runs xdist's `loadgroup` in this order
    (`--no-loadscope-reorder`): a worker takes the next test when it has two or fewer left;
    xdist's default `load` would hand the first quarter of a worker's share, all the long
    tests, to the first worker at once.
    """
    items.sort(key=lambda item: -_seconds_alone(item))  # stable: the rest keep their order


def _xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under `--dist loadgroup`, put each `xdist_group` test's group in its
    node id, as pytest-xdist does: the controller sends the tests of one group to one worker by
    that suffix. pytest-xdist 3.8 sets Node._nodeid, which pytest 9 no longer reads (a node's
    id is Node._id): every grouped test went to any worker, and each module-scoped deployment
    (nginx, the download gate, the recovery faults) was built once per test, ~300 s of a README
    run. Checked by pytest_collection_finish."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId  # pytest 9; before it, pytest-xdist's own way works
    except ImportError:
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _xdist_groups(config, items)
    _longest_first(items)
    if os.environ.get("PORTAL_TEST_PASSES") != "both":
        return
    on_postgresql = bool(os.environ.get("PORTAL_TEST_DATABASE_URL"))
    belongs = _in_the_postgresql_pass if on_postgresql else _in_the_sqlite_pass
    kept, elsewhere = [], []
    for item in items:
        (kept if belongs(item) else elsewhere).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker under `--dist loadgroup`: every `xdist_group` test must carry its
    group in its node id, which is how pytest-xdist sends a group to one worker (see
    _xdist_groups: with pytest 9 it silently did not)."""
    config = session.config
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("loadgroup", False):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist does not group {len(lost)} xdist_group tests with pytest "
            f"{pytest.__version__} (e.g. {lost[0]}): see tests/conftest.py, _xdist_groups"
        )


def _sync_off(path: str, dbapi_connection, _record) -> None:
    """PRAGMA synchronous=OFF on connections to the test database file (see database_url)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
        if any(row[2] == path for row in rows):
            dbapi_connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator:
    """One headless Chromium per test process, launched by the first browser test: a launch
    costs 1–3 s of CPU, and the browser tests use it through `chromium`
    (tests/browser_support.py), which closes their contexts after each."""
    from tests.browser_support import launch_chromium

    yield from launch_chromium()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite by default; on PostgreSQL a schema of this run's own, dropped at the end.

    A private schema lets several runs (and xdist workers) share one database safely.
    """
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not url:
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        # synchronous=OFF on this file, as synchronous_commit=off on PostgreSQL below: a commit
        # no longer waits for fsync (several per commit in SQLite's rollback journal, tens of ms
        # each on a busy disk). What a commit makes visible to other connections is the same;
        # only a crash of the machine could lose the last commits.
        sa.event.listen(sa.engine.Engine, "connect", functools.partial(_sync_off, str(path)))
        yield f"sqlite:///{path}"
        return
    schema = f"portal_test_{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        skip_or_fail(f"database {url} unreachable: {exc.orig}")
    separator = "&" if "?" in url else "?"
    # synchronous_commit=off: a commit returns before its WAL reaches the disk (2.9 ms -> 0.4 ms a
    # commit here, more on a busy disk). What a commit makes visible to other sessions is the
    # same; only a crash of the PostgreSQL server itself could lose the last commits, and no
    # test crashes it.
    options = f"-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    yield f"{url}{separator}options={options}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from flask_migrate import upgrade

    from portal.schema_migrations import enable_migrations

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STORAGE_LOCAL_PATH": str(tmp_path_factory.mktemp("storage-migrate")),
        }
    )
    enable_migrations(app)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


def _empty_tables() -> None:
    """Every table emptied, children first, and (on PostgreSQL) every sequence back to 1.

    DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of the ~40 tables costs 0.25–0.5 s (it makes
    new files for every table and index, and waits on the disk), a DELETE of the few rows a test
    leaves about 2 ms; the app fixture empties the tables twice per test. tests/engagement and
    tests/deals on PostgreSQL, one after the other under the same load: 595 s with TRUNCATE,
    246 s with DELETE. One round trip: the statements go as one batch.
    """
    with db.engine.begin() as conn:
        deletes = _deletes(conn.dialect)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("; ".join(deletes))
            # RESTART IDENTITY's part: ids start at 1 again, as on a fresh database
            conn.exec_driver_sql(
                "SELECT setval(c.oid, 1, false) FROM pg_class c"
                " WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace"
            )
        else:  # sqlite3 runs one statement per call
            for delete in deletes:
                conn.exec_driver_sql(delete)


_DELETES: dict[str, tuple[str, ...]] = {}


def _deletes(dialect: sa.Dialect) -> tuple[str, ...]:
    """DELETE FROM every table, children first, compiled once per process and database kind
    (the tables never change within a run): compiling ~45 statements twice a test was most of
    what emptying cost on SQLite."""
    deletes = _DELETES.get(dialect.name)
    if deletes is None:
        deletes = _DELETES[dialect.name] = tuple(
            str(table.delete().compile(dialect=dialect))
            for table in reversed(db.metadata.sorted_tables)
        )
    return deletes


@pytest.fixture
def app_config(migrated_database: str, tmp_path: Path) -> dict:
    """Override in a test module to change settings; the app fixture reads it."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": migrated_database,
        "STORAGE_BACKEND": "local",
        "STORAGE_LOCAL_PATH": str(tmp_path / "storage"),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "portal.test",
        "BASE_URL": "http://portal.test",
        "RATELIMIT_ENABLED": False,
    }


class _TemplateCodeInMemory(BytecodeCache):
    """Jinja's compiled templates shared by the apps of one test process. Every test makes its
    own app, whose Jinja environment parsed and compiled each page and layout it rendered
    again (~40 ms a template); Jinja's bytecode cache is made for this: a bucket is keyed by
    the template's name and its source's checksum, so an edited template compiles anew."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _TemplateCodeInMemory()


_ENGINES: dict[str, sa.Engine] = {}


def _engine_for(migrated_database: str, make_engine):
    """Flask-SQLAlchemy's engine factory, with the engine of the pass's own database made once
    per test process and handed to every app after the first.

    Every test makes its own app, and so it had its own engine: a new dialect, a new pool and
    an empty statement cache, so each test compiled every SQL statement it ran again (about a
    sixth of the CPU of tests/delivery, tests/tracking and tests/engagement, cProfile,
    2026-12-06) and, on PostgreSQL, started new server processes. An app with any other URL or
    engine options (a database of its own, an application_name) gets an engine of its own.
    What a test could leave on a shared engine: pooled connections, which are rolled back when
    checked in (the pool's reset) and pinged before use (pool_pre_ping, as in production);
    event listeners, which the statement counters remove (portal.statement_count).
    """

    def engine(bind_key, options: dict, app: Flask) -> sa.Engine:
        if bind_key is not None or str(options.get("url")) != migrated_database:
            return make_engine(bind_key, options, app)
        key = repr(sorted((name, repr(value)) for name, value in options.items()))
        if key not in _ENGINES:
            _ENGINES[key] = make_engine(bind_key, options, app)
        return _ENGINES[key]

    return engine


@pytest.fixture
def app(
    app_config: dict, migrated_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Flask]:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(db, "_make_engine", _engine_for(migrated_database, db._make_engine))
    application = create_app(app_config)
    application.jinja_env.bytecode_cache = _TEMPLATE_CODE
    with application.app_context():
        shared = db.engine in _ENGINES.values()
        _empty_tables()
        yield application
        link_cache.close(application)  # its listener thread stops reading the database
        db.session.remove()
        _empty_tables()
        if not shared:
            db.engine.dispose()


class FreshClient(FlaskClient):
    """Each request starts with an empty `g`, as in production.

    The app fixture keeps one app context pushed for the whole test, and Flask reuses it for
    every request, so `g` (Flask-Login's user, Flask-Babel's locale) would leak between
    requests and hide a sign-out or a language switch.
    """

    def open(self, *args, **kwargs):
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = FreshClient
    return app.test_client()


@pytest.fixture
def login(client: FlaskClient):
    """login(user) signs the test client in through the form (make_user's password)."""

    def sign_in(user, password: str = "password123", follow: bool = False):
        response = client.post(
            "/login",
            data={"email": user.email, "password": password},
            follow_redirects=follow,
        )
        if not follow:
            assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return sign_in


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


_FIXTURE_PASSWORD = "fixture-only-Xq7-passphrase"


@functools.cache
def _hash_of(password: str) -> str:
    """At the tests' work factor (TEST_PASSWORD_HASH): a sign-in checks the password against
    this hash, and at werkzeug's default (scrypt n=32768) each check took ~64 ms, a quarter
    of the CPU of tests/routes and tests/deals (cProfile, 2026-12-06)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method=TEST_PASSWORD_HASH)


@pytest.fixture
def make_user(app: Flask):
    """make_user("rep", team="华东") -> a committed User (password 'password123')."""
    from portal.accounts.services import create_user

    counter = iter(range(1, 10_000))

    def make(
        role: str = "rep",
        *,
        email: str | None = None,
        name: str | None = None,
        team: str | None = None,
        region: str | None = None,
        supervisor: str | None = None,
        password: str = "password123",
    ):
        n = next(counter)
        user = create_user(
            email or f"{role}{n}@example.com",
            name=name or f"{role.title()} {n}",
            role=role,
            password=_FIXTURE_PASSWORD,
            supervisor_email=supervisor,
            team=team,
            region=region,
        )
        # Test accounts sign in with a short, well-known password (password123): one a person
        # may no longer choose (portal.accounts.passwords), so it is set as a hash, as if from
        # before the password rules; the rules are tested in tests/security/test_passwords.py.
        user.password_hash = _hash_of(password)
        db.session.commit()
        return user

    return make


@pytest.fixture
def api_headers(app: Flask):
    """api_headers(user) -> {'Authorization': 'Bearer …'} with a fresh token."""
    from portal.accounts.services import issue_api_token

    def headers(user) -> dict[str, str]:
        token = issue_api_token(user, name="test")
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def world(make_user):
    """A supervisor, their rep with a customer, marketing, and a 2-page quote template."""
    from tests.delivery.helpers import World, make_customer, make_template

    supervisor = make_user("supervisor", email="boss@example.com")
    rep = make_user("rep", email="rep@example.com", supervisor="boss@example.com")
    marketing = make_user("marketing")
    return World(
        marketing=marketing,
        rep=rep,
        supervisor=supervisor,
        customer=make_customer(rep),
        template=make_template(marketing),
    )


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """Start the shared S3 server; its endpoint and credentials, exported for the session."""
    env = shared_s3_settings()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield env


SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def shared_redis_url() -> str:
    """Redis database 0, shared by every test run at once: a test using it works under a key
    prefix or queue name of its own (processes under test get a database of their own:
    tests/multinode/cluster.private_redis). Skips, or fails under CI=true, without Redis."""
    import redis

    try:
        redis.Redis.from_url(SHARED_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        skip_or_fail(f"Redis at {SHARED_REDIS_URL} unreachable: {exc}")
    return SHARED_REDIS_URL
