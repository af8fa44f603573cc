"""Static files (CSS, JS, icons): named by their content, cached for a year, sent compressed.

Customers open their documents on phones, often on slow networks, and the viewer's CSS and
script share the line with the first page's image (docs/performance.md, P7). So:

- every `url_for("static", filename=...)` gets `?v=<the file's content hash>`; a request that
  names the current hash is answered `public, max-age=31536000, immutable` (a repeat visit
  asks for nothing), any other (an old or no `v`) `no-cache` (revalidated: never stale);
- CSS, JS and SVG go gzip-compressed to a browser that accepts it (customer.css: 16 kB as
  about 4 kB), compressed once per file and process, never per request. Only static files
  are compressed: they hold no secret, so compression tells an attacker nothing (BREACH);
  pages with tokens are sent as they are.

Behind nginx serving /static itself, the same `?v=` URLs work (nginx ignores the query; give
the location `expires max` and `gzip_static`/`gzip on`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
import os
from typing import Any

from flask import Flask, Response, current_app, request, send_file
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
COMPRESSED = {".css", ".js", ".svg"}
MIN_COMPRESSED = 512  # bytes: smaller files are not worth a Content-Encoding


def init_app(app: Flask) -> None:
    if app.static_folder is None:
        return
    app.view_functions["static"] = _static
    app.url_defaults(_version_static_urls)


def _stat(filename: str) -> tuple[str, os.stat_result] | None:
    path = safe_join(current_app.static_folder or "", filename)
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (path, found) if os.path.isfile(path) else None


def _version_static_urls(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint != "static" or "v" in values or "filename" not in values:
        return
    found = _stat(values["filename"])
    if found is not None:
        path, info = found
        values["v"] = _content(path, info.st_mtime_ns, info.st_size)[0]


@functools.lru_cache(maxsize=256)
def _content(path: str, _mtime_ns: int, _size: int) -> tuple[str, bytes | None]:
    """The file's content hash (its version), and its gzip form when it is worth sending."""
    with open(path, "rb") as source:
        data = source.read()
    version = hashlib.blake2b(data, digest_size=8).hexdigest()
    compressed = None
    if os.path.splitext(path)[1].lower() in COMPRESSED and len(data) >= MIN_COMPRESSED:
        compressed = gzip.compress(data, compresslevel=9, mtime=0)
    return version, compressed


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _static(filename: str) -> Response:
    found = _stat(filename)
    if found is None:
        raise NotFound()
    path, info = found
    version, compressed = _content(path, info.st_mtime_ns, info.st_size)
    current = request.args.get("v") == version
    if compressed is not None and _accepts_gzip():
        response = current_app.response_class(
            compressed, mimetype=mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        response.headers["Content-Encoding"] = "gzip"
        response.set_etag(f"{version}-gz")
        response.last_modified = int(info.st_mtime)
    else:
        response = send_file(path, etag=version, conditional=False, max_age=None)
    if compressed is not None:
        response.vary.add("Accept-Encoding")
    if current:
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
        response.cache_control.no_cache = None
    else:
        response.cache_control.no_cache = True
        response.cache_control.max_age = None
    return response.make_conditional(request)
