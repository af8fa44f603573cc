"""The production stack the figures run on, started for one bench run and removed after it.

PostgreSQL: a schema of the run's own in the given database (search_path set in the URL), built
by the real migrations (`flask --app wsgi db upgrade`). Redis: a database number nobody uses
(claimed with a marker key, flushed at the end). S3: the loopback server of ../shared/s3 and a
bucket of the run's own. gunicorn (gthread, gunicorn.conf.py) and RQ workers
(`flask --app wsgi worker`) are started on demand, as subprocesses of this process, and stopped
by their pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import s3_server
from bench.processes import descendants, kill_left

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
REDIS_MARKER = "portal-bench:claimed-by"
REDIS_DATABASES = range(15, 0, -1)  # never 0: the default database other tools use
# One step each (the tests' private_redis claims the same databases with another key: a check
# and a set in two calls let both take one database, and one's flush emptied the other's).
_CLAIM_EMPTY = """
if redis.call('dbsize') == 0 then return redis.call('set', KEYS[1], ARGV[1]) end
return false
"""
_FLUSH_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('flushdb') return 1 end
return 0
"""


class StackError(RuntimeError):
    """A part of the stack could not be started; the message says which and why."""


@dataclass
class StackOptions:
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    redis_url: str | None = "redis://127.0.0.1:6379"  # None: no Redis, jobs run inline
    storage: str = "s3"  # or "local"
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    rq_workers: int = 1
    # The RQ workers' nice level. On this one box they stand in for worker nodes (docs/deploy.md:
    # workers run apart from the app nodes), so by default they yield the CPU to the request
    # path while wrk drives it and drain the queue when it is free; 0 shares the CPU evenly.
    worker_nice: int = 19
    # Workers that take only alerts (`flask worker --alerts-only`), not niced: the topology
    # docs/deploy.md recommends, so that an alert never waits for the drains' CPU.
    alerts_workers: int = 1
    keep: bool = False  # leave the schema, bucket and folder for a look afterwards


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _s3_env() -> dict[str, str]:
    """Start the S3 server when needed (idempotent) and return its endpoint and credentials."""
    if not s3_server.START_S3.exists():
        raise StackError(f"no S3 server script at {s3_server.START_S3}: use --storage local")
    try:
        s3_server.run_start_s3(timeout=300)  # under the lock scripts/test's own start holds
        out = s3_server.run_start_s3("env", timeout=60)
    except s3_server.S3ServerError as exc:
        raise StackError(str(exc)) from None
    values: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export ") :].partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return {
        "PORTAL_STORAGE": "s3",
        "PORTAL_S3_ENDPOINT_URL": values["S3_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": values["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": values["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": values.get("AWS_DEFAULT_REGION", "us-east-1"),
    }


@dataclass
class Stack:
    options: StackOptions
    name: str = field(default_factory=lambda: f"bench_{os.getpid()}_{secrets.token_hex(3)}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="portal-bench-")))
    env: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    base_url: str = ""
    _schema: str | None = None
    _extra_schemas: list[str] = field(default_factory=list)
    _redis_db: int | None = None
    _extra_redis: list[str] = field(default_factory=list)
    _bucket: str | None = None
    _server: subprocess.Popen | None = None
    _accel: subprocess.Popen | None = None
    _accel_url: str = ""
    _nginx: Any = None  # bench.nginx.Nginx
    _workers: list[subprocess.Popen] = field(default_factory=list)
    _app: Any = None
    # nginx's download gate (deploy/nginx/portal_gate.lua): the same secret for the app behind
    # nginx and for nginx, as docs/deploy.md recommends.
    gate_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    # -- setting up ---------------------------------------------------------------------------

    def start(self) -> None:
        """Database schema, Redis database, S3 bucket, instance folder; then the migrations."""
        self.env = {
            "PORTAL_INSTANCE_PATH": str(self.workdir / "instance"),
            "PORTAL_SECRET_KEY": secrets.token_urlsafe(32),
            "PORTAL_BENCH_ROUTES": "1",
            # P9's chat robot stand-in listens on loopback, which the outbox refuses otherwise.
            "PORTAL_WEBHOOK_ALLOW_PRIVATE": "1",
        }
        (self.workdir / "instance").mkdir(parents=True, exist_ok=True)
        self.database_url = self._database()
        self.env["PORTAL_DATABASE_URL"] = self.database_url
        if self.options.redis_url:
            self.env["PORTAL_REDIS_URL"] = self._redis()
        if self.options.storage == "s3":
            self.env.update(_s3_env())
            self._bucket = self.name.replace("_", "-")
            self.env["PORTAL_S3_BUCKET"] = self._bucket
        else:
            self.env["PORTAL_STORAGE"] = "local"
            self.env["PORTAL_STORAGE_PATH"] = str(self.workdir / "storage")
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env.update(
            {
                "PORTAL_BASE_URL": self.base_url,
                "PORTAL_BIND": f"127.0.0.1:{port}",
                "PORTAL_WORKERS": str(self.options.gunicorn_workers),
                "PORTAL_THREADS": str(self.options.gunicorn_threads),
                "PORTAL_ACCESS_LOG": str(self.workdir / "access.log"),
                "PORTAL_ERROR_LOG": str(self.workdir / "gunicorn.log"),
            }
        )
        # The in-process app (seeding, P3, P5) reads the same configuration as the server.
        os.environ.update(self.env)
        self.flask("db", "upgrade")

    def _database(self) -> str:
        url = self.options.database_url
        if not url.startswith("postgresql"):
            return url
        self._schema = self.name
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self._schema}"'))
        except sa.exc.OperationalError as exc:
            raise StackError(f"PostgreSQL at {url} is unreachable: {exc.orig}") from None
        finally:
            engine.dispose()
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}options=-csearch_path%3D{self._schema}"

    def extra_database(self, suffix: str) -> str:
        """Another schema of the run's own, migrated (P4's large data set lives apart)."""
        url = self.options.database_url
        if not url.startswith("postgresql"):
            raise StackError("this figure needs PostgreSQL (--database-url postgresql+psycopg://…)")
        schema = f"{self.name}_{suffix}"
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        finally:
            engine.dispose()
        self._extra_schemas.append(schema)
        separator = "&" if "?" in url else "?"
        # application_name: what a stopped run's server-side work is found (and ended) by
        extra = f"{url}{separator}options=-csearch_path%3D{schema}&application_name={schema}"
        self.flask("db", "upgrade", env={"PORTAL_DATABASE_URL": extra})
        return extra

    def end_backends(self, url: str) -> None:
        """End the PostgreSQL backends still working for `url`'s application_name (a command
        stopped at its timeout leaves its statement running on the server)."""
        name = url.rsplit("application_name=", 1)[-1]
        engine = sa.create_engine(self.options.database_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
        finally:
            engine.dispose()

    def _redis(self) -> str:
        url = self._claim_redis()
        self._redis_db = int(url.rsplit("/", 1)[1])
        return url

    def extra_redis(self) -> str:
        """One more empty Redis database of this run's own (flushed at the end): a figure's
        queue that no other worker of the stack takes jobs from."""
        url = self._claim_redis()
        self._extra_redis.append(url)
        return url

    def _claim_redis(self) -> str:
        from redis import Redis

        base = self.options.redis_url.rstrip("/")
        for number in REDIS_DATABASES:
            client = Redis.from_url(f"{base}/{number}")
            try:
                if client.eval(_CLAIM_EMPTY, 1, REDIS_MARKER, self.name):
                    return f"{base}/{number}"
            except OSError as exc:
                raise StackError(f"Redis at {base} is unreachable: {exc}") from None
            finally:
                client.close()
        raise StackError(f"no empty Redis database at {base} (tried 15 down to 1)")

    def flask(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """`flask --app wsgi ARGS` with the stack's environment; StackError if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    # -- the in-process app ---------------------------------------------------------------------

    def app(self):
        """The app in this process, on the same database and storage as the server. Jobs run
        inline here (seeding must be finished when a figure starts), CSRF is off for the test
        client's sign-in."""
        if self._app is None:
            from portal import create_app

            self._app = create_app(
                {"JOBS_INLINE": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
            )
        return self._app

    # -- processes ----------------------------------------------------------------------------

    def server(self) -> str:
        """Start gunicorn once (gunicorn.conf.py, gthread) and the RQ workers; the base URL."""
        if self._server is None:
            self._server = self._gunicorn("server", self.env)
            self._wait_healthy(self._server, self.base_url)
            self.start_workers()
        return self.base_url

    def accel_server(self) -> str:
        """A second gunicorn on the same database, storage and instance folder (so the same node
        cache), set up to sit behind nginx: PORTAL_DOWNLOADS=accel, PORTAL_PROXY_FIX=1. Its
        base URL (nginx's upstream: see nginx())."""
        self.server()
        if self._accel is None:
            port = free_port()
            env = {
                **self.env,
                "PORTAL_DOWNLOADS": "accel",
                "PORTAL_PROXY_FIX": "1",
                "PORTAL_DOWNLOAD_GATE_SECRET": self.gate_secret,
                "PORTAL_BIND": f"127.0.0.1:{port}",
                "PORTAL_ACCESS_LOG": str(self.workdir / "access-accel.log"),
                "PORTAL_ERROR_LOG": str(self.workdir / "gunicorn-accel.log"),
            }
            self._accel = self._gunicorn("server-accel", env)
            self._accel_url = f"http://127.0.0.1:{port}"
            self._wait_healthy(self._accel, self._accel_url)
        return self._accel_url

    def nginx(self, extra: str = "") -> str:
        """nginx as deploy/nginx/portal.conf ships it (bench.nginx) in front of accel_server(),
        one worker process, no access log; `extra`: more locations. Its base URL."""
        if self._nginx is None:
            from bench.nginx import Nginx, NginxError

            upstream = self.accel_server().removeprefix("http://")
            cache = Path(self.env["PORTAL_INSTANCE_PATH"]) / "render-cache"
            cache.mkdir(parents=True, exist_ok=True)
            storage = self.env.get("PORTAL_STORAGE_PATH")
            self._nginx = Nginx(
                self.workdir / "nginx",
                upstream,
                cache,
                Path(storage) if storage else None,
                extra=extra,
                access_log=False,
                gate_secret=self.gate_secret,
            )
            try:
                self._nginx.start()
            except NginxError as exc:
                raise StackError(str(exc)) from None
        return self._nginx.base_url

    def _gunicorn(self, name: str, env: dict[str, str]) -> subprocess.Popen:
        logfile = (self.workdir / f"{name}.log").open("wb")  # the app's own log lines
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )

    def _wait_healthy(self, process: subprocess.Popen, base_url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"gunicorn exited: see the logs in {self.workdir} (run with --keep to look "
                    "at them)"
                )
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackError(f"gunicorn did not answer /healthz in {timeout:.0f} s")

    def start_workers(self) -> None:
        if not self.options.redis_url or self._workers:
            return
        # with an alerts worker, the niced ones leave the alerts to it; they run their jobs
        # in-process (docs/deploy.md: --no-fork; no --max-jobs: nothing here would restart them)
        general = ("--no-fork", "--no-alerts") if self.options.alerts_workers else ("--no-fork",)
        for number in range(self.options.rq_workers):
            self._start_worker(f"worker-{number}", self.options.worker_nice, *general)
        # docs/deploy.md: the alerts worker runs at normal priority beside the niced ones
        for number in range(self.options.alerts_workers):
            self._start_worker(f"alerts-worker-{number}", 0, "--alerts-only")

    def _start_worker(self, name: str, nice: int, *args: str) -> None:
        logfile = (self.workdir / f"{name}.log").open("wb")
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args]
        self._workers.append(
            subprocess.Popen(
                ["nice", "-n", str(nice), *command],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=logfile,
                stderr=subprocess.STDOUT,
            )
        )

    @contextlib.contextmanager
    def workers_paused(self):
        """The RQ workers stopped (SIGSTOP) while the block runs, then resumed: a figure of the
        app node alone. docs/deploy.md runs the workers on machines of their own; on this one
        box even niced ones took ~45 % of a core from the node being measured (P1n, storing
        the downloads it recorded). What was queued meanwhile waits in Redis, durable."""
        pids = self.worker_pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def worker_pids(self) -> list[int]:
        return [worker.pid for worker in self._workers if worker.poll() is None]

    def server_pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    # -- tearing down -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop what was started (by pid), then drop the schema, Redis database and bucket."""
        if self._nginx is not None:
            self._nginx.stop()
        below: set[tuple[int, int]] = set()  # work horses escape the groups: see bench.processes
        for process in [*self._workers, self._server, self._accel]:
            if process is not None and process.poll() is None:
                below |= descendants(process.pid)
                process.send_signal(signal.SIGTERM)
                if process in self._workers:
                    # a worker paused by workers_paused() (an interrupted figure) hears no TERM
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGCONT)
        for process in [*self._workers, self._server, self._accel]:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        kill_left(below)
        if self._app is not None:
            from portal.delivery import link_cache
            from portal.extensions import db

            # the in-process app's link cache polls the schema about to be dropped
            link_cache.close(self._app)
            with self._app.app_context():
                db.session.remove()
                db.engine.dispose()
        if self.options.keep:
            log.warning("kept: schema %s, bucket %s, %s", self._schema, self._bucket, self.workdir)
            return
        with contextlib.suppress(Exception):
            self._drop_bucket()
        with contextlib.suppress(Exception):
            self._drop_redis()
        with contextlib.suppress(Exception):
            self._drop_schema()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _drop_schema(self) -> None:
        schemas = [s for s in [self._schema, *self._extra_schemas] if s]
        if not schemas:
            return
        engine = sa.create_engine(self.options.database_url)
        try:
            with engine.begin() as conn:
                for schema in schemas:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()

    def _drop_redis(self) -> None:
        from redis import Redis

        urls = [*([self.env["PORTAL_REDIS_URL"]] if self._redis_db is not None else [])]
        for url in [*urls, *self._extra_redis]:
            client = Redis.from_url(url)
            try:
                client.eval(_FLUSH_IF_OURS, 1, REDIS_MARKER, self.name)
            finally:
                client.close()

    def _drop_bucket(self) -> None:
        if self._bucket is None:
            return
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self.env["PORTAL_S3_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=self._bucket, Key=item["Key"])  # one by one: Swift
        client.delete_bucket(Bucket=self._bucket)
