"""`tick` on a schedule: the workers run it every PORTAL_TICK_INTERVAL seconds, once per interval
however many workers there are; a failed tick is not retried, the next interval's runs. And the
return-visit window (回访) of a callback_24h task, closed by the tick's overdue escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tasks import schedule
from portal.tasks.models import Task
from portal.tasks.services import open_task
from portal.tasks.tick import run_tick
from portal.tracking.ingest import ingest_batch
from tests.delivery.helpers import make_customer, make_delivery
from tests.engagement.scoring_support import BROWSER, ingest_token, path_of, read
from tests.multinode.cluster import portal_env, private_redis, start_worker, stop_all, wait_until
from tests.viewer_support import open_in_viewer


def overdue_notes(user) -> list[Notification]:
    db.session.rollback()  # a fresh read: another process may have written meanwhile
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == user.id, Notification.kind == "task.overdue"
            )
        )
    )


def penalties(customer) -> list[ScoreEntry]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(ScoreEntry).where(
                ScoreEntry.customer_id == customer.id, ScoreEntry.rule_key == "no_reply_3d"
            )
        )
    )


# -- the return-visit window ----------------------------------------------------------------------


def test_a_missed_24h_return_visit_is_overdue_and_escalated_once(
    app, client, api_headers, clock, team
):
    """回访: the callback_24h task a long read opens is due 24 h later; the first tick after
    that marks it overdue and tells the supervisor, once."""
    quote = make_delivery(team.rep, team.buyer, team.quote)
    open_in_viewer(client, path_of(quote.url), headers=BROWSER)  # fetched and confirmed
    token = ingest_token(quote.delivery)
    for _ in range(13):  # 130 s of reading
        clock.advance(seconds=10)
        ingest_batch(token, read(token, page=2), now=clock.now)
    [task] = db.session.scalars(select(Task).where(Task.rule_key == "callback_24h"))
    window_end = task.due_at
    assert window_end == clock.now + timedelta(hours=24)
    headers = api_headers(team.rep)

    def overdue_ids() -> list[int]:
        answer = client.get("/api/v1/tasks?status=overdue", headers=headers)
        assert answer.status_code == 200, answer.json
        return [item["id"] for item in answer.json["items"]]

    def callback_notes() -> list[Notification]:
        return [n for n in overdue_notes(team.supervisor) if n.params["task_id"] == task.id]

    # Inside the window: not overdue, nobody told (other tasks, e.g. grade_a, have their own
    # due times).
    clock.now = window_end - timedelta(minutes=1)
    run_tick(clock.now)
    jobs.commit()
    assert task.id not in overdue_ids() and callback_notes() == []
    db.session.refresh(task)
    assert task.escalated_at is None

    # The window passed with the call not made: overdue, and the supervisor hears of it once.
    clock.now = window_end + timedelta(minutes=1)
    assert run_tick(clock.now).escalated == 1
    jobs.commit()
    assert task.id in overdue_ids()
    [note] = callback_notes()
    assert note.params["rule"] == "callback_24h" and note.customer_id == team.buyer.id
    assert not [n for n in overdue_notes(team.rep) if n.params["task_id"] == task.id]
    db.session.refresh(task)
    assert task.escalated_at == clock.now and task.status == "open"

    clock.now = window_end + timedelta(hours=5)
    assert run_tick(clock.now).escalated == 0
    jobs.commit()
    assert len(callback_notes()) == 1


# -- the schedule on Redis ------------------------------------------------------------------------


@pytest.fixture
def redis_url():
    with private_redis() as url:
        yield url


@pytest.fixture
def on_redis(app, redis_url, monkeypatch):
    """This test's app queues on a private Redis database; its in-process RQ worker runs as it."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "TICK_INTERVAL", 60)
    jobs.use_app_for_jobs(app)
    yield redis_url
    jobs.use_app_for_jobs(None)


def run_queued(redis_url: str) -> None:
    from redis import Redis

    from portal.job_workers import SimpleWorker

    connection = Redis.from_url(redis_url)
    SimpleWorker([jobs.QUEUE_NAME], connection=connection).work(burst=True)


def silent_customer(team, name: str):
    """A customer sent a quote four days ago who never answered: no_reply_3d is due."""
    customer = make_customer(team.rep, name=name, title="", industry="零售")
    sent = make_delivery(team.rep, customer, team.quote)
    sent.delivery.created_at = utcnow() - timedelta(days=4)
    jobs.commit()
    return customer


def test_a_slot_is_claimed_once_and_its_tick_runs_on_the_queue(app, runner, team, on_redis):
    customer = silent_customer(team, "赵敏")
    slot = schedule.slot_of(utcnow().timestamp(), 60)
    assert schedule.claim_and_enqueue(on_redis, 60, slot, "worker-a") is True
    assert schedule.claim_and_enqueue(on_redis, 60, slot, "worker-b") is False  # taken
    assert penalties(customer) == []  # queued, not run inline
    run_queued(on_redis)
    assert len(penalties(customer)) == 1
    [run] = schedule.recent_runs(on_redis)
    assert (run["slot"], run["outcome"]) == (slot, "done")
    assert run["result"]["penalized"] == 1
    history = runner.invoke(args=["tick", "--history"])
    assert history.exit_code == 0, history.output
    assert f"slot {slot}\tdone" in history.output


