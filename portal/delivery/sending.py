"""Who sends a customer's file once the app has said yes: the app, nginx, or S3.

The app always checks the link and records the download first (portal.delivery.served_files);
config DOWNLOADS (PORTAL_DOWNLOADS) decides what carries the bytes after that:

- `app` (default): Flask's send_file; the bytes go through a gunicorn thread, which a slow phone
  holds for as long as it takes to read them.
- `accel`: an empty answer with `X-Accel-Redirect: <DOWNLOADS_ACCEL_PREFIX>/<root>/<path>`;
  nginx (deploy/nginx/portal.conf) sends the file from an internal location aliased to the
  same folder (the node cache, or the storage folder with local storage: node_cache.
  served_roots), and the gunicorn thread is free at once. The app's headers (Content-Type,
  Content-Disposition, Cache-Control, the security headers) are set here as for send_file;
  the nginx location passes them on. Every file served this way is immutable under its key.
- `presigned`: as accel, and with S3 a download this node has no copy of is a 302 to a
  presigned S3 URL good for DOWNLOADS_PRESIGNED_SECONDS (the file name, type and no-store as
  S3 response overrides). The node neither fetches nor keeps the file; the price: the customer
  talks to S3 (its endpoint must be reachable from outside), and the URL still works for up to
  that many seconds after the link is revoked. Watermarked copies are made on the node and go
  out as in accel.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from flask import Response, current_app, redirect, request, send_file
from werkzeug.http import dump_options_header

from portal.library.storage import get_storage, node_cache

# The answer's header that tells nginx's download gate how it may replay the answer
# (portal.delivery.download_gate, deploy/nginx/portal_gate.lua); nginx never passes it on.
DECISION_HEADER = "X-Portal-Gate-Decision"


@dataclass(frozen=True)
class ServedFile:
    """A file to send: a download or a page image (portal.delivery.served_files finds them)."""

    path: Path | None  # None: not on this node, sent as a presigned redirect to `key`
    name: str  # the download's file name; a page image's ETag
    key: str = ""  # the storage key
    replay: str | None = None  # how nginx's gate may replay this answer (download_gate)


def mode() -> str:
    return current_app.config.get("DOWNLOADS", "app")


def remote_key(key: str) -> str | None:
    """key, when the download should be a presigned redirect: PORTAL_DOWNLOADS=presigned, S3
    storage, no copy on this node's disk, and the object stored (else None: served locally)."""
    if mode() != "presigned":
        return None
    storage = get_storage()
    if not storage.presigns or node_cache.cached_path(key) is not None:
        return None
    return key if storage.exists(key) else None


def accel_uri(path: Path) -> str | None:
    """The internal nginx URI of a local file, None when it is under no served root."""
    resolved = path.resolve()
    prefix = current_app.config.get("DOWNLOADS_ACCEL_PREFIX", "/_accel")
    for name, root in node_cache.served_roots().items():
        if resolved.is_relative_to(root):
            return f"{prefix}/{name}/{quote(resolved.relative_to(root).as_posix())}"
    return None


def content_disposition(name: str, attachment: bool) -> str:
    """As werkzeug's send_file writes it: an ASCII `filename`, and `filename*` for the rest."""
    value = "attachment" if attachment else "inline"
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        quoted = quote(name, safe="!#$&+-.^_`|~")
        return dump_options_header(value, {"filename": simple, "filename*": f"UTF-8''{quoted}"})
    return dump_options_header(value, {"filename": name})


def respond(
    file: ServedFile,
    *,
    mimetype: str,
    cache_control: str,
    attachment: bool = False,
    etag: str | None = None,
    max_age: int = 0,
) -> Response:
    """The answer carrying `file` (see the module's note for who sends the bytes)."""
    if file.path is None:  # portal.delivery.served_files found it for a presigned redirect
        storage = get_storage()
        assert storage.presigns and file.key
        url = storage.presigned_url(
            file.key,
            int(current_app.config.get("DOWNLOADS_PRESIGNED_SECONDS", 60)),
            disposition=content_disposition(file.name, True),
            content_type=mimetype,
            cache_control=cache_control,
        )
        response = redirect(url, code=302)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    uri = accel_uri(file.path) if mode() != "app" else None
    if uri is None:
        response = send_file(
            file.path,
            mimetype=mimetype,
            as_attachment=attachment,
            download_name=file.name if attachment else None,
            max_age=max_age,
            etag=etag if etag is not None else False,
        )
    else:
        response = Response(b"", mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = uri
        if attachment:
            response.headers["Content-Disposition"] = content_disposition(file.name, True)
        if etag is not None:
            response.set_etag(etag)
            response.make_conditional(request)
            if response.status_code == 304:  # the browser has it: nothing for nginx to send
                del response.headers["X-Accel-Redirect"]
        if file.replay is not None and "X-Accel-Redirect" in response.headers:
            response.headers[DECISION_HEADER] = file.replay
    response.headers["Cache-Control"] = cache_control
    return response
