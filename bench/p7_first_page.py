"""P7: the customer's first page on a phone: how soon it is visible, and the bytes before it.

Headless Chromium (Debian's /usr/bin/chromium through Playwright) with a phone's screen
(390 × 844 CSS pixels, device pixel ratio 3, touch) and a slow phone network, emulated by
Chromium itself (CDP Network.emulateNetworkConditions: 1.6 Mbps down, 750 kbps up, 150 ms
latency), opens the viewer of a 5-page Chinese quote (bench/documents.py) under gunicorn. Each
run is a new browser context: an empty cache and no cookies, a first visit.

- visible: when the first page's image was painted, from the navigation's start (the page's
  time origin): its Element Timing `renderTime` (the viewer's first image carries
  `elementtiming`), else its load event plus two animation frames.
- bytes before it: every byte Chromium received (headers and bodies as they came over the
  wire, CDP `encodedDataLength`) up to the moment the first page image's last byte arrived
  (its `loadingFinished`), for every request of the page, finished or not.

Baselines, the same run and emulation: the very image the viewer loaded first (the variant the
browser chose from the srcset) fetched alone, as a navigation of a fresh context straight to its
URL: the time its last byte arrived (`responseEnd`), and its bytes. No page can show its first
image sooner, or with fewer bytes, than that image alone; the ratios are the viewer's overhead
(the HTML, the CSS, the round trip before the image is asked for). The image is rendered and on
the node's disk before the runs (an untimed first visit), so the runs time the network, not the
rasteriser.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import documents, seed
from bench.report import Figure, median, spread
from bench.settings import Settings
from bench.stack import Stack

log = logging.getLogger("bench")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36"
)
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": PHONE_UA,
    "locale": "zh-CN",
}
# The slow phone network of issue 16: bytes per second, milliseconds of latency.
NETWORK = {
    "offline": False,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
    "latency": 150,
}
GOAL_MS = 1200
GOAL_KB = 150

# Installed before the page's own scripts: when the first page image was painted.
WATCH_FIRST_PAGE = """
(() => {
  const seen = (window.__firstPage = { render: 0, loaded: 0, src: "" });
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.identifier === "first-page" && !seen.render) {
          seen.render = entry.renderTime || entry.loadTime;
        }
      }
    }).observe({ type: "element", buffered: true });
  } catch (e) { /* no Element Timing: the load event below */ }
  document.addEventListener("load", (event) => {
    const img = event.target;
    if (!(img instanceof HTMLImageElement) || seen.loaded) return;
    if (!img.closest || !img.closest("[data-page='1']")) return;
    seen.src = img.currentSrc;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      seen.loaded = performance.now();
    }));
  }, true);
})();
"""


class Wire:
    """Chromium's network events of one page (CDP), for counting bytes against time."""

    def __init__(self, cdp) -> None:
        self.urls: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.methods: dict[str, str] = {}
        self.chunks: dict[str, list[tuple[float, int]]] = {}
        self.finished: dict[str, tuple[float, int]] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]
        self.started[event["requestId"]] = event["timestamp"]
        self.methods[event["requestId"]] = event["request"]["method"]

    def _data(self, event: dict[str, Any]) -> None:
        chunks = self.chunks.setdefault(event["requestId"], [])
        chunks.append((event["timestamp"], event.get("encodedDataLength", 0)))

    def _finished(self, event: dict[str, Any]) -> None:
        self.finished[event["requestId"]] = (event["timestamp"], event["encodedDataLength"])

    def finished_at(self, url: str) -> float | None:
        for request_id, seen in self.urls.items():
            if seen == url and request_id in self.finished:
                return self.finished[request_id][0]
        return None

    def bytes_until(self, moment: float) -> int:
        """Bytes received by `moment` (CDP's clock) over every request of the page."""
        total = 0
        for request_id in self.urls:
            done = self.finished.get(request_id)
            if done is not None and done[0] <= moment:
                total += done[1]
            else:  # still coming: the chunks that had arrived
                total += sum(n for at, n in self.chunks.get(request_id, []) if at <= moment)
        return total

    def bytes_of(self, url: str) -> int:
        return sum(
            self.finished[rid][1]
            for rid, seen in self.urls.items()
            if seen == url and rid in self.finished
        )

    def bytes_of_requests_started_by(self, moment: float) -> int:
        """The whole size of every request started by `moment` (those still coming: what has
        arrived): an upper bound of bytes_until that does not depend on the network's pace."""
        total = 0
        for rid in self.urls:
            if self.started[rid] > moment:
                continue
            done = self.finished.get(rid)
            total += done[1] if done else sum(n for _at, n in self.chunks.get(rid, []))
        return total

    def all_finished(self, urls: list[str]) -> bool:
        """Whether every GET of these URLs has finished (the viewer's POSTs are keepalive
        fetches, whose end Chromium does not report)."""
        wanted = set(urls)
        return all(
            rid in self.finished
            for rid, url in self.urls.items()
            if url in wanted and self.methods[rid] == "GET"
        )

    def asked_before(self, moment: float) -> list[str]:
        return [url for rid, url in self.urls.items() if self.started[rid] <= moment]

    def timeline(self, base: str) -> str:
        """Each request: when asked and finished (ms from the first request) and its bytes."""
        if not self.started:
            return ""
        zero = min(self.started.values())
        parts = []
        for rid, url in self.urls.items():
            done = self.finished.get(rid)
            end = f"{(done[0] - zero) * 1000:.0f}" if done else "…"
            size = f"{done[1] / 1000:.1f} kB" if done else "?"
            name = url.removeprefix(base).split("?")[0]
            parts.append(f"{name} {(self.started[rid] - zero) * 1000:.0f}-{end} ms {size}")
        return "; ".join(parts)