def test_a_failed_tick_is_not_retried_and_the_next_slot_runs(
    app, team, on_redis, tmp_path, monkeypatch
):
    from portal import create_app

    customer = silent_customer(team, "钱进")
    # A worker whose database has no tables: its tick fails for real.
    broken = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
            "STORAGE_LOCAL_PATH": str(tmp_path / "storage-broken"),
            "REDIS_URL": on_redis,
            "TICK_INTERVAL": 60,
        }
    )
    slot = schedule.slot_of(utcnow().timestamp(), 60)
    jobs.use_app_for_jobs(broken)
    assert schedule.claim_and_enqueue(on_redis, 60, slot, "worker-a")
    run_queued(on_redis)
    [failed] = schedule.recent_runs(on_redis)
    assert failed["outcome"] == "failed" and "OperationalError" in failed["error"]
    from redis import Redis

    connection = Redis.from_url(on_redis)
    assert connection.get(schedule.RUNNING_KEY) is None  # released: it blocks nothing
    run_queued(on_redis)  # not retried
    assert len(schedule.recent_runs(on_redis)) == 1

    jobs.use_app_for_jobs(app)
    assert schedule.claim_and_enqueue(on_redis, 60, slot + 1, "worker-b")
    run_queued(on_redis)
    assert [r["outcome"] for r in schedule.recent_runs(on_redis)] == ["done", "failed"]
    assert len(penalties(customer)) == 1


def test_a_tick_still_running_makes_the_next_one_skip_until_its_key_expires(
    app, team, on_redis, monkeypatch
):
    """A running tick's key makes the next slot's tick skip. A tick killed with its worker
    leaves the key behind, no longer extended: it expires within RUNNING_TTL, and the next
    slot's tick runs."""
    from redis import Redis

    monkeypatch.setattr(schedule, "RUNNING_TTL", 1)
    customer = silent_customer(team, "孙立")
    connection = Redis.from_url(on_redis)
    # A tick still running (its keeper extends the key) ...
    connection.set(schedule.RUNNING_KEY, "a tick killed with its worker", ex=60)
    slot = schedule.slot_of(utcnow().timestamp(), 60)
    assert schedule.claim_and_enqueue(on_redis, 60, slot, "worker-a")
    run_queued(on_redis)
    assert schedule.recent_runs(on_redis)[0]["outcome"] == "skipped"
    assert penalties(customer) == []
    assert connection.get(schedule.RUNNING_KEY) == b"a tick killed with its worker"  # not ours
    # ... is killed: its key is extended no more and lives out its last RUNNING_TTL.
    connection.expire(schedule.RUNNING_KEY, schedule.RUNNING_TTL)
    wait_until(lambda: connection.get(schedule.RUNNING_KEY) is None, 10, "the stale key to expire")
    assert schedule.claim_and_enqueue(on_redis, 60, slot + 1, "worker-a")
    run_queued(on_redis)
    assert schedule.recent_runs(on_redis)[0]["outcome"] == "done"
    assert len(penalties(customer)) == 1
    assert connection.get(schedule.RUNNING_KEY) is None  # released at the end


# -- real worker processes ------------------------------------------------------------------------


def worker_env(app, redis_url: str, tmp_path, interval: int) -> dict[str, str]:
    return portal_env(
        tmp_path,
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=redis_url,
        PORTAL_TICK_INTERVAL=str(interval),
    )


def test_a_worker_runs_tick_by_itself(app, make_user, team, redis_url, tmp_path):
    customer = silent_customer(team, "周全")
    now = utcnow()
    task = open_task(
        team.buyer, "callback_24h", due_at=now - timedelta(hours=1), reason={}, now=now
    )
    jobs.commit()
    worker = start_worker("worker", worker_env(app, redis_url, tmp_path, 1), tmp_path)
    try:
        wait_until(lambda: penalties(customer), 60, "the scheduled tick's no_reply_3d penalty")
        wait_until(lambda: overdue_notes(team.supervisor), 30, "the overdue escalation")
        assert worker.alive(), worker.log()[-3000:]
    finally:
        stop_all([worker])
    db.session.rollback()
    assert db.session.get(Task, task.id).escalated_at is not None
    runs = schedule.recent_runs(redis_url)
    assert runs and all(r["outcome"] in ("done", "skipped") for r in runs), runs
    assert "tick scheduled every 1 s" in worker.log()


@pytest.mark.long(seconds=9)
def test_two_workers_tick_once_per_interval(app, team, redis_url, tmp_path):
    customer = silent_customer(team, "吴用")
    env = worker_env(app, redis_url, tmp_path, 1)
    workers = [start_worker(f"worker-{n}", env, tmp_path) for n in (1, 2)]
    try:
        # Both workers are up (each logs its schedule) ...
        wait_until(
            lambda: all("tick scheduled every 1 s" in w.log() for w in workers),
            60,
            "both workers to start their schedule",
        )
        first = schedule.recent_runs(redis_url)
        # ... then at least four more intervals pass.
        wait_until(
            lambda: len(schedule.recent_runs(redis_url)) >= len(first) + 4,
            60,
            "four more scheduled ticks",
        )
        assert all(w.alive() for w in workers), [w.log()[-2000:] for w in workers]
    finally:
        stop_all(workers)
    runs = schedule.recent_runs(redis_url)
    slots = [r["slot"] for r in runs]
    assert len(slots) == len(set(slots)), f"a slot ticked twice: {sorted(slots)}"
    assert all(r["outcome"] in ("done", "skipped") for r in runs), runs
    # One tick per elapsed interval, not one per worker.
    assert len(runs) <= max(slots) - min(slots) + 1
    assert len(penalties(customer)) == 1
