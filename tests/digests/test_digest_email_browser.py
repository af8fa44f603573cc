"""The digest e-mail as a phone shows it: its HTML part in headless Chromium at 390 px, no
horizontal scroll, every section readable (PORTAL_SCREENSHOT_DIR keeps a screenshot)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.tasks.models import Task
from portal.tasks.tick import run_tick
from portal.tracking.models import ViewSession
from tests.browser_support import chromium_fixture, horizontal_overflow, screenshot  # noqa: F401
from tests.delivery.helpers import make_customer, make_delivery
from tests.digests.conftest import body, monday_morning_after, next_morning
from tests.engagement.scoring_support import BROWSER, path_of
from tests.viewer_support import open_in_viewer

PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}


def test_the_morning_digest_reads_on_a_phone(app, browser, world, inbox, chromium):
    rep = world.rep
    hot = make_customer(
        rep, name="孙丽", company="上海精密机械制造有限公司", email="sun@example.com"
    )
    hot.grade, hot.score = "A", 86
    sent = make_delivery(rep, hot, world.template)
    open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    open_in_viewer(browser(), path_of(sent.url), headers=PHONE)  # forwarded
    jobs.commit()
    now = next_morning(db.session.scalar(select(func.max(ViewSession.confirmed_at))))
    db.session.add(
        Task(
            customer_id=hot.id,
            owner_id=rep.id,
            rule_key="callback_24h",
            due_at=now + timedelta(hours=3),
            escalated_at=now,
        )
    )
    jobs.commit()
    run_tick(now)
    jobs.commit()
    [digest] = [m for m in inbox.digests(wait_for=1) if m["To"] == rep.email]

    page = chromium.new_page(viewport={"width": 390, "height": 1100})
    page.set_content(body(digest, "html"))
    text = page.inner_text("body")
    assert horizontal_overflow(page) <= 0
    for heading in ("昨天的读者", "热门客户", "今天到期的任务"):
        assert heading in text
    assert "转发读者" in text and "A 级 · 86 分" in text and "24小时内回访" in text
    screenshot(page, "digest-daily-390.png")
    page.close()


def test_the_weekly_digest_reads_on_a_phone(app, browser, world, inbox, chromium):
    rep, customer = world.rep, world.customer
    sent = make_delivery(rep, customer, world.template)
    open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    jobs.commit()
    now = monday_morning_after(db.session.scalar(select(func.max(ViewSession.confirmed_at))))
    db.session.add(
        Task(
            customer_id=customer.id,
            owner_id=rep.id,
            rule_key="comment_followup",
            due_at=now - timedelta(days=3),
            escalated_at=now,
        )
    )
    jobs.commit()
    run_tick(now)
    jobs.commit()
    [weekly] = [m for m in inbox.digests(wait_for=1) if m["To"] == world.supervisor.email]

    page = chromium.new_page(viewport={"width": 390, "height": 900})
    page.set_content(body(weekly, "html"))
    text = page.inner_text("body")
    assert horizontal_overflow(page) <= 0
    assert "上周团队互动" in text and "逾期任务" in text and "回复评论" in text
    assert f"{rep.name}\n" in text and "1 位客户 · 1 次确认打开" in text
    screenshot(page, "digest-weekly-390.png")
    page.close()
