"""Headless Chromium tests: the app served on a free loopback port, and Debian's chromium.

Import the fixtures into a test module (`from tests.browser_support import chromium_fixture,
live_server_fixture, port_fixture  # noqa: F401`) and point the app at the port with
`served_config`."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from portal.extensions import db
from tests.support import skip_or_fail
from tests.threaded_servers import serve_in_thread, stop_serving

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` cannot work here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def served_config(app_config: dict, port: int) -> dict:
    """The app's settings for being served at http://127.0.0.1:port (links, SERVER_NAME)."""
    return {
        **app_config,
        "SERVER_NAME": f"127.0.0.1:{port}",
        "BASE_URL": f"http://127.0.0.1:{port}",
    }


@pytest.fixture(name="port")
def port_fixture() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(name="live_server")
def live_server_fixture(app, port) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    # werkzeug's request threads are daemons that nobody waits for: a request still running when
    # the test ends (a beacon sent as Chromium closed the page, a heartbeat) then holds row locks
    # while the app fixture empties the tables, a deadlock on PostgreSQL. Tracked threads are
    # joined by server_close (socketserver.ThreadingMixIn), so teardown waits them out.
    server.daemon_threads = False
    server.block_on_close = True
    thread = serve_in_thread(server, "live-server")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        db.session.rollback()  # no lock of the test's own for a request still running to wait on
        stop_serving(server, thread)


@pytest.fixture(name="chromium")
def chromium_fixture(chromium_browser) -> Iterator[Any]:
    """The test process's Chromium (tests/conftest.py: chromium_browser); every context the test
    opened is closed after it, so no page, cookie or storage reaches the next test."""
    if not chromium_browser.is_connected():
        raise AssertionError("the test process's Chromium has gone (crashed or was closed)")
    yield chromium_browser
    for context in list(chromium_browser.contexts):
        context.close()


def launch_chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, closed at the end."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# An image's natural width once it has loaded; 0 when it failed to load or had not loaded
# within IMAGE_WAIT_MS (a lazy image that is never scrolled to never loads: a promise waiting
# only for "load" would hang the test, and Playwright's evaluate has no timeout of its own).
IMAGE_WAIT_MS = 20_000
_LOADED_WIDTH = (
    "(img, wait) => img.complete ? img.naturalWidth : new Promise(done => {"
    " img.addEventListener('load', () => done(img.naturalWidth));"
    " img.addEventListener('error', () => done(0));"
    " setTimeout(() => done(img.naturalWidth), wait); })"
)


def loaded_width(image) -> int:
    """The natural width of the image a Playwright locator names, scrolled into view and loaded
    (0: it did not load)."""
    image.scroll_into_view_if_needed()
    return image.evaluate(_LOADED_WIDTH, IMAGE_WAIT_MS)


def fresh(query: Callable[[], Any]) -> Any:
    """query() in a transaction of its own: the test never holds one the live server waits on,
    and sees what the server committed."""
    db.session.rollback()
    try:
        return query()
    finally:
        db.session.rollback()


def read_actively(page, seconds: float) -> None:
    """Stay on the page for `seconds`, moving the mouse every 2 s (an active reader: the viewer
    stops counting after 60 s without input)."""
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        page.mouse.move(200 + 40 * (step % 5), 300 + 30 * (step % 3))
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (> 0: a horizontal scroll)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def screenshot(page, name: str) -> None:
    """Save a screenshot into $PORTAL_SCREENSHOT_DIR, when set, for people to look at."""
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / name), full_page=False)


def sign_in(page, base_url: str, email: str, password: str = "password123") -> None:
    """Sign a staff member in through the login page, as a person does (Enter in the
    password field), and wait for the page it leads to."""
    page.goto(f"{base_url}/login", wait_until="load")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
