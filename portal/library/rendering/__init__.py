"""Template rendering: sandboxed Jinja -> HTML -> PDF (WeasyPrint) -> PNG pages (pdfium).

The rest of the app calls the service functions. WeasyPrint is slow to import, so the names
from pdf and fetcher load on first use (PEP 562) and importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from portal.library.rendering.sandbox import TemplateRenderError, render_html
from portal.library.rendering.service import (
    PAGE_WEBP_WIDTHS,
    PREPARED_WEBP_WIDTHS,
    pdf_cache_key,
    png_cache_key,
    prepare_copy,
    render_source_preview,
    render_version_page_png,
    render_version_page_webp,
    render_version_pdf,
    render_version_preview,
    webp_cache_key,
)
from portal.library.rendering.variables import (
    customer_variables,
    sample_variables,
    variables_hash,
)

if TYPE_CHECKING:
    from portal.library.rendering.fetcher import BundleURLFetcher
    from portal.library.rendering.pdf import html_to_pdf, page_count, page_png, page_webp

_LAZY = {
    "BundleURLFetcher": "portal.library.rendering.fetcher",
    "html_to_pdf": "portal.library.rendering.pdf",
    "page_count": "portal.library.rendering.pdf",
    "page_png": "portal.library.rendering.pdf",
    "page_webp": "portal.library.rendering.pdf",
}

__all__ = [
    "PAGE_WEBP_WIDTHS",
    "PREPARED_WEBP_WIDTHS",
    "BundleURLFetcher",
    "TemplateRenderError",
    "customer_variables",
    "html_to_pdf",
    "page_count",
    "page_png",
    "page_webp",
    "pdf_cache_key",
    "png_cache_key",
    "prepare_copy",
    "render_html",
    "render_source_preview",
    "render_version_page_png",
    "render_version_page_webp",
    "render_version_pdf",
    "render_version_preview",
    "sample_variables",
    "variables_hash",
    "webp_cache_key",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
