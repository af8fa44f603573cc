"""The company's brand: what admins set, what customer pages and e-mails show.

The accent colour is written into CSS (a <style> block and e-mail style attributes), so only
a strict `#rrggbb` is ever stored or returned; the company name is text, autoescaped where it
is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.branding import images
from portal.branding.models import BrandSettings
from portal.db_types import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db

MAX_COMPANY = 120
MIN_CONTRAST = 3.0  # WCAG AA for large and bold text (button labels)
_HEX = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class Brand:
    company_name: str  # "" when not set
    accent_color: str  # "#rrggbb", or "" for Portal's own blue
    logo_key: str  # "" when there is no logo

    @property
    def logo_name(self) -> str:
        return images.image_name(self.logo_key)

    def _mixed(self, towards: int, share: float) -> str:
        if not self.accent_color:
            return ""
        rgb = [int(self.accent_color[i : i + 2], 16) for i in (1, 3, 5)]
        return "#" + "".join(f"{round(c + (towards - c) * share):02x}" for c in rgb)

    def accent_dark(self) -> str:
        """The accent darkened by a quarter (pressed buttons), "#rrggbb"."""
        return self._mixed(0, 0.25)

    def accent_light(self) -> str:
        """The accent lightened by a sixth (the far end of the portal's header), "#rrggbb"."""
        return self._mixed(255, 1 / 6)


def _row() -> BrandSettings | None:
    return db.session.scalar(select(BrandSettings).order_by(BrandSettings.id).limit(1))


def brand() -> Brand:
    row = _row()
    if row is None:
        return Brand("", "", "")
    accent = row.accent_color if _HEX.fullmatch(row.accent_color or "") else ""
    return Brand(row.company_name or "", accent, row.logo_key or "")


def normalise_color(value: str) -> str:
    """`#RRGGBB` or `RRGGBB` (any case) as `#rrggbb`; "" for empty; ValidationFailed
    (accent_color_invalid) for anything else: nothing else may reach a stylesheet."""
    text = (value or "").strip().lower()
    if not text:
        return ""
    if not text.startswith("#"):
        text = "#" + text
    if not _HEX.fullmatch(text):
        raise ValidationFailed(
            "the accent colour must be a hex colour such as #1a6fd1",
            code="accent_color_invalid",
            field="accent_color",
        )
    if _contrast_with_white(text) < MIN_CONTRAST:
        # Buttons carry white text on the accent: a pale accent would make them unreadable.
        raise ValidationFailed(
            "the accent colour is too light for white text on buttons",
            code="accent_color_too_light",
            field="accent_color",
        )
    return text


def _contrast_with_white(color: str) -> float:
    """WCAG 2 contrast ratio of white text on color ("#rrggbb")."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(color[i : i + 2], 16)) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def save_brand(
    by: User | None,
    company_name: str,
    accent_color: str,
    logo: bytes | None = None,
    remove_logo: bool = False,
) -> BrandSettings:
    """Set the company's name, accent colour and (optionally) a new logo; an admin. The caller
    commits."""
    require_admin(by, "set the company's branding")
    name = (company_name or "").strip()
    if len(name) > MAX_COMPANY:
        raise ValidationFailed(
            f"the company name is at most {MAX_COMPANY} characters",
            code="company_name_too_long",
            field="company_name",
        )
    accent = normalise_color(accent_color)
    logo_key = images.store_image(logo, "logo") if logo else None
    row = _row()
    if row is None:
        row = BrandSettings(company_name="", accent_color="", logo_key="")
        db.session.add(row)
    row.company_name = name
    row.accent_color = accent
    if logo_key is not None:
        row.logo_key = logo_key
    elif remove_logo:
        row.logo_key = ""
    row.updated_at = utcnow()
    row.updated_by_id = by.id if by is not None else None
    db.session.flush()
    return row


def is_served_image(key: str) -> bool:
    """Whether key is an image Portal shows today (the logo or a rep's QR code): nothing else
    under brand/ is served, so an old or unknown key is a 404."""
    if not images.is_image_key(key):
        return False
    if db.session.scalar(select(BrandSettings.id).where(BrandSettings.logo_key == key).limit(1)):
        return True
    found = db.session.scalar(
        select(User.id).where(User.wechat_qr_key == key, User.active).limit(1)
    )
    return found is not None
