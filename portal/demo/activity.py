"""Demo activity: sends, opens and page reads, through the same services a real open uses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal import jobs
from portal.accounts.services import get_user_by_email
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.delivery.open_confirmation import confirm_open
from portal.delivery.services import SendRequest, send
from portal.delivery.viewer import open_delivery
from portal.extensions import db
from portal.library.models import Template
from portal.tracking import sessions
from portal.tracking.ingest import ingest_batch

DEMO_BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0"

# (rep, customer, template, message, seconds read per page or None for "not opened yet")
SENDS = [
    ("rep@demo.portal", "张伟", "MES 标准报价单", "张总您好，报价请查收。", {1: 40, 2: 95}),
    ("rep@demo.portal", "张伟", "汽车零部件客户案例", "", {1: 30, 2: 20}),
    ("rep@demo.portal", "王芳", "云启 MES 产品手册", "王总，产品手册供参考。", None),
    ("rep2@demo.portal", "刘洋", "智能制造解决方案包", "", {1: 25}),
    ("rep.south@demo.portal", "黄磊", "Retail replenishment case study (EN)", "", {1: 50}),
]


def _read(delivery, pages: dict[int, int]) -> None:
    opened = open_delivery(delivery, user_agent=DEMO_BROWSER, ip="203.0.113.7")
    session = opened.session
    if session is None or opened.ingest_token is None:
        return
    confirm_open(opened.ingest_token)  # what the viewer script does once the page shows
    # The reading happened over the last hour: move the session's clock back so the
    # wall-clock cap credits it.
    start = utcnow() - timedelta(hours=1)
    session.started_at = session.last_seen_at = start
    jobs.commit()
    token = sessions.ingest_token(session)
    reports = [
        {"k": f"demo-{session.id}-{page}", "type": "page.viewed", "page": page, "ms": sec * 1000}
        for page, sec in pages.items()
    ]
    ingest_batch(token, {"s": token, "reports": reports}, now=start + timedelta(minutes=10))


def load() -> int:
    """Send and read the demo materials; returns the number of deliveries."""
    for rep_email, customer_name, template_name, message, pages in SENDS:
        rep = get_user_by_email(rep_email)
        customer = db.session.scalar(select(Customer).where(Customer.name == customer_name))
        template = db.session.scalar(select(Template).where(Template.name == template_name))
        if rep is None or customer is None or template is None:
            raise LookupError(
                f"demo data is missing {rep_email} / {customer_name} / {template_name}"
            )
        sent = send(
            rep, SendRequest(customer_id=customer.id, template_id=template.id, message=message)
        )
        jobs.commit()  # renders the customer's copy (inline, or queued when Redis is set)
        if pages:
            _read(sent.delivery, pages)
    return len(SENDS)
