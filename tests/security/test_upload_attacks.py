"""Hostile uploads through the real API: each refused with its reason, nothing stored.

(The unit tests of every rule are in tests/library/test_uploads.py; this corpus sends the
attacks the way an attacker would, and checks the storage and the database stay empty.)
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.library.models import TemplateVersion

INDEX = b"<!doctype html><meta charset='utf-8'><p>{{ customer.name }}</p>"
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
)


def zip_of(
    entries: list[tuple[zipfile.ZipInfo | str, bytes]], method=zipfile.ZIP_DEFLATED
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def symlink(name: str, target: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def bomb(size: int) -> bytes:
    return zip_of([("index.html", INDEX), ("big.css", b"\0" * size)])


def pdf_with(body: bytes) -> bytes:
    return b"%PDF-1.4\n" + body


ATTACKS = {
    "traversal": ("t.zip", zip_of([("index.html", INDEX), ("../../evil.css", b"x")]), 400),
    "traversal-deep": ("t.zip", zip_of([("index.html", INDEX), ("a/../../evil.css", b"x")]), 400),
    "absolute": ("t.zip", zip_of([("index.html", INDEX), ("/etc/cron.d/x.css", b"x")]), 400),
    "windows-drive": ("t.zip", zip_of([("index.html", INDEX), ("C:/x.css", b"x")]), 400),
    "backslash": ("t.zip", zip_of([("index.html", INDEX), ("..\\..\\x.css", b"x")]), 400),
    "symlink": (
        "t.zip",
        zip_of([("index.html", INDEX), symlink("passwd.css", b"/etc/passwd")]),
        400,
    ),
    "bomb-ratio": ("b.zip", bomb(20 * 1024 * 1024), 400),
    "executable-entry": ("t.zip", zip_of([("index.html", INDEX), ("run.sh", b"#!/bin/sh")]), 400),
    "png-that-is-a-pdf": ("t.zip", zip_of([("index.html", INDEX), ("a.png", pdf_with(b""))]), 400),
    "css-that-is-an-elf": (
        "t.zip",
        zip_of([("index.html", INDEX), ("a.css", b"\x7fELF" + bytes(20))]),
        400,
    ),
    "font-that-is-a-zip": (
        "t.zip",
        zip_of([("index.html", INDEX), ("f.woff2", zip_of([("x", b"y")]))]),
        400,
    ),
    "zip-named-html": ("x.html", zip_of([("index.html", INDEX)]), 415),
    "pdf-named-html": ("x.html", pdf_with(b"1 0 obj\n<<>>\nendobj\n"), 415),
    "html-named-pdf": ("x.pdf", INDEX, 415),
    "exe-named-zip": ("x.zip", b"MZ" + bytes(100), 415),
    "malformed-pdf": ("x.pdf", pdf_with(b"1 0 obj << /Type /Catalog /Pages 2 0 R"), 400),
    "truncated-pdf": ("x.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Type", 400),
    "not-utf8-html": ("x.html", "<p>报价</p>".encode("gb18030"), 400),
    "nul-in-html": ("x.html", b"<p>a\0b</p>", 400),
    "svg-script-as-template": ("x.svg", b"<svg onload=alert(1)/>", 415),
    "php": ("x.php", b"<?php system($_GET['c']); ?>", 415),
    "no-extension": ("template", INDEX, 415),
    "empty": ("x.html", b"", 400),
}


@pytest.fixture
def marketing_headers(make_user, api_headers):
    return api_headers(make_user("marketing"))


def post(client, headers, filename: str, data: bytes):
    return client.post(
        "/api/v1/templates",
        data={
            "file": (io.BytesIO(data), filename),
            "name": "攻击",
            "kind": "quote",
            "changelog": "v1",
        },
        headers=headers,
    )


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_uploads_are_refused_and_store_nothing(
    app, client, marketing_headers, app_config, attack
):
    filename, data, status = ATTACKS[attack]
    response = post(client, marketing_headers, filename, data)
    assert response.status_code == status, response.get_json()
    message = response.get_json()["error"]["message"]
    assert message and "Traceback" not in message
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0
    storage = Path(app_config["STORAGE_LOCAL_PATH"])
    assert not storage.exists() or not any(p.is_file() for p in storage.rglob("*"))


def test_an_upload_over_the_size_limit_is_413(app, client, marketing_headers):
    app.config["UPLOAD_MAX_BYTES"] = 1024
    response = post(client, marketing_headers, "big.html", b"<p>" + b"x" * 2048 + b"</p>")
    assert response.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0


def test_a_declared_size_lie_is_caught_while_expanding(client, marketing_headers):
    """An entry claiming 10 bytes but inflating to 10 MB (the header lies)."""
    data = bytearray(zip_of([("index.html", INDEX), ("a.css", b"a" * 10 * 1024 * 1024)]))
    real = zlib.crc32(b"a" * 10 * 1024 * 1024)
    # patch both size fields of the a.css entry (local header and central directory) to 10
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            crc_offset = start + size_offset - 8
            if struct.unpack("<I", data[crc_offset : crc_offset + 4])[0] == real:
                data[start + size_offset : start + size_offset + 4] = struct.pack("<I", 10)
            start += 4
    response = post(client, marketing_headers, "lie.zip", bytes(data))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0


def test_a_good_zip_with_real_assets_is_accepted(client, marketing_headers):
    """Control: the refusals above are about the attacks, not about zips in general."""
    data = zip_of(
        [
            ("index.html", INDEX),
            ("img/logo.png", PNG),
            ("style.css", b"p{}"),
            ("f.woff2", b"wOF2" + bytes(40)),
        ]
    )
    response = post(client, marketing_headers, "site.zip", data)
    assert response.status_code == 201, response.get_json()
