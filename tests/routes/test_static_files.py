"""Static files (portal.static_files): URLs named by content and cached for a year, CSS and JS
gzipped once for browsers that take it, anything else revalidated."""

from __future__ import annotations

import gzip
import re

from flask import url_for

from portal import static_files

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def test_static_urls_carry_the_files_content_hash(app):
    css = url_for("static", filename="css/customer.css")
    version = re.search(r"/static/css/customer\.css\?v=([0-9a-f]{16})$", css).group(1)
    assert url_for("static", filename="js/viewer.js") != css
    assert url_for("static", filename="css/customer.css") == css  # stable
    assert url_for("static", filename="no/such.css").endswith("/static/no/such.css")
    assert version


def test_the_current_version_is_immutable_and_compressed(client, app):
    plain = client.get("/static/css/customer.css").data
    url = url_for("static", filename="css/customer.css", _external=False)
    response = client.get(url, headers=GZIP)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    cache = response.headers["Cache-Control"]
    assert "public" in cache and "max-age=31536000" in cache and "immutable" in cache
    assert gzip.decompress(response.data) == plain
    assert len(response.data) * 3 < len(plain)
    again = client.get(url, headers={**GZIP, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_an_old_or_missing_version_is_revalidated_and_never_compressed_unasked(client):
    response = client.get("/static/js/viewer.js?v=0000000000000000")
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers  # the client did not ask for gzip
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.data.startswith(b"/*")
    again = client.get("/static/js/viewer.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_files_and_paths_out_of_the_folder_are_not_found(client):
    assert client.get("/static/no/such.css").status_code == 404
    assert client.get("/static/../portal/config.py").status_code == 404
    assert client.get("/static/%2e%2e/portal/config.py").status_code == 404


def test_a_changed_file_gets_a_new_version(app, tmp_path, monkeypatch):
    (tmp_path / "a.css").write_text("body { color: red; }" * 40)
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    first = url_for("static", filename="a.css")
    (tmp_path / "a.css").write_text("body { color: blue; }" * 40)
    assert url_for("static", filename="a.css") != first
    assert static_files.MIN_COMPRESSED < 20 * 40
