"""E-mail through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import io
import re
import socket
import time
from email.message import Message
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.notifications.models import Notification
from portal.notifications.preferences import set_preferences
from portal.tracking import links
from portal.tracking.models import Event, LinkPurpose
from tests.delivery.helpers import make_delivery
from tests.viewer_support import open_in_viewer


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def app_config(app_config, inbox):
    return app_config | {"SMTP_URL": f"smtp://127.0.0.1:{inbox[1]}"}


def _subject(message: Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


def _body(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


def test_the_email_arrives_with_the_link_and_its_pixel_records_the_open(client, world, inbox):
    handler, _ = inbox
    sent = make_delivery(
        world.rep, world.customer, world.template, send_email=True, message="张总，报价请查收"
    )
    message = handler.wait_for(1)[0]
    assert message["To"] == "zhang@example.com"
    assert world.template.name in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
    text = _body(message, "plain")
    # Tokens carry their signing time, so compare what the e-mailed link opens, not its text.
    mailed = re.search(r"https?://\S+/d/(\S+)", text).group(1)
    assert links.resolve(mailed, LinkPurpose.DOC).delivery_id == sent.delivery.id
    assert "张总，报价请查收" in text
    html = _body(message, "html")
    pixel = re.search(r'<img src="([^"]+\.gif)"', html).group(1)
    response = client.get(urlsplit(pixel).path)
    assert response.status_code == 200 and response.mimetype == "image/gif"
    opened = db.session.scalars(select(Event).where(Event.type == "email.opened")).all()
    assert [(e.customer_id, e.delivery_id) for e in opened] == [
        (world.customer.id, sent.delivery.id)
    ]


def test_a_tampered_pixel_answers_the_same_and_records_nothing(client, world, inbox):
    make_delivery(world.rep, world.customer, world.template)
    response = client.get("/e/not-a-token.gif")
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert db.session.scalars(select(Event).where(Event.type == "email.opened")).all() == []


def test_first_open_notifies_the_owner_in_app_and_by_email(client, world, inbox):
    handler, _ = inbox
    set_preferences(world.rep, {"quiet_hours": {"enabled": False}})  # whatever the hour of the run
    sent = make_delivery(world.rep, world.customer, world.template)
    open_in_viewer(client, sent.url)
    open_in_viewer(client, sent.url)  # a second open notifies no one
    notes = db.session.scalars(select(Notification)).all()
    assert [(n.user_id, n.kind) for n in notes] == [(world.rep.id, "delivery.opened")]
    messages = handler.wait_for(1)
    assert [m["To"] for m in messages] == ["rep@example.com"]
    assert world.customer.name in _subject(messages[0])


class Refusing(Inbox):
    """A server that refuses every recipient."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 mailbox unavailable"


def _sent_page(client, login, world, delivery_id: int):
    login(world.rep)
    return client.get(f"/customers/{world.customer.id}/sent/{delivery_id}")


def test_the_send_page_says_e_mailed_once_the_server_accepted_it(client, login, world, inbox):
    handler, _ = inbox
    sent = make_delivery(world.rep, world.customer, world.template, send_email=True)
    handler.wait_for(1)
    delivery = db.session.get(Delivery, sent.delivery.id)
    assert (delivery.email_status, delivery.email_sent_at is not None) == ("sent", True)
    page = _sent_page(client, login, world, sent.delivery.id)
    assert 'data-email-status="sent"' in page.text
    assert "已发送邮件至 zhang@example.com" in page.text


def test_a_refused_e_mail_is_shown_as_not_sent(client, login, world, monkeypatch):
    controller = Controller(Refusing(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        monkeypatch.setitem(
            client.application.config, "SMTP_URL", f"smtp://127.0.0.1:{controller.port}"
        )
        sent = make_delivery(world.rep, world.customer, world.template, send_email=True)
    finally:
        controller.stop()
    delivery = db.session.get(Delivery, sent.delivery.id)
    assert (delivery.email_status, delivery.email_sent_at) == ("failed", None)
    page = _sent_page(client, login, world, sent.delivery.id)
    assert 'data-email-status="failed"' in page.text
    assert "未发送：邮件服务器拒收了这封邮件或无法连接" in page.text
    assert "已发送邮件" not in page.text
    assert 'id="sent-link"' in page.text  # the link to copy instead


ENGLISH_LINES = ("Hello", "Your document", "Everything we have sent you")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_line_of_the_e_mail_is_in_the_team_language(
    app, client, world, inbox, monkeypatch, locale
):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", locale)
    handler, _ = inbox
    make_delivery(world.rep, world.customer, world.template, send_email=True)
    message = handler.wait_for(1)[0]
    text, html = _body(message, "plain"), _body(message, "html")
    if locale == "zh_CN":
        assert "您的资料：方案报价" in text
        assert "张伟，您好" in text and "张伟，您好" in html
        for english in ENGLISH_LINES:
            assert english not in text and english not in html, english
        assert "给您发送了" in _subject(message)
    else:
        assert "Your document: 方案报价" in text
        assert "Hello 张伟," in text
        assert "sent you" in _subject(message)


def test_the_email_carries_the_brand_and_the_rep_card(client, world, inbox):
    from PIL import Image

    from portal import jobs
    from portal.branding import rep_cards
    from portal.branding import service as branding

    handler, _ = inbox
    logo = io.BytesIO()
    Image.new("RGB", (200, 60), "#0a7d5a").save(logo, "PNG")
    branding.save_brand(None, "远景智造科技", "#0A7D5A", logo=logo.getvalue())
    rep_cards.save_card(world.rep, "大客户经理", "+86 138 0013 8000", "lilei_sales")
    jobs.commit()
    make_delivery(world.rep, world.customer, world.template, send_email=True)
    message = handler.wait_for(1)[0]
    html = _body(message, "html")
    logo_url = re.search(r'<img src="([^"]+/brand/\w+\.png)"', html).group(1)
    assert logo_url.startswith("http")  # absolute: mail clients fetch it from Portal
    fetched = client.get(urlsplit(logo_url).path)
    assert fetched.status_code == 200 and fetched.mimetype == "image/png"
    assert "远景智造科技" in html
    assert "background:#0a7d5a" in html  # the button in the brand's colour
    assert 'href="tel:+8613800138000"' in html
    assert f'href="mailto:{world.rep.email}"' in html
    assert "大客户经理" in html and "lilei_sales" in html
    text = _body(message, "plain")
    assert "远景智造科技" in text and "+86 138 0013 8000" in text and world.rep.email in text


def test_a_bundle_sends_one_email_with_the_bundle_link(client, world, inbox):
    from portal import jobs
    from portal.delivery import bundles
    from portal.delivery.models import Delivery
    from portal.delivery.services import SendRequest
    from tests.delivery.helpers import make_template

    handler, _ = inbox
    case = make_template(world.marketing, name="客户案例", kind="case_study")
    sent = bundles.send_any(
        world.rep,
        SendRequest(
            customer_id=world.customer.id,
            template_ids=[world.template.id, case.id],
            send_email=True,
        ),
    )
    jobs.commit()
    messages = handler.wait_for(1)
    assert len(messages) == 1
    assert "资料包：2 份资料" in _subject(messages[0])
    mailed = re.search(r"https?://\S+/b/(\S+)", _body(messages[0], "plain")).group(1)
    assert links.resolve(mailed, LinkPurpose.BUNDLE).bundle_id == sent.bundle.id
    statuses = db.session.scalars(select(Delivery.email_status).order_by(Delivery.id)).all()
    assert statuses == ["sent", "sent"]
    assert "/e/" not in _body(messages[0], "html")  # no pixel: its open is no one document's
