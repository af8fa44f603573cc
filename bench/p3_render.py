"""P3: the first render of a 5-page Chinese document vs WeasyPrint alone on the same HTML, and
the renders that 100 repeat opens cause (must be 0).

In process, timed with perf_counter. Each run renders a new customer's copy, so it is a real
cache miss: the app's path (portal.library.rendering.render_version_pdf: the source from
storage, the sandboxed Jinja, WeasyPrint with the bundle-only fetcher and the CJK user
stylesheet, the PDF written to the render cache) against `weasyprint.HTML(string=html)
.write_pdf()` of the very HTML that customer's copy is made of. One render of each comes first,
untimed, so that neither pays for loading WeasyPrint and the fonts.

Repeat opens go through the Flask test client like a phone would: the viewer page, every page
image and the download. Renders are counted by wrapping the two functions that render
(html_to_pdf: WeasyPrint; page_png, page_webp: pdfium rasterising a page).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from bench import documents, seed
from bench.report import Figure, median, spread
from bench.settings import Settings
from bench.stack import Stack

log = logging.getLogger("bench")
PAGE_KINDS = (".png", "/1280.webp")  # the PNG, and the WebP a phone at 3x takes (P7)
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"


@contextlib.contextmanager
def counted_renders() -> Iterator[dict[str, int]]:
    """Count calls of the rendering functions while the block runs."""
    from portal.library.rendering import pdf

    counts = {"html_to_pdf": 0, "page_png": 0, "page_webp": 0}
    originals = {name: getattr(pdf, name) for name in counts}

    def counting(name):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return originals[name](*args, **kwargs)

        return wrapper

    for name in counts:
        setattr(pdf, name, counting(name))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(pdf, name, original)


def _refuse_all(url: str, *args, **kwargs):
    raise ValueError(f"the benchmark HTML loads nothing ({url})")


def _weasyprint_alone(html: str) -> float:
    from weasyprint import HTML

    start = time.perf_counter()
    HTML(string=html, url_fetcher=_refuse_all).write_pdf()
    return time.perf_counter() - start


def _app_render(version, variables) -> float:
    from portal.library.rendering import render_version_pdf

    start = time.perf_counter()
    render_version_pdf(version, variables)
    return time.perf_counter() - start


def _storage_round_trip(version) -> float:
    """Milliseconds of three storage round trips, as many as a first render makes besides
    rendering (the cache look-up that misses, the source read, the PDF write): here the
    source read, a PDF-sized write to a scratch key and its read; median of 3. With the Jinja
    step, this is what separates the app's render from WeasyPrint alone."""
    from portal.library.rendering import render_version_preview
    from portal.library.storage import get_storage

    storage = get_storage()
    pdf = render_version_preview(version)
    times = []
    for n in range(3):
        start = time.perf_counter()
        storage.get(version.storage_key)
        storage.put(f"bench/p3-scratch-{n}.pdf", pdf, "application/pdf")
        storage.get(f"bench/p3-scratch-{n}.pdf")
        times.append((time.perf_counter() - start) * 1000)
    for n in range(3):
        storage.delete(f"bench/p3-scratch-{n}.pdf")
    return median(times)


def _open(client, doc_path: str, pages: int) -> None:
    """What a phone fetches on one open: the viewer, each page image, the download."""
    headers = {"User-Agent": PHONE}
    images = [f"{doc_path}/pages/{n}{kind}" for n in range(1, pages + 1) for kind in PAGE_KINDS]
    for path in [doc_path, *images]:
        answer = client.get(path, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code}")
    answer = client.get(f"{doc_path}/download", headers=headers)
    if answer.status_code != 200:
        raise RuntimeError(f"GET {doc_path}/download: {answer.status_code}")


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    from portal.extensions import db
    from portal.library.bundle import load_bundle
    from portal.library.rendering import customer_variables, render_html
    from portal.library.storage import get_storage

    app = stack.app()
    app_times: list[float] = []
    alone_times: list[float] = []
    with app.app_context():
        staff = seed.staff("p3")
        quote = seed.template(
            staff.marketing,
            name="智能产线方案与报价",
            kind="quote",
            filename="quote.html",
            data=documents.CHINESE_5_PAGES.encode(),
            content_tags=documents.CHINESE_CONTENT_TAGS,
        )
        version = quote.latest_version
        pages = version.page_count or 5
        source = load_bundle(version.source_type, get_storage().get(version.storage_key))
        people = seed.customers(staff.rep, settings.p3_renders + 1, "p3")
        for n, customer in enumerate(people):
            variables = customer_variables(customer, staff.rep)
            html = render_html(source.html, variables)
            if n == 0:  # warm-up, untimed
                _weasyprint_alone(html)
                _app_render(version, variables)
                continue
            if n % 2:
                alone_times.append(_weasyprint_alone(html))
                app_times.append(_app_render(version, variables))
            else:
                app_times.append(_app_render(version, variables))
                alone_times.append(_weasyprint_alone(html))
            log.info(
                "P3 run %d: app %.3f s, WeasyPrint alone %.3f s", n, app_times[-1], alone_times[-1]
            )

        storage_ms = _storage_round_trip(version)
        reader = seed.customers(staff.rep, 1, "p3-reader")[0]
        with counted_renders() as first:
            doc_path = seed.send_to(staff.rep, reader.id, quote.id)
            client = app.test_client()
            _open(client, doc_path, pages)
        with counted_renders() as repeat:
            for _ in range(settings.p3_repeat_opens):
                _open(client, doc_path, pages)
        db.session.remove()
    first_total = sum(first.values())
    repeat_total = sum(repeat.values())
    log.info("P3 renders: send + first open %s, repeat opens %s", first, repeat)
    opens = settings.p3_repeat_opens
    return [
        Figure(
            key="P3",
            name=f"P3 first render of a {pages}-page Chinese document s",
            value=median(app_times),
            baseline=median(alone_times),
            measures=(
                "render_version_pdf on a cache miss (storage, sandboxed Jinja, WeasyPrint, "
                "cache write), seconds"
            ),
            baseline_is="WeasyPrint alone, HTML(string=...).write_pdf() of the same HTML",
            goal="ratio ≤ 1.1",
            note=(
                f"app {spread(app_times, 3)}; WeasyPrint {spread(alone_times, 3)}; "
                f"3 storage round trips alone: {storage_ms:.0f} ms"
            ),
            digits=3,
        ),
        Figure(
            key="P3",
            name=f"P3 renders on {opens} repeat opens",
            value=repeat_total,
            baseline=first_total,
            measures=(
                f"WeasyPrint renders + page rasterisations during {opens} repeat opens "
                f"(viewer, {pages} page images, download each)"
            ),
            baseline_is="the same count for the send and the first open",
            goal="0",
            note=f"send + first open: {first}; repeat opens: {repeat}",
            digits=0,
        ),
    ]
