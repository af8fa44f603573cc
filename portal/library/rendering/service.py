"""Rendering as the rest of the app sees it: a version plus variables in, PDF or PNG bytes out.

Rendered files are cached in storage, keyed by what determines them: the version's sha256 and
the hash of the variables. A repeat open reads the cache and never starts WeasyPrint (which is
only imported when something actually has to be rendered).

    renders/<version sha256>/<variables hash>.pdf
    renders/<version sha256>/<variables hash>/page-<n>.png
    renders/<version sha256>/<variables hash>/page-<n>-<width>w.webp

The viewer's page images come as WebP in a few widths (PAGE_WEBP_WIDTHS, a `srcset`: the
browser takes the one its screen needs, rasterised at that width from the PDF, never scaled
from another), and as one PNG 1,000 px wide for browsers without WebP.

PDF uploads are shown as uploaded: no personalisation, the same file for every customer.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from portal import metrics
from portal.library.bundle import load_bundle
from portal.library.rendering.sandbox import TemplateRenderError, render_html
from portal.library.rendering.variables import sample_variables, variables_hash
from portal.library.storage import ObjectNotFound, get_storage, node_cache

if TYPE_CHECKING:
    from portal.library.models import TemplateVersion

RENDER_PREFIX = "renders"
PDF_SOURCE = "pdf"
# The widths of the viewer's WebP page images, in device pixels. The page fills a phone's
# screen (360-430 CSS px) and is at most 868 CSS px wide on a desktop; the browser takes the
# first candidate at least as wide as the page times its pixel ratio (Chromium, measured):
# 720 for a 360 px phone at 2x, 960 for larger phones at 2x and desktops at 1x, 1280 for
# phones at 3x (390 × 3 = 1170), 1800 for desktops at 2x; 480 for small screens.
PAGE_WEBP_WIDTHS = (480, 720, 960, 1280, 1800)
# Rendered when a copy is prepared (portal.delivery.services.prepare_delivery): the first page
# at the widths phones take, so a first open does not wait for the rasteriser.
PREPARED_WEBP_WIDTHS = (960, 1280)


def _variables_key(version: TemplateVersion, variables: dict[str, Any]) -> str:
    # A PDF upload ignores the variables: one cache entry for everybody.
    return variables_hash({} if version.source_type == PDF_SOURCE else variables)


def pdf_cache_key(version: TemplateVersion, variables: dict[str, Any]) -> str:
    return f"{RENDER_PREFIX}/{version.sha256}/{_variables_key(version, variables)}.pdf"


def png_cache_key(version: TemplateVersion, variables: dict[str, Any], page: int) -> str:
    return f"{RENDER_PREFIX}/{version.sha256}/{_variables_key(version, variables)}/page-{page}.png"


def webp_cache_key(
    version: TemplateVersion, variables: dict[str, Any], page: int, width: int
) -> str:
    return png_cache_key(version, variables, page).removesuffix(".png") + f"-{width}w.webp"


def _render_source(source_type: str, data: bytes, variables: dict[str, Any]) -> bytes:
    try:
        bundle = load_bundle(source_type, data)
    except UnicodeDecodeError as exc:
        raise TemplateRenderError("the HTML is not UTF-8 text") from exc
    except (ValueError, zipfile.BadZipFile) as exc:
        raise TemplateRenderError(f"the template cannot be opened: {exc}") from exc
    html = render_html(bundle.html, variables)
    from portal.library.rendering import pdf  # WeasyPrint loads only when rendering

    return pdf.html_to_pdf(html, bundle)


def render_version_pdf(version: TemplateVersion, variables: dict[str, Any]) -> bytes:
    """The version personalised with variables, as PDF; rendered once, then from the cache."""
    storage = get_storage()
    if version.source_type == PDF_SOURCE:
        return storage.get(version.storage_key)
    key = pdf_cache_key(version, variables)
    try:
        return storage.get(key)
    except ObjectNotFound:
        pass
    source = node_cache.read_bytes(version.storage_key)  # immutable: from this node's disk
    started = time.perf_counter()
    try:
        rendered = _render_source(version.source_type, source, variables)
    except Exception:
        metrics.RENDER_FAILURES.inc()
        raise
    metrics.RENDERS.observe(time.perf_counter() - started)
    storage.put(key, rendered, "application/pdf")
    node_cache.remember(key, rendered)  # the open that asked for it is served from disk
    return rendered


def _cached_image(key: str, content_type: str, draw: Callable[[], bytes]) -> bytes:
    storage = get_storage()
    try:
        return storage.get(key)
    except ObjectNotFound:
        pass
    image = draw()
    storage.put(key, image, content_type)
    node_cache.remember(key, image)
    return image


def _check_page(page: int) -> None:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"invalid page number {page!r}")


def render_version_page_png(
    version: TemplateVersion, variables: dict[str, Any], page: int
) -> bytes:
    """Page `page` (1-based) of render_version_pdf() as PNG; ValueError for a page not there."""
    _check_page(page)
    from portal.library.rendering import pdf

    return _cached_image(
        png_cache_key(version, variables, page),
        "image/png",
        lambda: pdf.page_png(render_version_pdf(version, variables), page),
    )


def render_version_page_webp(
    version: TemplateVersion, variables: dict[str, Any], page: int, width: int
) -> bytes:
    """Page `page` (1-based) of render_version_pdf() as WebP `width` pixels wide, one of
    PAGE_WEBP_WIDTHS (anything else would let a caller rasterise at any size);
    ValueError for a page or width not there."""
    _check_page(page)
    if width not in PAGE_WEBP_WIDTHS:
        raise ValueError(f"no page images {width!r} px wide")
    from portal.library.rendering import pdf

    return _cached_image(
        webp_cache_key(version, variables, page, width),
        "image/webp",
        lambda: pdf.page_webp(render_version_pdf(version, variables), page, width),
    )


def prepare_copy(version: TemplateVersion, variables: dict[str, Any]) -> None:
    """The customer's copy and the first page's images a first open asks for (the PNG and the
    WebP at PREPARED_WEBP_WIDTHS), each drawn at its own width, rendered into the cache.

    The same files render_version_page_png() and _webp() make, but the PDF is rendered (or
    fetched) once and parsed once for all of them: one at a time, each fetched the PDF from
    storage again and parsed it again (a bulk send of 200 made 800 fetches)."""
    storage = get_storage()
    png_key = png_cache_key(version, variables, 1)
    webp_keys = {w: webp_cache_key(version, variables, 1, w) for w in PREPARED_WEBP_WIDTHS}
    # Prepared before (a retried job, a second send of the same copy): the images are only ever
    # stored after their PDF, so the PDF is there too and need not be fetched.
    if all(storage.exists(key) for key in (png_key, *webp_keys.values())):
        return
    rendered = render_version_pdf(version, variables)
    from portal.library.rendering import pdf

    png, webps = pdf.page_images(rendered, 1, pdf.PAGE_PNG_WIDTH, PREPARED_WEBP_WIDTHS)
    for key, image, content_type in [
        (png_key, png, "image/png"),
        *((webp_keys[w], webps[w], "image/webp") for w in PREPARED_WEBP_WIDTHS),
    ]:
        storage.put(key, image, content_type)
        node_cache.remember(key, image)


def render_version_preview(version: TemplateVersion) -> bytes:
    """The version rendered with sample data, for marketing's preview."""
    return render_version_pdf(version, sample_variables())


def render_source_preview(source_type: str, data: bytes) -> bytes:
    """Render an uploaded (not yet stored) file with sample data, to validate it at upload.

    Returns the PDF (a PDF upload is returned as is once it proves readable); raises
    TemplateRenderError with a message for the template's author when it cannot be rendered.
    """
    from portal.library.rendering import pdf

    if source_type == PDF_SOURCE:
        try:
            pages = pdf.page_count(data)
        except ValueError as exc:
            raise TemplateRenderError("the file is not a readable PDF") from exc
        if pages == 0:
            raise TemplateRenderError("the PDF has no pages")
        return data
    return _render_source(source_type, data, sample_variables())
