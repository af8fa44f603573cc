"""Acceptance (issue 13): "The digest is sent once per period with two workers running."

Two threads, each with its own database session and connection, run the whole tick at the same
instant (a barrier) against the same database, with the same injected clock; the SMTP server
(aiosmtpd) and the WeCom listener receive exactly one digest per person. A second tick in the
same period sends nothing; the next period sends again. On PostgreSQL the second INSERT of the
claim waits for the first transaction and then finds its row; on SQLite the database lock
serialises the two writers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from portal import jobs
from portal.channels.models import OutboxMessage
from portal.channels.services import create_channel
from portal.digests.models import DigestSend
from portal.extensions import db
from portal.notifications.preferences import set_preferences
from portal.tasks.tick import run_tick
from portal.tracking.models import ViewSession
from tests.channels.conftest import URLS
from tests.delivery.helpers import make_customer, make_delivery
from tests.digests.conftest import next_morning, subject
from tests.engagement.scoring_support import BROWSER, path_of
from tests.viewer_support import open_in_viewer


def _two_workers_tick(app, now) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait()
                run_tick(now)
                jobs.commit()
            except BaseException as exc:  # checked below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    db.session.expire_all()


def _daily_mails(inbox) -> Counter:
    return Counter(
        m["To"] for m in inbox.messages if "晨报" in subject(m) or "morning digest" in subject(m)
    )


def _digest_chats(robot) -> list[str]:
    return [
        r.body["markdown"]["content"]
        for r in robot.accepted
        if "晨报" in r.body["markdown"]["content"].splitlines()[0]
    ]


def test_two_workers_send_each_digest_once_per_period(
    app, browser, world, make_user, inbox, robots
):
    rep, second = (
        world.rep,
        make_user("rep", email="rep2@example.com", supervisor=world.supervisor.email),
    )
    first_customer = world.customer
    first_customer.grade = "A"  # hot: in every morning's digest while they stay active
    other_customer = make_customer(second, name="周芷若", email="zhou@example.com")
    create_channel(rep, kind="wecom", url=URLS["wecom"], user_email=rep.email)
    # quiet hours off, whatever the hour of the run: the reading alerts below go out with the
    # opens instead of at the next morning's tick, where they would count as digests
    set_preferences(
        rep, {"alerts": {"digest": ["email", "chat"]}, "quiet_hours": {"enabled": False}}
    )
    set_preferences(second, {"quiet_hours": {"enabled": False}})
    jobs.commit()
    for customer in (first_customer, other_customer):
        sent = make_delivery(customer.owner, customer, world.template)
        open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    jobs.commit()
    now = next_morning(db.session.scalar(select(func.max(ViewSession.confirmed_at))))
    # the reading alerts (e-mail, chat) went out with the opens; only digests count from here
    already = len(robots["wecom"].accepted)

    _two_workers_tick(app, now)

    assert _daily_mails(inbox) == {rep.email: 1, second.email: 1}
    chats = _digest_chats(robots["wecom"])
    assert len(chats) == 1 and first_customer.name in chats[0]
    claims = db.session.execute(
        select(DigestSend.user_id, DigestSend.status).where(DigestSend.kind == "daily")
    ).all()
    assert sorted(claims) == sorted([(rep.id, "sent"), (second.id, "sent")])

    # a second tick in the same period: nothing more
    _two_workers_tick(app, now + timedelta(hours=3))
    assert _daily_mails(inbox) == {rep.email: 1, second.email: 1}
    assert len(_digest_chats(robots["wecom"])) == 1

    # the next morning: the hot customer makes a digest again (the second rep has nothing new)
    _two_workers_tick(app, now + timedelta(days=1))
    assert _daily_mails(inbox) == {rep.email: 2, second.email: 1}
    assert len(_digest_chats(robots["wecom"])) == 2
    assert len(robots["wecom"].accepted) == already + 2
    statuses = Counter(
        db.session.scalars(
            select(DigestSend.status).where(
                DigestSend.kind == "daily", DigestSend.user_id == second.id
            )
        )
    )
    assert statuses == {"sent": 1, "empty": 1}
    assert not db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
    )


def test_before_the_digest_hour_nothing_is_sent(app, browser, world, inbox):
    sent = make_delivery(world.rep, world.customer, world.template)
    open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    jobs.commit()
    confirmed = db.session.scalar(select(func.max(ViewSession.confirmed_at)))
    run_tick(next_morning(confirmed, hour=7, minute=59))
    jobs.commit()
    assert not _daily_mails(inbox)
    run_tick(next_morning(confirmed, hour=8, minute=0))
    jobs.commit()
    assert inbox.digests(wait_for=1) and _daily_mails(inbox) == {world.rep.email: 1}
