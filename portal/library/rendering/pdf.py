"""Rendered HTML to PDF (WeasyPrint), and PDF pages to PNG (pdfium).

Chinese text must never come out as empty boxes: a user stylesheet (below the template's own
styles in the cascade) makes Noto Sans CJK SC the default face and zh-CN the default language,
so fontconfig's fallback for any face the template names (Microsoft YaHei, SimSun, serif...)
picks the Simplified Chinese Noto Sans / Noto Serif CJK faces. Fonts are embedded as subsets
(fast with libharfbuzz-subset0; without it a CJK render takes ~10 s).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import pypdfium2 as pdfium

from portal.library.bundle import TemplateBundle
from portal.library.rendering.sandbox import TemplateRenderError

logger = logging.getLogger(__name__)

CJK_SANS = "Noto Sans CJK SC"
CJK_SERIF = "Noto Serif CJK SC"
DEFAULT_LANG = "zh-CN"

USER_STYLESHEET = f"""
html {{
  -weasy-lang: "{DEFAULT_LANG}";
  font-family: "{CJK_SANS}", "Noto Sans", "DejaVu Sans", sans-serif;
}}
"""

PAGE_PNG_WIDTH = 1000
MAX_PNG_WIDTH = 4000
# Lossless WebP's effort (0-100): from about 70 up it finds the small encoding of text pages
# (80: 44 kB for a page of Chinese text 1,280 px wide, against 199 kB at 50; 100 takes 14 times
# as long for the same size).
WEBP_LOSSLESS_EFFORT = 80
WEBP_PICTURE_QUALITY = 82  # lossy WebP of a page that is mostly picture


def html_to_pdf(html: str, bundle: TemplateBundle) -> bytes:
    """Lay out rendered HTML as PDF; its assets come from bundle and nowhere else."""
    # WeasyPrint is imported where it lays out, not with this module: every app process
    # (gunicorn, `flask` commands) imports this module through the worker's command, and
    # WeasyPrint's import alone is ~0.7 s of CPU. The RQ worker loads it ahead (warm_up).
    from weasyprint import CSS, HTML

    from portal.library.rendering.fetcher import BundleURLFetcher, bundle_base_url

    fetcher = BundleURLFetcher(bundle)
    try:
        document = HTML(string=html, base_url=bundle_base_url(bundle), url_fetcher=fetcher)
        pdf = document.write_pdf(
            stylesheets=[CSS(string=USER_STYLESHEET, url_fetcher=fetcher)],
            full_fonts=False,  # embed subsets
        )
    except Exception as exc:  # WeasyPrint can trip over odd HTML/CSS: the template's fault
        raise TemplateRenderError(f"the HTML could not be laid out as PDF: {exc}") from exc
    if fetcher.refused:
        logger.info("template resources refused: %s", ", ".join(fetcher.refused[:20]))
    if fetcher.missing:
        logger.info("template assets missing: %s", ", ".join(fetcher.missing[:20]))
    return pdf


def warm_up() -> None:
    """Lay out one line of Chinese and draw it, so this process has WeasyPrint and pdfium
    loaded, fontconfig's fonts found and the default stylesheets parsed. The RQ worker calls
    it before it forks a work-horse per job (portal.worker): each render job then starts warm
    instead of paying for all that again (~3 s a job on a loaded 2-core machine)."""
    html = "<p>预热 warm-up</p>"
    page_png(html_to_pdf(html, TemplateBundle(html=html)), 1, 100)


def _open(pdf: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"not a readable PDF: {exc}") from exc


def page_count(pdf: bytes) -> int:
    document = _open(pdf)
    try:
        return len(document)
    finally:
        document.close()


def _rasters(pdf: bytes, page: int, widths: Sequence[int]) -> list:
    """Page `page` (1-based) as PIL images, one per width, each drawn by pdfium at its own
    width from one parse of the document; ValueError for a page not there."""
    for width in widths:
        if not 0 < width <= MAX_PNG_WIDTH:
            raise ValueError(f"width must be between 1 and {MAX_PNG_WIDTH}")
    document = _open(pdf)
    try:
        if not 1 <= page <= len(document):
            raise ValueError(f"page {page} does not exist (the document has {len(document)})")
        pdf_page = document[page - 1]
        try:
            images = []
            for width in widths:
                bitmap = pdf_page.render(scale=width / pdf_page.get_width())
                try:
                    images.append(bitmap.to_pil().copy())  # its own pixels: freed below
                finally:
                    bitmap.close()
            return images
        finally:
            pdf_page.close()
    finally:
        document.close()


def _png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _webp(image) -> bytes:
    """A page that is mostly one colour (text, tables, line art on paper: almost every quote and
    proposal) is encoded lossless: its antialiased glyphs stay exactly as pdfium drew them,
    and it is smaller than lossy WebP or PNG (a page of Chinese text 1,280 px wide: about
    45 kB, against 190 kB lossy at quality 82 and 560 kB as PNG). A page that is mostly
    picture (a brochure's photos) is encoded lossy, where lossless would be several times
    larger than the PNG."""
    out = io.BytesIO()
    if _mostly_one_colour(image):
        image.save(out, format="WEBP", lossless=True, quality=WEBP_LOSSLESS_EFFORT, method=4)
    else:
        image.save(out, format="WEBP", quality=WEBP_PICTURE_QUALITY, method=4)
    return out.getvalue()


def page_png(pdf: bytes, page: int, width: int = PAGE_PNG_WIDTH) -> bytes:
    """Page `page` (1-based) as a PNG `width` pixels wide; ValueError for a page not there."""
    return _png(_rasters(pdf, page, [width])[0])


def page_webp(pdf: bytes, page: int, width: int) -> bytes:
    """Page `page` (1-based) as a WebP `width` pixels wide, for the viewer's srcset (_webp says
    how it is encoded)."""
    return _webp(_rasters(pdf, page, [width])[0])


def page_images(
    pdf: bytes, page: int, png_width: int, webp_widths: Sequence[int]
) -> tuple[bytes, dict[int, bytes]]:
    """Page `page` as page_png() and page_webp() at each of webp_widths would give it, with the
    document parsed once for all of them."""
    png, *webps = _rasters(pdf, page, [png_width, *webp_widths])
    return _png(png), {width: _webp(image) for width, image in zip(webp_widths, webps, strict=True)}


def _mostly_one_colour(image) -> bool:
    """Whether at least half the page's pixels have its commonest grey level (the paper)."""
    histogram = image.convert("L").histogram()
    return max(histogram) * 2 >= image.width * image.height
