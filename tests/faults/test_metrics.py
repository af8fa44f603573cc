"""GET /metrics while the read-report path goes through an outage, and the outage's log lines.

- The stream length rises while no drain runs (no worker) and returns to 0 after a drain; the
  oldest entry's age grows meanwhile.
- A Redis of the test's own (AOF on) killed with -9: every report is refused with 503 and
  Retry-After, the log says so once (with the reason), the scrape says Redis is down; Redis
  restarted: the stream is still there, the log says once how long and how many were refused,
  the drain empties it. No traceback is logged for any refusal.
- Only a scraper with the token reads /metrics; requests are labelled by URL rule, never path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal import jobs, outage_log
from portal.tracking import ingest_path
from tests.faults.own_redis import OwnRedis
from tests.support import skip_or_fail, wait_until
from tests.tracking.test_ingest import (  # noqa: F401  (world_fixture: the `world` fixture)
    batch,
    deliver,
    open_session,
    report,
    world_fixture,
)

SHARED_REDIS = "redis://127.0.0.1:6379/0"
TOKEN = "scrape-token-for-tests"
ROOT = Path(__file__).resolve().parents[2]  # the worktree: its portal package


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "INGEST_REDIS_PREFIX": f"portal-test-{uuid.uuid4().hex[:12]}",
        "METRICS_TOKEN": TOKEN,
        "OUTAGE_PROBE_SECONDS": 0,  # probe on every request: the test need not wait a second
    }


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(name, sorted labels): value} of a scrape's text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, token: str | None = TOKEN) -> dict[tuple[str, tuple], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.get_data(as_text=True))


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


def post(client, body):
    return client.post("/t/r", data=json.dumps(body), content_type="application/json")


def use_redis(app, monkeypatch, url: str) -> str:
    """Reports go through the stream on `url` from here on; the RQ queue is the test's own."""
    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    jobs.use_app_for_jobs(app)
    assert ingest_path.queued()
    return queue_name


def run_worker(url: str, queue_name: str) -> None:
    from redis import Redis
    from rq import Queue

    from portal.job_workers import SimpleWorker

    connection = Redis.from_url(url)
    SimpleWorker([Queue(queue_name, connection=connection)], connection=connection).work(burst=True)


@pytest.fixture
def delivery(world):
    """Sent (and rendered, jobs inline) before Redis is switched on: list it before Redis."""
    return deliver(world)


@pytest.fixture
def shared_redis(app, monkeypatch) -> Iterator[str]:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis.from_url(SHARED_REDIS)
    try:
        client.ping()
    except RedisConnectionError as exc:
        skip_or_fail(f"Redis at {SHARED_REDIS} unreachable: {exc}")
    queue_name = use_redis(app, monkeypatch, SHARED_REDIS)
    yield queue_name
    for pattern in (f"{app.config['INGEST_REDIS_PREFIX']}:*", f"rq:*{queue_name}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.kill()


# -- the stream length ---------------------------------------------------------------------------


def test_the_stream_length_rises_while_no_drain_runs_and_returns_to_0_after_one(
    app, client, world, delivery, shared_redis
):
    opened = open_session(delivery)
    lengths = []
    for _ in range(3):
        assert post(client, batch(opened, report(ms=500))).status_code == 202
        lengths.append(value(scrape(client), "portal_ingest_stream_length"))
    time.sleep(1.1)
    during = scrape(client)
    drains = during.get(("portal_ingest_drains_total", (("outcome", "done"),)), 0)

    assert lengths == [1, 2, 3]  # no worker runs: nothing drains them
    assert value(during, "portal_ingest_oldest_entry_age_seconds") >= 1
    assert value(during, "portal_redis_up") == 1
    assert value(during, "portal_jobs", state="queued") == 1  # the one drain job, waiting
    assert value(during, "portal_rq_workers") == 0

    run_worker(SHARED_REDIS, shared_redis)

    after = scrape(client)
    assert value(after, "portal_ingest_stream_length") == 0
    assert value(after, "portal_ingest_oldest_entry_age_seconds") == 0
    assert value(after, "portal_ingest_pending_entries") == 0
    assert value(after, "portal_jobs", state="queued") == 0
    assert value(after, "portal_ingest_drains_total", outcome="done") == drains + 1


# -- a Redis outage: refused, logged once, the stream kept ---------------------------------------


def test_a_redis_outage_is_logged_once_scraped_as_down_and_the_stream_survives_it(
    app, client, world, delivery, own_redis, monkeypatch, caplog
):
    opened = open_session(delivery)
    queue_name = use_redis(app, monkeypatch, own_redis.url)
    for _ in range(2):
        assert post(client, batch(opened, report(ms=500))).status_code == 202
    assert value(scrape(client), "portal_ingest_stream_length") == 2
    caplog.set_level(logging.INFO)
    refused_before = scrape(client).get(
        ("portal_outage_refusals_total", (("service", "redis"),)), 0
    )

    own_redis.kill()
    answers = [post(client, batch(opened, report(ms=500))) for _ in range(5)]
    during = scrape(client)

    assert [a.status_code for a in answers] == [503] * 5
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers)
    assert answers[0].json["error"]["code"] == "service_unavailable"
    assert value(during, "portal_redis_up") == 0
    assert value(during, "portal_outage_refusals_total", service="redis") == refused_before + 5
    started = [r for r in caplog.records if "redis unavailable" in r.getMessage()]
    assert len(started) == 1
    assert "Connection" in started[0].getMessage()  # the reason

    own_redis.start()  # the AOF brings the stream back
    after = scrape(client)

    ended = [r for r in caplog.records if "redis available again" in r.getMessage()]
    assert len(ended) == 1
    assert "5 requests were refused" in ended[0].getMessage()
    assert [r for r in caplog.records if r.exc_info] == []  # no traceback for any refusal
    assert value(after, "portal_redis_up") == 1
    assert value(after, "portal_ingest_stream_length") == 2
    assert not outage_log.of(app).is_open("redis")

    run_worker(own_redis.url, queue_name)

    assert value(scrape(client), "portal_ingest_stream_length") == 0
    assert post(client, batch(opened, report(ms=500))).status_code == 202
    assert len([r for r in caplog.records if "redis unavailable" in r.getMessage()]) == 1


