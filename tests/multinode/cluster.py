"""Real Portal processes for tests: app nodes (gunicorn), RQ workers, CLI commands.

Import as `from tests.multinode.cluster import …`. Every process gets its environment from
`portal_env` (database, Redis, storage, a shared secret key), logs to a file of its own, and is
stopped by its pid when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from bench.processes import descendants, kill_left
from tests.support import skip_or_fail, wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REDIS_BASE = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379")
CLAIM_KEY = "portal-test:claimed-by"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Claim an empty database in one step: checking DBSIZE and then setting the claim in two calls
# let another claimer (the bench's, with another key) take the same database in between.
_CLAIM = """
if redis.call('dbsize') == 0 then return redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return false
"""

# Flush only a database still ours: a claim that is gone means someone else may hold it now.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('flushdb') return 1 end
return 0
"""


def redis_databases(worker: str | None = None) -> list[int]:
    """The databases to try, first the one this xdist worker owns (gw0: 15, gw1: 14 …), so
    parallel workers of one run never meet; the claim still guards against other runs."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    mine = 15 - index % 15
    return [mine, *(n for n in range(15, 0, -1) if n != mine)]


@contextmanager
def private_redis() -> Iterator[str]:
    """A Redis database (1-15) no other test uses meanwhile: claimed empty, flushed after.

    RQ's keys have a fixed prefix and the worker's queue a fixed name, so processes under test
    get a database of their own rather than a key prefix."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    owner = f"{socket.gethostname()}:{os.getpid()}:{time.time()}"
    for number in redis_databases():
        url = f"{REDIS_BASE}/{number}"
        connection = Redis.from_url(url)
        try:
            if connection.eval(_CLAIM, 1, CLAIM_KEY, owner, 3600):
                break
        except RedisConnectionError as exc:
            skip_or_fail(f"Redis at {REDIS_BASE} unreachable: {exc}")
        connection.close()
    else:
        skip_or_fail(f"no free Redis database (1-15) at {REDIS_BASE}")
    try:
        yield url
    finally:
        connection.eval(_RELEASE, 1, CLAIM_KEY, owner)
        connection.close()


