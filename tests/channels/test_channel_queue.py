"""With Redis, an alert's chat message is queued on RQ after the commit: the request that
raised it answers without waiting for the robot, and the worker sends it."""

from __future__ import annotations

import uuid

from portal import jobs
from portal.channels.models import OutboxMessage
from portal.extensions import db
from tests.channels.conftest import URLS


def test_with_redis_the_send_waits_for_the_worker_not_the_request(
    app, make_user, client, api_headers, robots, shared_redis_url, monkeypatch
):
    from redis import Redis
    from rq import Queue

    from portal.job_workers import SimpleWorker

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    admin = make_user("admin")
    headers = api_headers(admin)
    created = client.post(
        "/api/v1/channels",
        json={"kind": "wecom", "url": URLS["wecom"], "team": "华东"},
        headers=headers,
    )
    monkeypatch.setitem(app.config, "REDIS_URL", shared_redis_url)

    answer = client.post(f"/api/v1/channels/{created.json['id']}/test", headers=headers)
    assert answer.status_code == 202 and answer.json["status"] == "pending"
    assert robots["wecom"].received == []  # the request did not talk to the robot

    connection = Redis.from_url(shared_redis_url)
    queue = Queue(queue_name, connection=connection)
    assert queue.count == 1
    jobs.use_app_for_jobs(app)
    try:
        SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        jobs.use_app_for_jobs(None)
        queue.delete(delete_jobs=True)
    assert len(robots["wecom"].accepted) == 1
    db.session.expire_all()
    assert db.session.get(OutboxMessage, answer.json["id"]).status == "sent"
