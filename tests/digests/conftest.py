"""Digest fixtures: a real SMTP server on loopback (aiosmtpd), the robot listeners of
tests/channels, and the tick's clock set relative to the data (never an absolute time)."""

from __future__ import annotations

import email
import email.header
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from email.message import Message
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from flask import g
from flask.testing import FlaskClient

from tests.channels.conftest import robots  # noqa: F401  (the vendor listeners, as a fixture)
from tests.channels.vendor_listeners import Robot

ZONE = ZoneInfo("Asia/Shanghai")  # the app's default PORTAL_TIMEZONE


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def digests(self, wait_for: int = 0, timeout: float = 10) -> list[Message]:
        """The digests received (alert e-mails filtered out), after waiting for wait_for."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages if is_digest(m)]
            if len(found) >= wait_for or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def subject(message: Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


DIGEST_SUBJECTS = ("晨报", "团队周报", "morning digest", "team's week")


def is_digest(message: Message) -> bool:
    return any(word in subject(message) for word in DIGEST_SUBJECTS)


def body(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def app_config(app_config: dict, inbox: Inbox, robots: dict[str, Robot]) -> dict:  # noqa: F811
    return {
        **app_config,
        "SMTP_URL": f"smtp://127.0.0.1:{inbox.port}",
        "WEBHOOK_ALLOW_PRIVATE": True,  # the robot listeners are on loopback
        "CHANNEL_BASE_URLS": {kind: robot.base for kind, robot in robots.items()},
    }


def next_morning(after: datetime, hour: int = 8, minute: int = 30) -> datetime:
    """UTC of hour:minute local time on the local day after `after`."""
    day = after.astimezone(ZONE).date() + timedelta(days=1)
    return datetime.combine(day, clock_time(hour, minute), tzinfo=ZONE).astimezone(ZoneInfo("UTC"))


def monday_morning_after(after: datetime, hour: int = 8, minute: int = 30) -> datetime:
    """UTC of hour:minute local time on the first local Monday after `after`'s day."""
    day = after.astimezone(ZONE).date()
    monday = day + timedelta(days=7 - day.weekday())
    return datetime.combine(monday, clock_time(hour, minute), tzinfo=ZONE).astimezone(
        ZoneInfo("UTC")
    )


class FreshClient(FlaskClient):
    """A browser whose every request starts with an empty `g`, as in production (the app
    fixture keeps one app context pushed for the whole test)."""

    def open(self, *args, **kwargs):
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@pytest.fixture
def browser(app):
    """browser() -> a new browser (its own cookie jar, so its own device)."""
    app.test_client_class = FreshClient
    return app.test_client