@contextmanager
def private_schema(base_url: str, name: str) -> Iterator[str]:
    """A PostgreSQL schema of its own (search_path in the URL, as tests/conftest.py does)."""
    engine = sa.create_engine(base_url)
    schema = f"portal_{name}_{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        skip_or_fail(f"database {base_url} unreachable: {exc.orig}")
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def portal_env(
    workdir: Path,
    *,
    database_url: str,
    redis_url: str | None = None,
    secret_key: str = "multinode-test-secret-key-shared-by-every-node",
    storage: dict[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of one Portal process. Each gets its own instance folder, so nothing can
    be shared through it: whatever the nodes share must come from the database, S3 or Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    instance = workdir / f"instance-{len(list(workdir.glob('instance-*')))}"
    env.update(
        {
            "PORTAL_INSTANCE_PATH": str(instance),
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_SECRET_KEY": secret_key,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if redis_url:
        env["PORTAL_REDIS_URL"] = redis_url
    env.update(storage or {"PORTAL_STORAGE": "local", "PORTAL_STORAGE_PATH": str(instance / "st")})
    env.update(extra)
    return env


def venv_run(env: dict[str, str], program: str, *args: str, timeout: float = 120) -> str:
    """Run one of the virtualenv's commands (python, flask …) with ARGS in the project folder, a
    fresh process, and return its output; fail with the output on an error."""
    result = subprocess.run(
        [str(VENV_BIN / program), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    command = " ".join((program, *args))
    assert result.returncode == 0, f"{command[:300]}:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result.stdout


def flask_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run `flask --app wsgi ARGS…` and return its output; fail with the output on an error."""
    return venv_run(env, "flask", "--app", "wsgi", *args, timeout=timeout)


_PREPARE = """
import json, sys
from flask_migrate import upgrade
from portal import jobs
from portal.accounts import services
from portal.schema_migrations import enable_migrations
from wsgi import app

asked = json.loads(sys.argv[1])
enable_migrations(app)
with app.app_context():
    upgrade()
    for person in asked["users"]:
        services.create_user(password=asked["password"], **person)
        jobs.commit()
    tokens = {}
    for email in asked["tokens_for"]:
        tokens[email] = services.issue_api_token(services.get_user_by_email(email), name="cli")
        jobs.commit()
print(json.dumps(tokens))
"""
_USER_OPTIONS = {"--supervisor": "supervisor_email", "--team": "team", "--region": "region"}


def prepare_database(
    env: dict[str, str],
    users: Sequence[tuple[str, str, Sequence[str]]],
    *,
    password: str,
    tokens_for: Sequence[str] = (),
) -> dict[str, str]:
    """What `flask --app wsgi db upgrade`, `users create EMAIL --role ROLE --name …` per user
    (with its extra options: --supervisor, --team, --region) and `users token EMAIL` per
    tokens_for do, through the same services in one process: as five `flask` runs it cost five
    imports of the app, 2–3 s of CPU each. The API tokens, by e-mail."""
    people = []
    for email, role, extra in users:
        options = dict(zip(extra[::2], extra[1::2], strict=True))
        person = {"email": email, "role": role, "name": role.title()}
        person.update({_USER_OPTIONS[option]: value for option, value in options.items()})
        people.append(person)
    asked = {"users": people, "password": password, "tokens_for": list(tokens_for)}
    prepared = venv_run(env, "python", "-c", _PREPARE, json.dumps(asked), timeout=180)
    return json.loads(prepared.strip().splitlines()[-1])


class Proc:
    """A long-running process (app node or worker), logging to a file, stopped by its pid."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self._descendants: set[tuple[int, int]] = set()  # (pid, start time): see stop()
        # A session of its own, so stop() can reach what it forked with one signal to the
        # group (an RQ work horse, in a group of its own, is reached through _descendants).
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self._descendants |= descendants(self.process.pid)
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            self.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever it left behind
        # An RQ work horse runs in a process group of its own (RQ calls setpgrp), out of the group's
        # reach: one that outlived its worker went on draining the Redis database the next test
        # claims, and set aside that test's reports as another deployment's.
        kill_left(self._descendants)
        self._log.close()


def start_worker(name: str, env: dict[str, str], log_dir: Path, *args: str) -> Proc:
    return Proc(name, [str(VENV_BIN / "flask"), "--app", "wsgi", "worker", *args], env, log_dir)


def start_node(name: str, env: dict[str, str], log_dir: Path, workers: int = 2) -> tuple[Proc, str]:
    """An app node on a free port: gunicorn (gthread, `workers` processes) when installed,
    else `flask run`. Returns the process and its base URL once it answers."""
    import urllib3

    port = free_port()
    gunicorn = shutil.which("gunicorn", path=str(VENV_BIN))
    if gunicorn:
        # The project's gunicorn.conf.py (when there is one) with this node's address; two
        # processes of four threads each by default, so one node is already more than one
        # process.
        argv = [
            gunicorn,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--graceful-timeout",  # idle keep-alive connections need not hold the stop up
            "5",
            "wsgi:app",
        ]
    else:
        argv = [str(VENV_BIN / "flask"), "--app", "wsgi", "run", "--port", str(port)]
    proc = Proc(name, argv, env, log_dir)
    base = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager()

    def answers() -> bool:
        if not proc.alive():
            raise AssertionError(f"{name} exited:\n{proc.log()[-3000:]}")
        try:
            return http.request("GET", f"{base}/login", retries=False, timeout=2).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    wait_until(answers, 60, f"{name} to answer on {base}")
    return proc, base


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM to all at once, then wait for each (SIGKILL after 15 s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.stop()


# -- S3 -------------------------------------------------------------------------------------------


def s3_storage_env(settings: dict[str, str], bucket: str) -> dict[str, str]:
    return {
        "PORTAL_STORAGE": "s3",
        "PORTAL_S3_BUCKET": bucket,
        "PORTAL_S3_ENDPOINT_URL": settings["S3_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": settings["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": settings["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": settings["AWS_DEFAULT_REGION"],
    }


def drop_bucket(settings: dict[str, str], bucket: str) -> None:
    """Delete every key one by one (Swift's DeleteObjects wants Content-MD5), then the bucket."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.client(
        "s3",
        endpoint_url=settings["S3_ENDPOINT_URL"],
        region_name=settings["AWS_DEFAULT_REGION"],
        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"NoSuchBucket", "404"}:
            raise


# -- HTTP -----------------------------------------------------------------------------------------

BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36"


class Browser:
    """An HTTP client with a cookie jar of its own (no redirects followed).

    Cookies are kept by name, whichever node set them, as a browser does for one site behind a
    load balancer: a session begun on one node is sent to the other."""

    def __init__(self, user_agent: str = BROWSER_UA, headers: dict[str, str] | None = None):
        import urllib3

        self.http = urllib3.PoolManager(retries=False, timeout=60)
        self.cookies: dict[str, str] = {}
        self.headers = {"User-Agent": user_agent, **(headers or {})}

    def request(self, method: str, url: str, **kwargs: Any):
        from http.cookies import SimpleCookie

        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(method, url, headers=headers, redirect=False, **kwargs)
        for raw in response.headers.getlist("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, url: str, **kwargs: Any):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any):
        return self.request("POST", url, **kwargs)
