"""Headless Chromium tests: the app served on a free loopback port, and Debian's chromium.

Import the fixtures into a test module (`from tests.browser_support import chromium_fixture,
live_server_fixture, port_fixture  # noqa: F401`) and point the app at the port with
`served_config`."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.support import skip_or_fail

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
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(name="chromium")
def chromium_fixture():
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
