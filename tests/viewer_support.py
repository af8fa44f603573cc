"""What a browser does with a viewer page, for tests without one: fetch /d/<token>, then confirm
the open as the viewer script does once a page is visible (POST /t/o with the ingest token).

A GET alone is a preview (link previews, scanners): tests of opens must confirm, as here."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

INGEST_TOKEN = re.compile(r'data-ingest-token="([^"]*)"')
CONFIRM_URL = "/t/o"


def ingest_token_of(page: str) -> str | None:
    """The ingest token a viewer page carries (None: nothing will be recorded)."""
    match = INGEST_TOKEN.search(page)
    return html.unescape(match.group(1)) if match and match.group(1) else None


def confirm(client, page: str, device: str | None = None):
    """POST the confirmation the viewer script sends for this page; the response."""
    token = ingest_token_of(page)
    assert token, "the viewer page carries no ingest token"
    body = {"s": token} if device is None else {"s": token, "d": device}
    return client.post(CONFIRM_URL, json=body)


def open_in_viewer(client, url: str, **kwargs):
    """GET the viewer (an absolute link or a path) and confirm the open; the page's response."""
    path = urlsplit(url).path if "://" in url else url
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.status_code
    confirmed = confirm(client, response.get_data(as_text=True))
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    return response


VISIT_TOKEN = re.compile(r'data-visit-token="([^"]*)"')
VISIT_URL = "/t/p"


def visit_token_of(page: str) -> str | None:
    """The visit token a portal page carries (None: nothing will be recorded)."""
    match = VISIT_TOKEN.search(page)
    return html.unescape(match.group(1)) if match and match.group(1) else None


def visit_portal(client, url: str, **kwargs):
    """GET a portal page (/p/<token>) and confirm the visit as its script does; the page."""
    path = urlsplit(url).path if "://" in url else url
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.status_code
    token = visit_token_of(response.get_data(as_text=True))
    assert token, "the portal page carries no visit token"
    # the page's script posts from the same browser: its headers (User-Agent) too
    confirmed = client.post(VISIT_URL, json={"s": token}, headers=kwargs.get("headers"))
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    return response