@dataclass
class Visit:
    visible_ms: float  # the first page painted, from navigation start
    bytes_before: int  # received before the first page image's last byte
    image_url: str  # the variant the browser chose
    requests: list[str]  # what was asked for before the first image was complete
    wire: Wire


def _context(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", NETWORK)
    return context, page, cdp


def visit(browser, url: str) -> Visit:
    """Open the viewer at url on the phone profile; when its first page was visible."""
    context, page, cdp = _context(browser)
    try:
        wire = Wire(cdp)
        page.add_init_script(WATCH_FIRST_PAGE)
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function(
            "() => window.__firstPage && window.__firstPage.loaded > 0", timeout=60_000
        )
        seen = page.evaluate("() => window.__firstPage")
        visible = seen["render"] or seen["loaded"]
        image = seen["src"]
        arrived = wire.finished_at(image)
        if arrived is None:
            raise RuntimeError(f"no loadingFinished for the first page image {image}")
        return Visit(visible, wire.bytes_until(arrived), image, wire.asked_before(arrived), wire)
    finally:
        context.close()


def image_alone(browser, url: str) -> tuple[float, int]:
    """The image at url as a navigation of its own: when its last byte arrived (ms from the
    navigation's start) and the bytes received for it."""
    context, page, cdp = _context(browser)
    try:
        wire = Wire(cdp)
        page.goto(url, wait_until="load", timeout=60_000)
        arrived = page.evaluate("() => performance.getEntriesByType('navigation')[0].responseEnd")
        log.debug("P7 image alone: %s", wire.timeline(""))
        finished = wire.finished_at(url)
        if finished is None:
            raise RuntimeError(f"no loadingFinished for {url}")
        return arrived, wire.bytes_until(finished)
    finally:
        context.close()


def _prepare(stack: Stack) -> str:
    app = stack.app()
    with app.app_context():
        staff = seed.staff("p7")
        quote = seed.template(
            staff.marketing,
            name="智能产线报价",
            kind="quote",
            filename="quote.html",
            data=documents.CHINESE_5_PAGES.encode(),
            content_tags=documents.CHINESE_CONTENT_TAGS,
        )
        (customer,) = seed.customers(staff.rep, 1, "p7")
        return seed.send_to(staff.rep, customer.id, quote.id)


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    base = stack.server()
    url = base + _prepare(stack)
    with urllib.request.urlopen(url, timeout=60) as answer:  # a robot's fetch: not recorded
        log.info("P7: viewer %s, %d B of HTML", answer.status, len(answer.read()))
    shown, bytes_before, alone, alone_bytes = [], [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            first = visit(browser, url)  # untimed: renders the page images the runs load
            image_alone(browser, first.image_url)
            for run in range(settings.runs):
                seen = visit(browser, url)
                ms, size = image_alone(browser, seen.image_url)
                shown.append(seen.visible_ms)
                bytes_before.append(seen.bytes_before / 1000)
                alone.append(ms)
                alone_bytes.append(size / 1000)
                log.info(
                    "P7 run %d: first page visible at %.0f ms after %.1f kB; "
                    "the image alone %.0f ms, %.1f kB; requests: %s",
                    run + 1,
                    seen.visible_ms,
                    seen.bytes_before / 1000,
                    ms,
                    size / 1000,
                    seen.wire.timeline(base),
                )
        finally:
            browser.close()
    profile = "390×844 at DPR 3, 1.6 Mbps down / 750 kbps up, 150 ms latency (CDP)"
    return [
        Figure(
            key="P7",
            name="P7 first page visible on a phone profile ms",
            value=median(shown),
            baseline=median(alone),
            measures=(
                "the viewer of a 5-page Chinese quote opened in a fresh Chromium context, "
                f"{profile}: ms from navigation start to the first page image painted"
            ),
            baseline_is="the same first page image fetched alone (its last byte), same emulation",
            goal=f"≤ {GOAL_MS} ms",
            note=(
                f"viewer {spread(shown)}; image alone {spread(alone)}; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
            ),
            digits=0,
        ),
        Figure(
            key="P7",
            name="P7 bytes before the first page kB",
            value=median(bytes_before),
            baseline=median(alone_bytes),
            measures=(
                "kB Chromium received (headers and bodies, every request of the page) until "
                "the first page image's last byte, same visits"
            ),
            baseline_is="the bytes of that first page image fetched alone (headers included)",
            goal=f"≤ {GOAL_KB} kB",
            note=f"viewer {spread(bytes_before, 1)}; image alone {spread(alone_bytes, 1)}",
        ),
    ]
