"""The rep's contact card on customer pages: name, title, phone, e-mail, WeChat ID or QR code.

Each member of staff fills in their own card (their settings page); the phone becomes a
tap-to-call `tel:` link, so only digits, spaces, +, - and parentheses are taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.accounts.models import User
from portal.branding import images
from portal.errors import ValidationFailed
from portal.extensions import db

MAX_TITLE = 120
MAX_PHONE = 40
MAX_WECHAT = 60
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{4,38}")
# WeChat IDs: 6–20 letters, digits, - and _, starting with a letter (older ones may differ, so
# allow up to 60 of the same characters).
_WECHAT = re.compile(r"[A-Za-z0-9_\-]{2,60}")


@dataclass(frozen=True)
class RepCard:
    name: str
    title: str
    phone: str
    tel: str  # the phone for a tel: link (digits and a leading +)
    email: str
    wechat_id: str
    wechat_qr_key: str

    @property
    def qr_name(self) -> str:
        return images.image_name(self.wechat_qr_key)


def card_of(user: User) -> RepCard:
    phone = user.phone or ""
    return RepCard(
        name=user.name,
        title=user.job_title or "",
        phone=phone,
        tel=re.sub(r"[^0-9+]", "", phone),
        email=user.email,
        wechat_id=user.wechat_id or "",
        wechat_qr_key=user.wechat_qr_key or "",
    )


def _check(value: str, limit: int, pattern: re.Pattern[str] | None, code: str, field: str) -> str:
    text = (value or "").strip()
    if len(text) > limit or (text and pattern is not None and not pattern.fullmatch(text)):
        what = field.replace("_", " ")
        raise ValidationFailed(f"the {what} is not valid", code=code, field=field)
    return text


def save_card(
    user: User,
    job_title: str,
    phone: str,
    wechat_id: str,
    qr: bytes | None = None,
    remove_qr: bool = False,
) -> RepCard:
    """Set the user's own contact card. The caller commits."""
    user.job_title = _check(job_title, MAX_TITLE, None, "job_title_too_long", "job_title")
    user.phone = _check(phone, MAX_PHONE, _PHONE, "phone_invalid", "phone")
    user.wechat_id = _check(wechat_id, MAX_WECHAT, _WECHAT, "wechat_id_invalid", "wechat_id")
    if qr:
        user.wechat_qr_key = images.store_image(qr, "wechat_qr")
    elif remove_qr:
        user.wechat_qr_key = ""
    db.session.flush()
    return card_of(user)
