"""E-mail through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import re
import socket
import time
from email.message import Message
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import Notification
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
    sent = make_delivery(world.rep, world.customer, world.template)
    open_in_viewer(client, sent.url)
    open_in_viewer(client, sent.url)  # a second open notifies no one
    notes = db.session.scalars(select(Notification)).all()
    assert [(n.user_id, n.kind) for n in notes] == [(world.rep.id, "delivery.opened")]
    messages = handler.wait_for(1)
    assert [m["To"] for m in messages] == ["rep@example.com"]
    assert world.customer.name in _subject(messages[0])
