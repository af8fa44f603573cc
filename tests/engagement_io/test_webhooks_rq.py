"""With Redis, webhook sends run in the RQ worker and retries are scheduled with enqueue_in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal import jobs
from portal.engagement.ledger import GradeChange
from portal.extensions import db
from portal.webhooks import hooks, service
from portal.webhooks.models import WebhookDelivery


def test_a_failed_send_is_scheduled_in_rq(
    app, world, receiver_factory, shared_redis_url, monkeypatch
):
    from redis import Redis
    from rq import Queue
    from rq.job import Job

    from portal.job_workers import SimpleWorker

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    monkeypatch.setitem(app.config, "REDIS_URL", shared_redis_url)
    connection = Redis.from_url(shared_redis_url)
    queue = Queue(queue_name, connection=connection)
    receiver = receiver_factory(plan=[500])
    secret = service.create_webhook(receiver.url, ["customer.grade_changed"]).secret
    hooks.webhook_grades([GradeChange(world.customer.id, "C", "B", 30)])
    jobs.commit()
    assert receiver.received == [] and queue.count == 1  # queued, not sent inline
    jobs.use_app_for_jobs(app)
    try:
        before = datetime.now(UTC)
        SimpleWorker([queue], connection=connection).work(burst=True)
        assert len(receiver.received) == 1
        registry = queue.scheduled_job_registry
        [job_id] = registry.get_job_ids()
        at = registry.get_scheduled_time(job_id)
        assert before + timedelta(seconds=9) <= at <= datetime.now(UTC) + timedelta(seconds=11)
        row = db.session.scalar(select(WebhookDelivery))
        db.session.refresh(row)
        assert row.attempts == 1 and row.status == "pending"
        Job.fetch(job_id, connection=connection).perform()  # what the scheduler runs when due
    finally:
        jobs.use_app_for_jobs(None)
        # this test's keys only (the scheduled job and its registry): database 0 is shared
        for job_id in queue.scheduled_job_registry.get_job_ids():
            connection.delete(Job.key_for(job_id))
        queue.delete(delete_jobs=True)
        for key in connection.scan_iter(f"rq:*{queue_name}*"):
            connection.delete(key)
    db.session.expire_all()
    row = db.session.get(WebhookDelivery, row.id)
    assert row.status == "delivered" and row.attempts == 2
    assert [receiver.verify(secret, r) for r in receiver.received] == [True, True]
