"""The geometry of a rendered document: page sizes and the links inside each page.

The viewer shows pages as images, so a link in the document (an `<a href>` in an HTML template,
a link annotation in an uploaded PDF) would be dead. We read the link annotations of the
rendered PDF with pdfium, keep their rectangles relative to the page size (0..1, top-left
origin), and the viewer lays clickable overlays on the images. The result is cached in storage
next to the render (`<pdf cache key>.links.json`), so it is computed once per rendered copy.

Targets reach the customer only signed (salt "redirect"), together with the delivery whose page
shows them: the tracked redirect follows nothing it did not sign itself for that delivery, so it
can never be used as an open redirect nor record a click another document holds.
"""

from __future__ import annotations

import ctypes
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from portal.library.models import TemplateVersion
from portal.library.rendering import pdf_cache_key, render_version_pdf
from portal.library.storage import ObjectNotFound, get_storage
from portal.tracking import links

log = logging.getLogger(__name__)

REDIRECT_SALT = "redirect"
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
MAX_TARGET_LENGTH = 2000
MAX_LINKS_PER_PAGE = 200
LAYOUT_FORMAT = 1  # bump when the JSON below changes shape: old caches are then recomputed


@dataclass(frozen=True)
class LinkArea:
    """A clickable rectangle, as fractions of the page (x, y from the top-left corner)."""

    href: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class PageLayout:
    number: int  # 1-based
    width: float  # points
    height: float
    links: list[LinkArea] = field(default_factory=list)

    @property
    def aspect(self) -> float:
        """height / width (1.414 for A4 portrait)."""
        return self.height / self.width if self.width else 1.0


def is_allowed_target(href: Any) -> bool:
    """Only web, mail and phone links leave the viewer; never javascript:, data:, file: …"""
    if not isinstance(href, str) or not href or len(href) > MAX_TARGET_LENGTH:
        return False
    if any(ord(ch) < 32 or ch == "\x7f" for ch in href):
        return False
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return False
    if scheme in {"http", "https"}:
        return bool(parts.netloc) and not parts.netloc.startswith("@")
    return bool(parts.path)


def sign_target(href: str, delivery_id: int) -> str:
    """The signed `u=` of a link in one delivery's document. The delivery id is signed with the
    target, so a `u=` taken from another delivery's page is refused here rather than recorded
    as a click on a link this document does not contain."""
    return links.sign([delivery_id, href], REDIRECT_SALT)


def unsign_target(token: str | None, delivery_id: int) -> str | None:
    """The target a signed redirect token carries for this delivery, or None (tampered,
    signed for another delivery, not allowed)."""
    if not token:
        return None
    value = links.unsign(token, REDIRECT_SALT)
    if not isinstance(value, list) or len(value) != 2:
        return None
    signed_for, href = value
    if isinstance(signed_for, bool) or signed_for != delivery_id:
        return None
    return href if is_allowed_target(href) else None


# --- extraction ---------------------------------------------------------------------------


def _uri_of(document: Any, link: Any) -> str | None:
    import pypdfium2.raw as pdfium_c

    action = pdfium_c.FPDFLink_GetAction(link)
    if not action or pdfium_c.FPDFAction_GetType(action) != pdfium_c.PDFACTION_URI:
        return None  # internal jumps (#anchors) and launch actions are not followed
    size = pdfium_c.FPDFAction_GetURIPath(document.raw, action, None, 0)
    if size <= 1 or size > MAX_TARGET_LENGTH + 1:
        return None
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDFAction_GetURIPath(document.raw, action, buffer, size)
    return buffer.raw[: size - 1].decode("utf-8", errors="replace").strip()


def _clamp(value: float) -> float:
    return round(min(max(value, 0.0), 1.0), 5)


def _page_links(document: Any, page: Any, width: float, height: float) -> list[LinkArea]:
    import pypdfium2.raw as pdfium_c

    left0, bottom0, _, _ = page.get_cropbox()
    found: list[LinkArea] = []
    position = ctypes.c_int(0)
    link = pdfium_c.FPDF_LINK()
    while len(found) < MAX_LINKS_PER_PAGE and pdfium_c.FPDFLink_Enumerate(
        page.raw, ctypes.byref(position), ctypes.byref(link)
    ):
        href = _uri_of(document, link)
        if not is_allowed_target(href):
            continue
        rect = pdfium_c.FS_RECTF()
        if not pdfium_c.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)):
            continue
        x0, x1 = sorted((rect.left - left0, rect.right - left0))
        y0, y1 = sorted((rect.bottom - bottom0, rect.top - bottom0))
        x, y = _clamp(x0 / width), _clamp(1 - y1 / height)
        w, h = _clamp(x1 / width) - x, _clamp(1 - y0 / height) - y
        if w <= 0 or h <= 0:
            continue
        found.append(LinkArea(href=href, x=x, y=y, w=round(w, 5), h=round(h, 5)))
    return found


def extract_layout(pdf: bytes) -> list[PageLayout]:
    """Page sizes and URI link rectangles of every page of a PDF."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        pages: list[PageLayout] = []
        for index in range(len(document)):
            page = document[index]
            try:
                width, height = page.get_size()
                # Rotated pages: annotation rectangles live in the unrotated space; rather no
                # overlay than one in the wrong place.
                usable = width > 0 and height > 0 and page.get_rotation() == 0
                areas = _page_links(document, page, width, height) if usable else []
                pages.append(PageLayout(index + 1, round(width, 3), round(height, 3), areas))
            finally:
                page.close()
        return pages
    finally:
        document.close()


# --- cache --------------------------------------------------------------------------------


def layout_cache_key(version: TemplateVersion, variables: dict[str, Any]) -> str:
    return pdf_cache_key(version, variables) + ".links.json"


def _dump(pages: list[PageLayout]) -> bytes:
    data = {"format": LAYOUT_FORMAT, "pages": [asdict(p) for p in pages]}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _load(raw: bytes) -> list[PageLayout] | None:
    try:
        data = json.loads(raw)
        if data.get("format") != LAYOUT_FORMAT:
            return None
        return [
            PageLayout(
                number=int(p["number"]),
                width=float(p["width"]),
                height=float(p["height"]),
                links=[LinkArea(**area) for area in p["links"]],
            )
            for p in data["pages"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def document_layout(version: TemplateVersion, variables: dict[str, Any]) -> list[PageLayout]:
    """The layout of this customer's copy: from the cache, else from the (cached) render."""
    storage = get_storage()
    key = layout_cache_key(version, variables)
    try:
        cached = _load(storage.get(key))
        if cached is not None:
            return cached
    except ObjectNotFound:
        pass
    pages = extract_layout(render_version_pdf(version, variables))
    try:
        storage.put(key, _dump(pages), "application/json")
    except Exception:  # a cache that cannot be written costs time, not correctness
        log.warning("could not cache the document layout under %s", key, exc_info=True)
    return pages
