"""Screenshots of the rep's side: customers, one customer's page, a send, notifications.

    /work/venv/bin/python scripts/screenshots_rep.py [--out /tmp/shots-rep] [--lang zh_CN en]

What it does (the instance and server helpers come from scripts/screenshots.py):
1. a throw-away instance folder, migrated and filled with `flask demo`;
2. through the services, as the demo rep (rep@demo.portal): three materials sent to their
   first customer, two of them opened with read time on each page (ingest), a comment thread
   with a reply, and a first open of another customer's material (the notifications);
3. headless Chromium at 390x844 (phone) and 1366x900 (desktop), signed in as the rep: the
   dashboard, the customer list, the customer page, a send from that page and its result (link
   and QR code), the send form with an error, the notifications and the new-customer form;
   then the customer list as their supervisor.

Files are named <viewport>-<lang>-<page>.png in --out. Nothing outside the temp folder and --out
is touched; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import screenshots as base  # the sibling script: instance, server, browser args

REP = "rep@demo.portal"
SUPERVISOR = "supervisor@demo.portal"
PUBLIC_BASE_URL = "https://portal.example.cn"  # what customers' links show

SEED = """
import uuid
from datetime import timedelta

from sqlalchemy import select

from portal import create_app, jobs
from portal.accounts.services import get_user_by_email
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.db_types import utcnow
from portal.delivery import comments, viewer
from portal.delivery import services as deliveries
from portal.extensions import db
from portal.library.models import Template
from portal.notifications.models import Notification
from portal.tracking import ingest
from portal.tracking.models import Event

app = create_app()
NOW = utcnow()


def ago(minutes):
    return NOW - timedelta(minutes=minutes)


SEEN = [0]


def latest_notification(when):
    # backdate the notifications created since the last call
    for note in db.session.scalars(select(Notification).where(Notification.id > SEEN[0])):
        note.created_at = when
        SEEN[0] = max(SEEN[0], note.id)


def template(kind):
    return db.session.scalar(
        select(Template).where(Template.kind == kind).order_by(Template.id).limit(1)
    )


def send(rep, customer, kind, minutes, message=""):
    sent = deliveries.send(
        rep,
        deliveries.SendRequest(
            customer_id=customer.id, template_id=template(kind).id, message=message
        ),
    )
    jobs.commit()
    sent.delivery.created_at = ago(minutes)
    jobs.commit()
    return sent.delivery


def read(delivery, minutes, pages):
    opened = viewer.open_delivery(
        delivery,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0",
        ip="203.0.113.5",
    )
    assert opened.session is not None, opened.state
    started = ago(minutes)
    opened.session.started_at = opened.session.last_seen_at = started
    for event in db.session.scalars(select(Event).where(Event.session_id == opened.session.id)):
        event.occurred_at = started
    latest_notification(started)
    jobs.commit()
    reports = [
        {"k": uuid.uuid4().hex, "type": "page.viewed", "page": page, "ms": seconds * 1000}
        for page, seconds in pages.items()
        if page <= len(opened.pages)
    ]
    end = started + timedelta(seconds=sum(pages.values()) + 5)
    ingest.ingest_batch(opened.ingest_token, {"s": opened.ingest_token, "reports": reports},
                        now=end)


def comment(customer, delivery, minutes, text, rep=None):
    if rep is None:
        row = comments.add_customer_comment(customer.id, delivery.id, text)
        latest_notification(ago(minutes))
    else:
        row = comments.add_staff_reply(rep, delivery, text)
    row.created_at = ago(minutes)
    jobs.commit()


with app.test_request_context():
    rep = get_user_by_email(REP)
    mine = list(db.session.scalars(
        select(Customer).where(Customer.owner_id == rep.id).order_by(Customer.id)))
    if not mine:
        mine = [create_customer(rep, CustomerFields(
            name="张伟", company="华东精密制造有限公司", title="采购总监",
            email="zhang.wei@example.cn"))]
        jobs.commit()
    customer = mine[0]
    brochure = send(rep, customer, "brochure", 60 * 72, "张总，附上产品手册，供您先了解。")
    case = send(rep, customer, "case_study", 60 * 26)
    quote = send(rep, customer, "quote", 95, "张总，这是按您需求整理的报价，有问题随时找我。")
    read(brochure, 60 * 50, {1: 35, 2: 12})
    read(case, 60 * 4, {1: 95, 2: 41})
    read(quote, 62, {1: 48, 2: 135})
    comment(customer, quote, 55, "第 2 页的实施服务能否再优惠一些？我们计划 6 月上线。")
    reply = "张总您好，36 人天已是优惠价；5 月底前签约可再赠送 2 天现场培训。"
    comment(customer, quote, 41, reply, rep)
    read(quote, 12, {2: 64, 1: 9})
    comment(customer, quote, 9, "好的，我和财务确认付款方式后回复您。")
    if len(mine) > 1:
        other = send(rep, mine[1], "case_study", 30, "王总，这是同行业的案例。")
        read(other, 3, {1: 20})
