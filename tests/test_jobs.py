"""Background jobs: deferred until the commit, inline by default, on RQ/Redis when configured."""

from __future__ import annotations

import uuid
from typing import ClassVar

import pytest

from portal import jobs
from portal.delivery.models import Delivery
from portal.extensions import db
from tests.delivery.helpers import make_delivery
from tests.support import run_worker_command

calls: list[tuple] = []


def remember(*args) -> None:
    calls.append(args)


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


def test_the_app_s_redis_client_parses_replies_with_hiredis(app, shared_redis_url, monkeypatch):
    """A tracked download's one round trip (the ingest script) answers an array: redis-py's
    Python parser reads it in two recv calls, hiredis in one (pyproject: redis[hiredis])."""
    monkeypatch.setitem(app.config, "REDIS_URL", shared_redis_url)
    client = jobs.redis_connection()
    connection = client.connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
    finally:
        client.connection_pool.release(connection)


def test_a_deferred_job_runs_only_after_the_commit(app):
    jobs.defer(remember, 1)
    assert calls == []
    jobs.commit()
    assert calls == [(1,)]


def test_a_rollback_drops_the_deferred_jobs(app):
    jobs.defer(remember, 2)
    db.session.rollback()
    jobs.commit()
    assert calls == []


def test_a_failing_inline_job_does_not_break_the_commit(app):
    def boom(_):
        raise RuntimeError("boom")

    jobs.defer(boom, 1)
    jobs.defer(remember, 3)
    jobs.commit()
    assert calls == [(3,)]


def test_with_redis_the_render_runs_in_the_rq_worker(app, world, shared_redis_url, monkeypatch):
    from redis import Redis
    from rq import Queue

    from portal.job_workers import SimpleWorker

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    monkeypatch.setitem(app.config, "REDIS_URL", shared_redis_url)
    sent = make_delivery(world.rep, world.customer, world.template)
    delivery_id = sent.delivery.id
    assert db.session.get(Delivery, delivery_id).render_status == "pending"  # queued, not run
    connection = Redis.from_url(shared_redis_url)
    queue = Queue(queue_name, connection=connection)
    assert queue.count == 1
    jobs.use_app_for_jobs(app)
    try:
        SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        jobs.use_app_for_jobs(None)
        queue.delete(delete_jobs=True)
    db.session.expire_all()
    assert db.session.get(Delivery, delivery_id).render_status == "ready"


def test_a_queued_job_without_the_worker_app_fails_clearly(monkeypatch):
    """run_job no longer builds an app itself (that made jobs import the app factory: a
    circle); only the worker command's app runs jobs."""
    monkeypatch.setattr(jobs, "_worker_app", None)
    with pytest.raises(RuntimeError, match="flask --app wsgi worker"):
        jobs.run_job("portal.jobs:commit")


class RecordingPubSub:
    """Stands in for redis-py's PubSub: records how a worker subscribes."""

    calls: ClassVar[dict] = {}

    def subscribe(self, **handlers):
        RecordingPubSub.calls["subscribed"] = list(handlers)

    def run_in_thread(self, **options):
        RecordingPubSub.calls["options"] = options
        return "thread"


def test_workers_poll_for_commands_each_second_so_they_stop_within_one(shared_redis_url):
    """RQ's own poll is 60 s, which redis-py 8's stop() waits out (portal/job_workers.py)."""
    from redis import Redis

    from portal.job_workers import COMMAND_POLL_SECONDS, SimpleWorker, Worker

    connection = Redis.from_url(shared_redis_url)
    for worker_class in (Worker, SimpleWorker):
        worker = worker_class([f"portal-test-{uuid.uuid4().hex[:8]}"], connection=connection)
        RecordingPubSub.calls = {}
        worker.connection.pubsub = RecordingPubSub
        worker.subscribe()
        calls = RecordingPubSub.calls
        assert calls["subscribed"] == [worker.pubsub_channel_name]
        assert calls["options"]["sleep_time"] == COMMAND_POLL_SECONDS <= 1


def test_an_unnamed_worker_drains_under_a_name_of_its_own_process(app, runner, monkeypatch):
    """Two unnamed workers on one host never share a consumer name (each would free the other's
    drain flag): without PORTAL_WORKER_NAME a worker is named by its process id."""
    import os
    import socket

    from portal.tracking import ingest_queue
    from tests.multinode.cluster import private_redis

    with private_redis() as url:
        monkeypatch.setitem(app.config, "REDIS_URL", url)
        monkeypatch.setitem(app.config, "WORKER_NAME", None)
        result = run_worker_command(runner, "--burst", "--no-tick")
        assert result.exit_code == 0, result.output
        assert app.config["WORKER_NAME"] == f"pid{os.getpid()}"
        assert ingest_queue._consumer_name() == f"{socket.gethostname()}-pid{os.getpid()}"


@pytest.mark.parametrize("fork", [True, False])
def test_a_no_fork_worker_runs_jobs_in_its_own_process_and_recycles_after_max_jobs(
    app, runner, monkeypatch, fork
):
    """`flask worker --no-fork` runs each job in its own process, where what a job warmed (and
    wrote) stays for the next; `--max-jobs 1` makes it exit after one job, the second left
    queued for the fresh worker systemd starts. A forking worker's jobs run in work-horses: the
    worker's own memory never sees them."""
    from redis import Redis
    from rq import Queue

    from tests.multinode.cluster import private_redis

    with private_redis() as url:
        monkeypatch.setitem(app.config, "REDIS_URL", url)
        queue = Queue(jobs.QUEUE_NAME, connection=Redis.from_url(url))
        first, _second = (queue.enqueue(jobs.run_job, f"{__name__}:remember", n) for n in (1, 2))
        options = ["--no-tick", "--max-jobs", "1"] + ([] if fork else ["--no-fork"])
        result = run_worker_command(runner, *options)
        assert result.exit_code == 0, result.output
        assert first.get_status(refresh=True) == "finished"  # ran, in a horse or here
        assert calls == ([] if fork else [(1,)])
        assert queue.count == 1  # the second job waits for the next worker
