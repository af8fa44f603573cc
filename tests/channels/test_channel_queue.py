"""With Redis, an alert's chat message is queued on RQ after the commit: the request that
raised it answers without waiting for the robot, and the worker sends it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from portal import jobs
from portal.channels.models import OutboxMessage
from portal.extensions import db
from tests.channels.conftest import URLS
from tests.support import run_worker_command


@dataclass
class OnRedis:
    """A team's WeCom channel made inline, then Redis switched on with queues of the test's own."""

    queue_name: str
    headers: dict[str, str]
    test_url: str  # POST: queue a test message to the channel


@pytest.fixture
def on_redis(app, make_user, client, api_headers, shared_redis_url, monkeypatch) -> OnRedis:
    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    headers = api_headers(make_user("admin"))
    created = client.post(
        "/api/v1/channels",
        json={"kind": "wecom", "url": URLS["wecom"], "team": "华东"},
        headers=headers,
    )
    monkeypatch.setitem(app.config, "REDIS_URL", shared_redis_url)
    return OnRedis(queue_name, headers, f"/api/v1/channels/{created.json['id']}/test")


def work_off(app, connection) -> None:
    """Run every queued job, alerts queue first, as a worker does; then empty both queues."""
    from rq import Queue

    from portal.job_workers import SimpleWorker

    jobs.use_app_for_jobs(app)
    try:
        SimpleWorker(jobs.queue_names(), connection=connection).work(burst=True)
    finally:
        jobs.use_app_for_jobs(None)
        for name in jobs.queue_names():
            Queue(name, connection=connection).delete(delete_jobs=True)


def test_with_redis_the_send_waits_for_the_worker_not_the_request(
    app, client, robots, shared_redis_url, on_redis
):
    from redis import Redis
    from rq import Queue

    queue_name = on_redis.queue_name
    answer = client.post(on_redis.test_url, headers=on_redis.headers)
    assert answer.status_code == 202 and answer.json["status"] == "pending"
    assert robots["wecom"].received == []  # the request did not talk to the robot

    connection = Redis.from_url(shared_redis_url)
    alerts = Queue(jobs.alerts_queue_name(), connection=connection)
    default = Queue(queue_name, connection=connection)
    assert (alerts.count, default.count) == (1, 0)  # an alert goes to the alerts queue
    work_off(app, connection)
    assert len(robots["wecom"].accepted) == 1
    db.session.expire_all()
    assert db.session.get(OutboxMessage, answer.json["id"]).status == "sent"


_RAN: list[tuple[str, int]] = []
_WATCHED: list = []  # the robot whose received messages record_run counts


def record_run(label: str) -> None:
    """A job that notes that it ran, and how many alerts the robot had received by then (the
    worker below runs jobs in this process)."""
    _RAN.append((label, len(_WATCHED[0].accepted)))


def test_a_worker_takes_an_alert_before_the_jobs_queued_ahead_of_it(
    app, client, robots, shared_redis_url, on_redis
):
    """Drains and renders queue up under load; an alert queued after them is still sent first
    (P9: behind a backlog on one worker, a chat alert waited 89 s)."""
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(shared_redis_url)
    default = Queue(on_redis.queue_name, connection=connection)
    backlog = [f"backlog {n}" for n in range(3)]
    for label in backlog:  # the backlog, queued first
        default.enqueue(jobs.run_job, f"{__name__}:record_run", label)
    _WATCHED[:] = [robots["wecom"]]

    answer = client.post(on_redis.test_url, headers=on_redis.headers)
    assert answer.status_code == 202
    _RAN.clear()
    work_off(app, connection)
    # every job of the backlog ran after the alert had reached the robot
    ran_after_the_alert = [(label, 1) for label in backlog]
    assert ran_after_the_alert == _RAN


def _run_worker(runner, *args: str) -> None:
    result = run_worker_command(runner, "--burst", *args)
    assert result.exit_code == 0, result.output


def test_alerts_only_and_no_alerts_workers_split_the_queues(
    app, client, runner, robots, shared_redis_url, on_redis
):
    """docs/deploy.md: an alerts-only worker at normal priority, the others (niced, busy)
    `--no-alerts`. Each takes its own queue and nothing of the other's (P9: an idle nice-19
    worker that took an alert held it for seconds)."""
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(shared_redis_url)
    default = Queue(on_redis.queue_name, connection=connection)
    alerts = Queue(jobs.alerts_queue_name(), connection=connection)
    default.enqueue(jobs.run_job, f"{__name__}:record_run", "a drain")
    answer = client.post(on_redis.test_url, headers=on_redis.headers)
    assert answer.status_code == 202
    try:
        assert (alerts.count, default.count) == (1, 1)
        _run_worker(runner, "--no-alerts", "--no-tick")
        assert (alerts.count, default.count) == (1, 0)  # the drain ran, the alert waits
        assert robots["wecom"].accepted == []
        _run_worker(runner, "--alerts-only")
        assert (alerts.count, default.count) == (0, 0)
        assert len(robots["wecom"].accepted) == 1  # the alert went out
    finally:
        for name in jobs.queue_names():
            Queue(name, connection=connection).delete(delete_jobs=True)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, answer.json["id"]).status == "sent"


def test_a_worker_cannot_be_both_alerts_only_and_no_alerts(runner, shared_redis_url, app):
    app.config["REDIS_URL"] = shared_redis_url
    result = runner.invoke(args=["worker", "--burst", "--alerts-only", "--no-alerts"])
    assert result.exit_code == 2 and "--no-alerts" in result.output