def test_an_outage_that_goes_on_logs_no_more_lines_whatever_else_is_served(
    app, client, world, delivery, monkeypatch, caplog
):
    """Requests that do not need Redis (a health check) succeed meanwhile: they do not end the
    outage, so the next refusal does not start a new one (and log again)."""
    opened = open_session(delivery)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on: connection refused
    use_redis(app, monkeypatch, f"redis://127.0.0.1:{closed.getsockname()[1]}/0")
    caplog.set_level(logging.INFO)
    try:
        for _ in range(4):
            assert post(client, batch(opened, report(ms=500))).status_code == 503
            assert client.get("/healthz").status_code == 200
    finally:
        closed.close()

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("portal.")]
    assert len([line for line in lines if "redis unavailable" in line]) == 1
    assert not [line for line in lines if "available again" in line]
    assert [r for r in caplog.records if r.exc_info] == []
    assert outage_log.of(app).is_open("redis")


# -- who may scrape, and what is labelled --------------------------------------------------------


def test_metrics_need_the_token(app, client, monkeypatch):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    assert client.get("/metrics").status_code == 404  # no token set: no endpoint
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_requests_are_labelled_by_url_rule_never_by_path(app, client):
    probe = f"/no-such-page-{uuid.uuid4().hex}"
    assert client.get(probe).status_code == 404
    assert client.get("/d/some-unknown-token-123").status_code in (404, 410)
    assert client.get("/healthz").status_code == 200

    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(
        as_text=True
    )
    scraped = scrape(client)

    assert probe not in text and "some-unknown-token-123" not in text
    assert (
        value(scraped, "portal_http_requests_total", route="unmatched", method="GET", status="404")
        >= 1
    )
    assert (
        value(scraped, "portal_http_requests_total", route="/healthz", method="GET", status="200")
        >= 1
    )
    assert (
        value(scraped, "portal_http_request_duration_seconds_count", route="/healthz", method="GET")
        >= 1
    )
    routes = {
        dict(labels)["route"] for name, labels in scraped if name == "portal_http_requests_total"
    }
    assert routes <= {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}


# -- several processes ---------------------------------------------------------------------------


