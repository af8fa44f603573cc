"""Two teams that must never see each other, and the tools the attack corpus shares.

Team A ("华东") is the victim: a supervisor, a rep, a customer with a delivery, a comment, a task
and a notification, and a template only team A may use. Team B ("华南") is the attacker: its
supervisor, its rep and its customer (with their own delivery and tokens). Every victim string
carries a MARKER, so a response that leaks any of it is found by one search.

Import in a test module with
`from tests.security.attack_support import arena_fixture  # noqa: F401`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import jobs
from portal.accounts.models import User
from portal.channels.services import create_channel
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.db_types import utcnow
from portal.delivery import bundles
from portal.delivery import services as delivery_services
from portal.delivery.comments import add_customer_comment
from portal.delivery.email import PIXEL_SALT
from portal.extensions import db
from portal.library.models import Template
from portal.library.services import TemplateFields, create_template
from portal.notifications.services import notify
from portal.recommendations.keywords import add_rule
from portal.tasks.packs import set_pack
from portal.tasks.services import open_task
from portal.tracking import links, sessions
from portal.tracking.models import Visitor
from portal.webhooks.service import create_webhook

PASSWORD = "password123"  # make_user's default
MARKER = "VICTIMQX"  # in every string of team A: found in a response = a leak
VICTIM_TEAM = "华东"
ATTACKER_TEAM = "华南"

HTML = (
    "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'></head><body>"
    "<section style='break-after: page'><h1>{title}</h1><p>{{{{ customer.name }}}}</p></section>"
    "<section><h2>价格</h2><a href='https://example.com/pricing'>价格</a></section></body></html>"
)


@dataclass
class Camp:
    """One team's people and objects."""

    supervisor: User
    rep: User
    customer: Customer
    template: Template
    sent: delivery_services.Sent
    doc_token: str
    portal_token: str
    pixel_token: str
    ingest_token: str
    task_id: int
    notification_id: int
    comment_id: int
    bundle_id: int = 0  # a bundle (资料包) of the camp's template (portal.delivery.bundles)
    bundle_token: str = ""


@dataclass
class Arena:
    a: Camp  # the victim
    b: Camp  # the attacker
    marketing: User
    admin: User
    extra: dict[str, Any] = field(default_factory=dict)


def token_in(url: str) -> str:
    match = re.search(r"/[dpb]/([^/?#]+)", url)
    assert match, url
    return match.group(1)


def _camp(make_user, marketing: User, team: str, tag: str, email_tag: str) -> Camp:
    supervisor = make_user(
        "supervisor",
        email=f"boss-{email_tag}@example.com",
        name=f"主管{tag}",
        team=team,
    )
    rep = make_user(
        "rep",
        email=f"rep-{email_tag}@example.com",
        name=f"销售{tag}",
        team=team,
        supervisor=supervisor.email,
    )
    customer = create_customer(
        rep,
        CustomerFields(
            name=f"客户{tag}",
            company=f"公司{tag}",
            title="采购总监",
            email=f"customer-{email_tag}@example.com",
            phone="13800000000",
            industry="制造业",
        ),
    )
    version = create_template(
        marketing,
        TemplateFields(name=f"模板{tag}", kind="quote", allowed_teams=[team]),
        filename="doc.html",
        data=HTML.format(title=f"标题{tag}").encode(),
        changelog=f"变更{tag}",
        content_tags="2:pricing",
    )
    jobs.commit()
    sent = delivery_services.send(
        rep,
        delivery_services.SendRequest(
            customer_id=customer.id, template_id=version.template.id, message=f"留言{tag}"
        ),
    )
    jobs.commit()
    db.session.commit()
    comment = add_customer_comment(customer.id, sent.delivery.id, f"评论{tag}")
    task = open_task(
        customer,
        "callback_24h",
        due_at=utcnow() + timedelta(days=1),
        reason={"note": f"原因{tag}"},
        notify_owner=False,
    )
    note = notify(
        rep, "comment.created", {"customer": customer.name, "document": f"模板{tag}"}, email=False
    )
    view = sessions.start_session(sent.delivery, 1, "Mozilla/5.0 test", "203.0.113.7")
    bundle = bundles.send_bundle(
        rep,
        delivery_services.SendRequest(
            customer_id=customer.id, template_ids=[version.template.id], message=f"包{tag}"
        ),
    )
    jobs.commit()
    assert task is not None
    return Camp(
        supervisor=supervisor,
        rep=rep,
        customer=customer,
        template=version.template,
        sent=sent,
        doc_token=token_in(sent.url),
        portal_token=token_in(sent.portal_url),
        pixel_token=links.sign(sent.delivery.id, PIXEL_SALT),
        ingest_token=sessions.ingest_token(view),
        task_id=task.id,
        notification_id=note.id,
        comment_id=comment.id,
        bundle_id=bundle.bundle.id,
        bundle_token=bundle.url.rsplit("/", 1)[-1],
    )


@pytest.fixture(name="arena")
def arena_fixture(app: Flask, make_user) -> Arena:
    marketing = make_user("marketing", email="marketing@example.com", name="市场部")
    admin = make_user("admin", email="admin@example.com", name="管理员")
    victim = _camp(make_user, marketing, VICTIM_TEAM, MARKER, "a")
    attacker = _camp(make_user, marketing, ATTACKER_TEAM, "乙方", "b")
    extra = {**_deal(victim), "batch_id": _bulk_send(victim)}
    return Arena(a=victim, b=attacker, marketing=marketing, admin=admin, extra=extra)


