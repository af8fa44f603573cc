"""The reader's mark on a delivery's pages and on its downloaded PDF.

The mark names who the copy was sent to: the customer's name, company and the send date, and
the forwarded reader's name when the reader on this device said who they are
(portal.delivery.visitors). The viewer lays it over the page images (templates/customer/
viewer.html); a download gets it stamped into every page of the PDF
(portal.library.rendering.watermark).

A stamped PDF is made once and kept in storage like a render, under the delivery
(watermarks/<delivery id>/<hash of the copy and the mark>.pdf): a second download, or the same
download on another node, stamps and renders nothing, an open never stamps anything, and
erasing a customer removes their deliveries' folders (portal.privacy.erasure).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from portal.library.storage import ObjectNotFound, get_storage, node_cache

PREFIX = "watermarks"
SEPARATOR = " · "


def mark_text(name: str, company: str, day: str, visitor_name: str | None = None) -> str:
    """ "张伟 · 华东精密制造有限公司 · 2026-12-06", then the forwarded reader's name."""
    return SEPARATOR.join(part for part in (name, company, day, visitor_name) if part)


def folder(delivery_id: int) -> str:
    """Where a delivery's stamped copies are kept (a prefix: erasure lists and deletes it)."""
    return f"{PREFIX}/{delivery_id}/"


def cache_key(delivery_id: int, source_key: str, mark: str) -> str:
    digest = hashlib.sha256(f"{source_key}\n{mark}".encode()).hexdigest()
    return f"{folder(delivery_id)}{digest}.pdf"


def marked_copy(delivery_id: int, source_key: str, mark: str) -> Path:
    """A local file of the PDF stored under source_key with mark on every page: stamped on the
    first call, from the cache after (ObjectNotFound when the source is not stored)."""
    key = cache_key(delivery_id, source_key, mark)
    path = node_cache.local_path(key)
    if path is not None:
        return path
    from portal.library.rendering.watermark import watermark_pdf  # loads WeasyPrint

    marked = watermark_pdf(node_cache.read_bytes(source_key), mark)
    get_storage().put(key, marked, "application/pdf")
    node_cache.remember(key, marked)
    path = node_cache.local_path(key)
    if path is None:  # just stored: only a storage that lost it at once gets here
        raise ObjectNotFound(key)
    return path
