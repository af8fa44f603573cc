"""What customer pages tell the reader: that reading is recorded, and where the company's
privacy statement is (admins set its URL, or its text, which Portal then shows at /privacy).

PORTAL_TRACKING_MODE: `notice` (default) shows the notice and records as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.db_types import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.privacy.models import PrivacySettings

MODES = ("notice", "consent")
MAX_URL = 500
MAX_TEXT = 20_000


def tracking_mode() -> str:
    mode = str(current_app.config.get("TRACKING_MODE") or "notice").strip().lower()
    return mode if mode in MODES else "notice"


@dataclass(frozen=True)
class Statement:
    url: str  # the company's own page; "" when Portal shows the text at /privacy
    text: str  # "" when not set: /privacy shows Portal's default statement


def statement() -> Statement:
    row = db.session.scalar(select(PrivacySettings).order_by(PrivacySettings.id).limit(1))
    if row is None:
        return Statement(url="", text="")
    return Statement(url=row.statement_url or "", text=row.statement_text or "")


def save_statement(by: User | None, url: str, text: str) -> PrivacySettings:
    """Set the privacy statement's URL and/or text (an admin; the caller commits)."""
    require_admin(by, "set the privacy statement")
    url = (url or "").strip()
    text = (text or "").strip()
    if url:
        parts = urlsplit(url)
        if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationFailed(
                "the statement URL must be an http:// or https:// URL",
                code="statement_url_invalid",
                field="url",
            )
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"the statement text is at most {MAX_TEXT} characters",
            code="statement_text_too_long",
            field="text",
        )
    row = db.session.scalar(select(PrivacySettings).order_by(PrivacySettings.id).limit(1))
    if row is None:
        row = PrivacySettings()
        db.session.add(row)
    row.statement_url = url
    row.statement_text = text
    row.updated_at = utcnow()
    row.updated_by_id = by.id if by is not None else None
    db.session.flush()
    return row