def test_counts_of_several_processes_add_up_in_one_scrape(tmp_path: Path):
    """gunicorn workers and RQ jobs (a process each) count in processes of their own: with
    PROMETHEUS_MULTIPROC_DIR a scrape in any of them sums what all counted, and the files of
    processes that ended are folded into one, so that they do not pile up, without changing
    the sums."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    count = (
        "from portal import metrics; metrics.DRAINS.labels('done').inc({0}); "
        "metrics.RENDERS.observe({0})"
    )
    scrape = "import sys; from portal import metrics; sys.stdout.buffer.write(metrics.exposition())"

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True
        )
        return done.stdout.decode()

    for amount in (2, 3):  # two job processes, each with counts of its own
        run(count.format(amount))
    first = samples(run(scrape))
    run(count.format(4))  # one more, after the first two were folded
    second = samples(run(scrape))

    drains = ("portal_ingest_drains_total", (("outcome", "done"),))
    rendered = ("portal_render_duration_seconds_count", ())
    slow = ("portal_render_duration_seconds_bucket", (("le", "2.5"),))
    assert (first[drains], first[rendered], first[slow]) == (5, 2, 1)
    assert (second[drains], second[rendered], second[slow]) == (9, 3, 1)
    assert second[("portal_render_duration_seconds_sum", ())] == 9
    kept = sorted(path.name for path in folder.glob("*.db"))
    # The processes that counted are gone: their files were folded into the archives (the last
    # scrape's own process ended after its scrape: its files wait for the next one).
    assert [name for name in kept if "archive" in name] == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
    assert len(kept) <= 4


@pytest.mark.long(seconds=14)
def test_a_gunicorn_scrape_counts_the_requests_of_workers_that_were_replaced(tmp_path: Path):
    """The production shape: gunicorn workers sharing the folder. Half the requests are served
    by the first workers, which a reload (HUP) then replaces; every scrape, answered by a new
    worker, still counts all of them."""
    import signal

    import urllib3

    from tests.multinode.cluster import flask_cli, portal_env, start_node

    folder = tmp_path / "metrics"
    folder.mkdir()
    env = portal_env(
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        PORTAL_METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    flask_cli(env, "db", "upgrade")
    node, base = start_node("metrics-node", env, tmp_path)
    http = urllib3.PoolManager(retries=False)
    healthz = (
        "portal_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )

    def get(path: str, **headers: str):
        return http.request("GET", f"{base}{path}", headers={"Connection": "close", **headers})

    def pids() -> set[str]:
        return {path.stem.split("_")[1] for path in folder.glob("counter_*.db")}

    try:
        statuses = [get("/healthz").status for _ in range(20)]
        first = pids()
        node.process.send_signal(signal.SIGHUP)  # new workers; the old ones exit
        wait_until(lambda: len(pids() - first - {"archive"}) >= 2, 60, "new gunicorn workers")
        wait_until(lambda: not _alive(first), 60, "the old gunicorn workers to exit")
        statuses += [get("/healthz").status for _ in range(20)]
        answers = [get("/metrics", Authorization=f"Bearer {TOKEN}") for _ in range(4)]
        totals = [samples(answer.data.decode())[healthz] for answer in answers]
    finally:
        node.stop()

    assert statuses == [200] * 40
    assert totals == [40] * 4
    assert not pids() & first  # the replaced workers' files were folded into the archive


def _alive(pids: set[str]) -> bool:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 0)
            return True
    return False


def test_renders_are_timed_and_failed_renders_counted(app, make_user):
    """A render that works is timed; one that fails (the template breaks on this customer's
    data, not on the sample data it was checked with at upload) is counted as failed."""
    from prometheus_client import REGISTRY

    from portal.library.rendering import TemplateRenderError, render_version_pdf
    from portal.library.services import TemplateFields, create_template

    def counted() -> tuple[float, float]:
        return (
            REGISTRY.get_sample_value("portal_render_duration_seconds_count") or 0,
            REGISTRY.get_sample_value("portal_render_failures_total") or 0,
        )

    fragile = create_template(
        make_user("marketing"),
        TemplateFields(name="Fragile quote", kind="quote"),
        filename="quote.html",
        data=b"<html><body><p>{{ customer.name }}</p>"
        b"{% if customer.company == 'BOOM' %}{{ 1 // 0 }}{% endif %}</body></html>",
        changelog="first version",
    )
    before = counted()

    render_version_pdf(fragile, {"customer": {"name": "Li Lei", "company": "ACME"}})
    with pytest.raises(TemplateRenderError):
        render_version_pdf(fragile, {"customer": {"name": "Han Meimei", "company": "BOOM"}})

    rendered, failed = counted()
    assert (rendered - before[0], failed - before[1]) == (1, 1)
