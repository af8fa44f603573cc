"""Outgoing e-mail: SMTP when PORTAL_SMTP_URL is set, otherwise written to the log."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app

log = logging.getLogger(__name__)


def mail_configured() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def send_mail(to: str, subject: str, text: str, html: str | None = None) -> str | None:
    """Send one message; returns its Message-ID once the SMTP server accepted it, None when no
    server is configured (the message is written to the log instead). A refusal or an
    unreachable server raises smtplib.SMTPException or OSError."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="portal")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    url = current_app.config.get("SMTP_URL")
    if not url:
        log.info("e-mail (no PORTAL_SMTP_URL, not sent) to=%s subject=%s\n%s", to, subject, text)
        return None
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port or 465, timeout=15, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=15)
    with smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)
    return message["Message-ID"]
