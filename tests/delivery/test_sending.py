"""PORTAL_DOWNLOADS=accel in process (issue 16, item 2): the download and a page image are empty
answers with X-Accel-Redirect to the node's file under an internal prefix, and the headers the
app sends without nginx; the download is recorded once. nginx itself: tests/deploy/test_nginx.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import customer_side_support as support
import pytest
from customer_side_support import path_of

from portal.config import _downloads_mode
from portal.extensions import db
from portal.tracking.models import Event, EventType

client = support.client
shop = support.shop

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "DOWNLOADS": "accel"}


def downloads() -> int:
    return db.session.query(Event).filter_by(type=EventType.DOC_DOWNLOADED.value).count()


def test_accel_answers_point_nginx_at_the_file_with_the_apps_headers(app, client, shop):
    sent = shop.send(shop.template())
    path = path_of(sent.url)
    plain = client.get(path, headers={"User-Agent": CHROME})  # the viewer: renders the pages
    assert plain.status_code == 200
    before = downloads()

    answer = client.get(f"{path}/download", headers={"User-Agent": CHROME})

    assert answer.status_code == 200
    assert answer.data == b""
    target = answer.headers["X-Accel-Redirect"]
    assert target.startswith("/_accel/")
    root, _, key = target.removeprefix("/_accel/").partition("/")
    folder = {"cache": Path(app.instance_path) / "render-cache", "storage": None}[root] or Path(
        app.config["STORAGE_LOCAL_PATH"]
    )
    assert (folder / unquote(key)).read_bytes().startswith(b"%PDF")
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in answer.headers["Content-Disposition"]  # the Chinese name
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert downloads() == before + 1

    page = client.get(f"{path}/pages/1.png", headers={"User-Agent": CHROME})
    assert page.status_code == 200 and page.data == b""
    assert page.headers["X-Accel-Redirect"].endswith(".png")
    assert page.headers["Content-Type"] == "image/png"
    etag = page.headers["ETag"]
    again = client.get(f"{path}/pages/1.png", headers={"User-Agent": CHROME, "If-None-Match": etag})
    assert again.status_code == 304 and "X-Accel-Redirect" not in again.headers


def test_an_unknown_downloads_mode_is_refused_at_start():
    assert _downloads_mode(" Accel ") == "accel"
    with pytest.raises(ValueError, match="PORTAL_DOWNLOADS"):
        _downloads_mode("nginx")