"""


def seed(env: dict[str, str]) -> None:
    code = f"REP = {REP!r}\n" + SEED
    subprocess.run([sys.executable, "-c", code], cwd=base.ROOT, env=env, check=True)  # noqa: S603


def shoot(url: str, out: Path, langs: list[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    with sync_playwright() as pw:
        for lang in langs:
            browser = pw.chromium.launch(
                executable_path=base.CHROMIUM,
                args=[*base.CHROMIUM_ARGS, "--lang=" + ("en-US" if lang == "en" else "zh-CN")],
            )
            for label, (width, height) in base.VIEWPORTS.items():
                accept = "en-US,en;q=0.9" if lang == "en" else "zh-CN,zh;q=0.9"

                def context_for(
                    email: str,
                    label=label,
                    width=width,
                    height=height,
                    lang=lang,
                    browser=browser,
                    accept=accept,
                ):
                    context = browser.new_context(
                        viewport={"width": width, "height": height},
                        device_scale_factor=1,
                        locale="en-US" if lang == "en" else "zh-CN",
                        extra_http_headers={"Accept-Language": accept},
                        is_mobile=label == "phone",
                        has_touch=label == "phone",
                    )
                    page = context.new_page()
                    page.goto(f"{url}/login")
                    page.fill("#email", email)
                    page.fill("#password", base.PASSWORD)
                    page.click("button[type=submit].btn-primary")
                    page.wait_for_load_state("networkidle")
                    return context, page

                def snap(page, name: str, label=label, lang=lang, full=True) -> None:
                    page.wait_for_load_state("networkidle")
                    path = out / f"{label}-{lang}-{name}.png"
                    page.screenshot(path=str(path), full_page=full)
                    saved.append(path)

                context, page = context_for(REP)
                snap(page, "r1-dashboard")
                page.goto(f"{url}/customers/")
                snap(page, "r2-customers")
                page.click(".cust-row:has-text('张伟')")
                page.wait_for_load_state("networkidle")
                detail = page.url
                snap(page, "r3-customer")
                snap(page, "r3-customer-top", full=False)
                # a send with a mistake: expiry beyond the limit
                page.goto(detail)
                page.select_option("#template_id", index=1)
                page.click(".send-options summary")
                page.fill("#expires_in_days", "999")
                page.eval_on_selector("#expires_in_days", "el => el.removeAttribute('max')")
                page.click(".btn-send")
                snap(page, "r4-send-error", full=False)
                page.goto(detail)
                page.select_option("#template_id", index=1)
                page.click(".send-options summary")
                page.fill("#message", "张总，这是最新的方案，请查收。")
                page.click(".btn-send")
                page.wait_for_selector(".qr-img")
                page.wait_for_function("document.querySelector('.qr-img').naturalWidth > 0")
                snap(page, "r5-sent")
                page.goto(f"{url}/notifications/")
                snap(page, "r6-notifications")
                page.goto(f"{url}/customers/new")
                snap(page, "r7-new-customer")
                context.close()

                context, page = context_for(SUPERVISOR)
                page.goto(f"{url}/customers/")
                snap(page, "r8-supervisor-customers")
                context.close()
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/shots-rep", type=Path)  # noqa: S108
    parser.add_argument("--lang", nargs="+", default=["zh_CN", "en"], choices=["zh_CN", "en"])
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with base.scratch_instance("portal-shots-rep-", keep=args.keep) as instance:
        env, users = base.prepare(instance)
        if users != base.DEMO_USERS:
            raise SystemExit("`flask demo` is needed for these screenshots")
        env["PORTAL_BASE_URL"] = PUBLIC_BASE_URL
        seed(env)
        with base.server(env) as url:
            for path in shoot(url, args.out, args.lang):
                print(path)


if __name__ == "__main__":
    main()
