"""P5: SQL statements per page at a small and a large size (must be equal: pages are flat).

For each size N a rep of its own gets N customers; the first is sent N documents (a portal
home of N deliveries, over five templates) and comments on one (its comment.created event opens
a follow-up task), every other customer gets a call-back task (tasks.services.open_task, what
the task rules call): N open tasks. Everything goes through the services. The pages are
fetched in process with the Flask test client, signed in through the login form, and each
page's statements are counted with a SQLAlchemy before_cursor_execute listener on the second
fetch (the first warms Jinja and Babel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench import documents, seed
from bench.report import Figure
from bench.settings import Settings
from bench.stack import Stack
from portal.statement_count import counted_statements

log = logging.getLogger("bench")
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"
KINDS = ["brochure", "case_study", "quote", "solution", "other"]


@dataclass
class Pages:
    rep_email: str
    portal_path: str
    customer_name: str  # the first customer's: on the portal home and the customer list
    task_customer: str  # the first call-back task's: in the inbox


def _load(size: int) -> Pages:
    from datetime import timedelta

    from sqlalchemy import func, select

    from portal import jobs
    from portal.db_types import utcnow
    from portal.delivery import comments
    from portal.extensions import db
    from portal.tasks.rules import CALLBACK_24H
    from portal.tasks.services import open_task
    from portal.tracking.models import Event, EventType

    tag = f"p5-{size}"
    staff = seed.staff(tag)
    pdf = documents.noise_pdf(2, seed=11)
    templates = [
        seed.template(staff.marketing, name=f"资料{n}", kind=kind, filename=f"doc{n}.pdf", data=pdf)
        for n, kind in enumerate(KINDS)
    ]
    people = seed.customers(staff.rep, size, tag)
    # The portal customer: `size` deliveries over five templates.
    doc_path = seed.send_to(staff.rep, people[0].id, templates[0].id)
    portal_path = ""
    for n in range(1, size):
        portal_path = seed.portal_path(staff.rep, people[0].id, templates[n % len(templates)].id)
    if not portal_path:
        portal_path = seed.portal_path(staff.rep, people[0].id, templates[1].id)
    # One real comment: its event, its follow-up task (the task rules' own path).
    comments.add_customer_comment(people[0].id, _delivery_of(doc_path), "请问第二页的价格？")
    jobs.commit()
    event_id = db.session.scalar(
        select(func.max(Event.id)).where(Event.type == EventType.COMMENT_CREATED.value)
    )
    # A call-back task for every other customer, opened by the service the task rules call.
    due = utcnow() + timedelta(days=1)
    for n, customer in enumerate(people[1:], start=1):
        open_task(
            customer,
            CALLBACK_24H,
            due_at=due,
            reason={"document": templates[0].name, "read_seconds": 150},
            event_ids=[event_id],
            notify_owner=False,
        )
        if n % 200 == 0:
            jobs.commit()
    jobs.commit()
    return Pages(
        rep_email=staff.rep.email,
        portal_path=portal_path,
        customer_name=people[0].name,
        task_customer=people[min(1, size - 1)].name,
    )


def _delivery_of(doc_path: str) -> int:
    from portal.delivery.viewer import resolve_doc

    return resolve_doc(doc_path.rsplit("/", 1)[-1]).id


def _count(client, path: str, shows: str, headers: dict[str, str] | None = None) -> int:
    """The statements of one GET of path (the second: the first warms up); the page must
    show `shows` (a row of the data set), or it is not the page being measured."""
    first = client.get(path, headers=headers or {})
    if first.status_code != 200 or shows not in first.get_data(as_text=True):
        raise RuntimeError(f"GET {path}: {first.status_code}, without {shows!r}")
    with counted_statements() as statements:
        answer = client.get(path, headers=headers or {})
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path}: {answer.status_code}")
    return len(statements)


def _counts(app, pages: Pages) -> dict[str, int]:
    from portal.extensions import db

    counts = {}
    reader = app.test_client()
    counts["portal"] = _count(reader, pages.portal_path, "资料0", {"User-Agent": PHONE})
    staff = app.test_client()
    signed_in = staff.post("/login", data={"email": pages.rep_email, "password": seed.PASSWORD})
    if signed_in.status_code != 302:
        raise RuntimeError(f"sign-in as {pages.rep_email}: {signed_in.status_code}")
    counts["customers"] = _count(staff, "/customers/", pages.customer_name)
    counts["tasks"] = _count(staff, "/tasks", pages.task_customer)
    db.session.remove()
    return counts


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    from portal import create_app

    # The stack's database, but files on local disk: storage sends no SQL, and a thousand
    # sends' prepared copies load much faster without the S3 round trips.
    app = create_app(
        {
            "JOBS_INLINE": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "STORAGE_BACKEND": "local",
            "STORAGE_LOCAL_PATH": str(stack.workdir / "p5-storage"),
        }
    )
    small, large = settings.p5_small, settings.p5_large
    found = {}
    for size in (small, large):
        with app.app_context():
            pages = _load(size)
            found[size] = _counts(app, pages)
        log.info("P5 at %d rows: %s", size, found[size])
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()
    shown = {
        "portal": ("portal home", "/p/<token>", f"deliveries to one customer ({small} vs {large})"),
        "customers": (
            "rep's customer list",
            "/customers/",
            f"the rep's customers ({small} vs {large})",
        ),
        "tasks": ("task inbox", "/tasks", f"the rep's open tasks ({small} vs {large})"),
    }
    return [
        Figure(
            key="P5",
            name=f"P5 SQL statements {label} {path} at {large} rows",
            value=found[large][key],
            baseline=found[small][key],
            measures=f"SQL statements for one {label} (`{path}`); rows = {rows}",
            baseline_is=f"the same page at {small} rows",
            goal="equal (ratio 1.00)",
            note="counted with a before_cursor_execute listener, Flask test client",
            digits=0,
        )
        for key, (label, path, rows) in shown.items()
    ]
