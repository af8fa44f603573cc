"""The CSP in a real browser: Chromium reports no violation, and what it would block still works.

The viewer (link overlays placed by the nonce'd <style>, the tracking script from /static) and
a staff customer page (bar widths) are opened in headless Chromium against a live server; any
`securitypolicyviolation` event or CSP console message fails the test, and the overlays must have
their size and the viewer script must report read time.
"""

from __future__ import annotations

import time

import pytest

from portal.tracking import ingest, sessions  # noqa: F401  (the ingest route is registered)
from tests.browser_support import (  # noqa: F401 (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
)
from tests.security.attack_support import arena_fixture  # noqa: F401  (the `arena` fixture)

pytestmark = pytest.mark.browser

WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


def _open(context, url: str):
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(WATCH)
    page.goto(url, wait_until="load")
    return page, console


def _violations(page, console: list[str]) -> list[str]:
    found = page.evaluate("window.__violations")
    return found + [m for m in console if "Content Security Policy" in m]


@pytest.mark.long(seconds=11)
def test_the_viewer_runs_under_the_csp(arena, live_server, chromium):
    from portal.extensions import db

    db.session.rollback()
    context = chromium.new_context()
    collected: list[str] = []
    context.on("request", lambda r: collected.append(r.url) if "/t/r" in r.url else None)
    page, console = _open(context, f"{live_server}/d/{arena.b.doc_token}")
    overlay = page.locator("a.v-link").first
    box = overlay.bounding_box()
    assert box and box["width"] > 5 and box["height"] > 5  # placed by the nonce'd style
    position = page.evaluate("getComputedStyle(document.querySelector('a.v-link')).left")
    assert position.endswith("px") and float(position[:-2]) > 0
    assert _violations(page, console) == []
    deadline = time.monotonic() + 15  # the script reports within one 10 s heartbeat
    while not collected and time.monotonic() < deadline:
        page.mouse.move(120 + len(collected), 140)
        page.wait_for_timeout(500)
    assert _violations(page, console) == []
    context.close()
    assert collected, "the viewer script never reported (blocked?)"


def test_staff_pages_run_under_the_csp(arena, live_server, chromium):
    from portal.extensions import db

    db.session.rollback()
    context = chromium.new_context()
    page, console = _open(context, f"{live_server}/login")
    page.fill("input[name=email]", arena.a.rep.email)
    page.fill("input[name=password]", "password123")
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    paths = ["/", f"/customers/{arena.a.customer.id}", "/customers/", "/tasks", "/library/"]
    paths.append(f"/library/{arena.a.template.id}")  # the PDF preview in an <iframe>
    for path in paths:
        page.goto(f"{live_server}{path}", wait_until="load")
        assert "/login" not in page.url
        assert _violations(page, console) == [], path
    context.close()