def _bulk_send(camp: Camp) -> int:
    """Team A's rep's bulk send, its one item the delivery already sent (no job runs)."""
    from portal.delivery.models import BulkItemStatus, BulkSend, BulkSendItem

    batch = BulkSend(sender=camp.rep, template=camp.template, options={}, total=1)
    db.session.add(batch)
    db.session.flush()
    db.session.add(
        BulkSendItem(
            bulk_send_id=batch.id,
            customer_id=camp.customer.id,
            delivery_id=camp.sent.delivery.id,
            status=BulkItemStatus.FAILED,  # retryable: the retry route has work to refuse
            error_code="bulk_render_failed",
        )
    )
    jobs.commit()
    return batch.id


def _deal(camp: Camp) -> dict[str, Any]:
    """Team A's deal in negotiation, above the approval threshold, with an evidence file."""
    from portal.deals import services as deals
    from portal.deals.evidence import EvidenceInput, add_evidence

    deal = deals.create_deal(
        camp.rep,
        deals.DealFields(
            customer_id=camp.customer.id,
            title=f"商机{MARKER}",
            amount="900000",
            expected_close=utcnow().date(),
        ),
        EvidenceInput(stage="initial_contact", note=f"纪要{MARKER}"),
    )
    for stage in ("needs_confirmed", "demo", "negotiation"):
        evidence = add_evidence(
            deal,
            camp.rep,
            EvidenceInput(
                stage=stage, note=f"证据{MARKER}", filename="q.txt", data=MARKER.encode()
            ),
        )
        deals.advance(camp.rep, deal)
    deals.add_note(camp.rep, deal, f"聊天{MARKER}", "chat")
    jobs.commit()
    return {"deal_id": deal.id, "evidence_id": evidence.id}


@pytest.fixture(name="attack")
def attack_fixture(arena: Arena) -> Arena:
    """The arena plus the settings only admins may touch (a keyword, a webhook, a pack)."""
    keyword = add_rule("攻击词", "kind:quote", by=arena.admin)
    hook = create_webhook("https://hooks.example.com/portal", ["delivery.opened"], by=arena.admin)
    pack = set_pack("制造业", arena.a.template.id)
    channel = create_channel(  # team A's rep's own chat robot
        arena.admin,
        kind="wecom",
        url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=victim-robot-key",
        user_email=arena.a.rep.email,
    )
    visitor = Visitor(  # a forwarded reader of team A's document
        delivery_id=arena.a.sent.delivery.id, device_id="victim-colleague", forwarded=True
    )
    db.session.add(visitor)
    jobs.commit()
    arena.extra.update(
        rule_id=keyword.id,
        webhook_id=hook.id,
        pack_id=pack.id,
        channel_id=channel.id,
        visitor_id=visitor.id,
    )
    return arena


def leaked(body: str | bytes) -> bool:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return MARKER in text


# --- state: what team A owns must not change ---------------------------------------------


def victim_rows(arena: Arena) -> dict[str, list[tuple]]:
    """Every row of team A's objects, and every row of the tables nobody owns (settings).

    A row belongs to team A when it is one of its roots (users, customer, template, delivery)
    or one of its foreign keys points at one.
    """
    a = arena.a
    roots = {
        ("users", a.rep.id),
        ("users", a.supervisor.id),
        ("customers", a.customer.id),
        ("templates", a.template.id),
        ("deliveries", a.sent.delivery.id),
    }
    snapshot: dict[str, list[tuple]] = {}
    db.session.rollback()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            foreign = [
                (fk.parent.name, fk.column.table.name)
                for column in table.columns
                for fk in column.foreign_keys
            ]
            primary = [c.name for c in table.primary_key.columns]
            rows = []
            for row in conn.execute(sa.select(table)).mappings():
                mine = len(primary) == 1 and (table.name, row[primary[0]]) in roots
                refers = any((target, row[column]) in roots for column, target in foreign)
                if mine or refers or not foreign:
                    rows.append(tuple(str(v) for v in row.values()))
            snapshot[table.name] = sorted(rows)
    return snapshot


# Statements that change no row (the first word of each): anything else counts as a write.
_CHANGE_NO_ROW = ("SELECT", "PRAGMA", "SHOW", "SET ", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT")


class RowWatch:
    """Team A's rows (victim_rows), read again only after a statement that may write.

    victim_rows reads every table. Read before and after each of the ~400 requests of an
    attack, it was most of tests/security/test_access.py's time (some 160 s of CPU over the two
    passes), though nearly every request is refused before it writes anything. A request can
    change a row only by sending the database a statement that writes, and every statement goes
    through an engine, where one listener (on every engine) sees it: when no statement but reads
    ran since the last reading, the rows are still what it read. Anything not known to be a read
    counts as a write (a WITH, a comment first), so a doubt costs a reading, never a miss."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.readings = 0
        self._wrote = True
        self._rows: dict[str, list[tuple]] = {}
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._saw)

    def _saw(self, _conn, _cursor, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_CHANGE_NO_ROW):
            self._wrote = True

    def rows(self) -> dict[str, list[tuple]]:
        """Team A's rows now."""
        if self._wrote:
            self._rows = victim_rows(self.arena)
            self._wrote = False  # after the reading: it sends reads (and a rollback) only
            self.readings += 1
        return self._rows

    def close(self) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._saw)


def changes(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    out = []
    for name, rows in after.items():
        if rows != before.get(name, []):
            gone = set(before.get(name, [])) - set(rows)
            new = set(rows) - set(before.get(name, []))
            out.append(f"{name}: -{sorted(gone)[:2]} +{sorted(new)[:2]}")
    return out


# --- clients ------------------------------------------------------------------------------


def sign_in(client: FlaskClient, user: User) -> None:
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in response.headers.get(
        "Location", ""
    )
