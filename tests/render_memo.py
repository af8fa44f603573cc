"""WeasyPrint layouts remembered within a test process, for self-contained HTML.

Laying out a page with CJK text costs 0.3–1 s of CPU, and most tests render the same few
documents again and again (every `make_template` renders its preview, every `make_delivery` its
customer's copy of TWO_PAGE_HTML for 张伟): that was about a third of the suite's CPU. WeasyPrint
is deterministic (the same HTML and stylesheets give the same bytes, checked below), so a
layout of an input already laid out in this process is answered from memory.

What is never remembered, so no test can pass on an earlier test's work:
- HTML or CSS that refers to anything (src=, url(, <link, @import, …): the fetcher's answers
  (a bundle's assets, a refused or missing URL and its log line) are part of the result;
- a render into a target (a file) rather than returned bytes;
- tests marked `real_renders` (the renderer's own tests: they time a render against another,
  or watch WeasyPrint's log).

Counting tests still count: they wrap `HTML.write_pdf` above this memo, so every call is seen.

Page images are remembered the same way: pdfium's drawing and Pillow's PNG and WebP encoders are
deterministic too (the same PDF bytes, page and width give the same image bytes, checked in
tests/test_render_memo.py), and every delivery draws its first page as a PNG and as a WebP per
width: about a fifth of the CPU of the tests that send, the same few pages again and again.
Keyed by the PDF's bytes, so a different copy (another customer, a watermark) is drawn anew.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict

from weasyprint import CSS, HTML

from portal.library.rendering import pdf as pdf_module

# Anything WeasyPrint would fetch through the URL fetcher.
_REFERENCES = re.compile(
    r"src\s*=|srcset|url\s*\(|<link|@import|<object|<embed|<iframe|<svg|xlink:href|data:",
    re.IGNORECASE,
)
_LIMIT = 256  # ~100 kB a PDF: at most ~25 MB per test process
_IMAGE_LIMIT = 256  # 10-150 kB an image
_IMAGE_FUNCTIONS = ("page_png", "page_webp", "page_images")


class RenderMemo:
    def __init__(self) -> None:
        self.enabled = True
        self.hits = 0
        self._layouts: OrderedDict[str, bytes] = OrderedDict()
        self._html_init = HTML.__init__
        self._css_init = CSS.__init__
        self._write_pdf = HTML.write_pdf
        self._images: OrderedDict[tuple, bytes] = OrderedDict()
        self._image_functions = {name: getattr(pdf_module, name) for name in _IMAGE_FUNCTIONS}

    def install(self) -> None:
        memo = self

        def html_init(html, *args, **kwargs):
            memo._html_init(html, *args, **kwargs)
            html._memo_source = _source(args, kwargs)

        def css_init(css, *args, **kwargs):
            memo._css_init(css, *args, **kwargs)
            css._memo_source = _source(args, kwargs)

        def write_pdf(html, target=None, *args, **kwargs):
            key = memo._key(html, target, args, kwargs)
            if key is None:
                return memo._write_pdf(html, target, *args, **kwargs)
            if key in memo._layouts:
                memo.hits += 1
                memo._layouts.move_to_end(key)
                return memo._layouts[key]
            pdf = memo._write_pdf(html, target, *args, **kwargs)
            memo._layouts[key] = pdf
            if len(memo._layouts) > _LIMIT:
                memo._layouts.popitem(last=False)
            return pdf

        HTML.__init__ = html_init
        CSS.__init__ = css_init
        HTML.write_pdf = write_pdf
        for name, draw in self._image_functions.items():
            setattr(pdf_module, name, self._remembered(name, draw))

    def uninstall(self) -> None:
        HTML.__init__ = self._html_init
        CSS.__init__ = self._css_init
        HTML.write_pdf = self._write_pdf
        for name, draw in self._image_functions.items():
            setattr(pdf_module, name, draw)

    def _remembered(self, name: str, draw):
        memo = self

        def image(pdf: bytes, page: int, *args, **kwargs) -> bytes:
            if not memo.enabled:
                return draw(pdf, page, *args, **kwargs)
            key = (name, hashlib.sha256(pdf).digest(), page, args, tuple(sorted(kwargs.items())))
            if key in memo._images:
                memo.hits += 1
                memo._images.move_to_end(key)
                return memo._images[key]
            drawn = draw(pdf, page, *args, **kwargs)  # a ValueError is raised, not remembered
            memo._images[key] = drawn
            if len(memo._images) > _IMAGE_LIMIT:
                memo._images.popitem(last=False)
            return drawn

        image.__wrapped__ = draw
        return image

    def _key(self, html, target, args, kwargs) -> str | None:
        if not self.enabled or target is not None or args:
            return None
        parts = [getattr(html, "_memo_source", None), str(getattr(html, "base_url", ""))]
        for sheet in kwargs.get("stylesheets") or ():
            parts.append(getattr(sheet, "_memo_source", None))
        if any(part is None or _REFERENCES.search(part) for part in parts):
            return None
        options = sorted((k, repr(v)) for k, v in kwargs.items() if k != "stylesheets")
        digest = hashlib.sha256()
        for part in [*parts, repr(options)]:
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()


def _source(args: tuple, kwargs: dict) -> str | None:
    """The markup an HTML/CSS object was made from, when it was made from a string only."""
    if args or any(kwargs.get(name) for name in ("guess", "filename", "url", "file_obj")):
        return None
    string = kwargs.get("string")
    return string if isinstance(string, str) else None
