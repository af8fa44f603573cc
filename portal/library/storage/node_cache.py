"""Stored objects as files on this node's disk: downloads and page images go out with sendfile,
and a template's source is read from disk for every customer's first render.

Everything served to customers is immutable under its key: an uploaded version's file never
changes, and a rendered file's key is the version's sha256 plus the hash of the variables
(portal.library.rendering). So:

- local storage: the file in the storage folder is served as it is;
- S3: a read-through cache on this node's disk (instance/render-cache, or config
  RENDER_CACHE_PATH), filled on the first request for a key and served from then on.
  Safe with any number of nodes, each with its own cache: a key's bytes never change, so no
  node can serve a stale copy. Bounded by RENDER_CACHE_MAX_BYTES (oldest files go first).

Template sources are immutable in the same way (a version's storage key never gets other bytes),
so rendering reads them through the same cache (read_bytes), and remembers what it rendered
(remember), so that the open that asked for it is served without fetching it back.

Why not redirect to a presigned S3 URL: the customer would then talk to S3 itself (the endpoint
must be public, and the file name, Range requests and `no-store` are up to it), and a presigned
URL stays good after the link is revoked until it expires. Through the cache, every download
still goes through the link checks, and the bytes leave the node as fast as a bare send_file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from flask import current_app

from portal.library.storage.base import ObjectNotFound, check_key

log = logging.getLogger(__name__)

DEFAULT_CACHE_MAX_BYTES = 2 * 1024**3


def _cache_root() -> Path:
    configured = current_app.config.get("RENDER_CACHE_PATH")
    return Path(configured or Path(current_app.instance_path) / "render-cache")


def local_path(key: str) -> Path | None:
    """A local file holding the object stored under key; None when it is not stored."""
    from portal.library.storage import LocalStorage, get_storage

    storage = get_storage()
    if isinstance(storage, LocalStorage):
        path = storage.root / check_key(key)
        return path if path.is_file() else None
    path = _cache_root() / check_key(key)
    if path.is_file():
        return path
    try:
        data = storage.get(key)
    except ObjectNotFound:
        return None
    _write(path, data)
    return path


def read_bytes(key: str) -> bytes:
    """The object stored under key (ObjectNotFound when there is none), from this node's disk."""
    path = local_path(key)
    if path is None:
        raise ObjectNotFound(key)
    return path.read_bytes()


def remember(key: str, data: bytes) -> None:
    """Keep a copy of what was just stored under key (remote storage only)."""
    from portal.library.storage import LocalStorage, get_storage

    if not isinstance(get_storage(), LocalStorage):
        _write(_cache_root() / check_key(key), data)


def forget(key: str) -> None:
    """Drop this node's cached copy of key (remote storage; local storage has none)."""
    (_cache_root() / check_key(key)).unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    """Atomically: a reader sees the whole file or none (two nodes' threads may race here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _trim()


def _trim() -> None:
    """Keep the cache under its cap: the least recently written files go first. (Runs on a
    miss only: once per key and node.)"""
    cap = int(current_app.config.get("RENDER_CACHE_MAX_BYTES", DEFAULT_CACHE_MAX_BYTES))
    files = []
    for path in _cache_root().rglob("*"):
        with contextlib.suppress(OSError):  # another thread may remove it meanwhile
            if path.is_file():
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _m, size, _p in files)
    for _mtime, size, path in sorted(files):
        if total <= cap:
            break
        path.unlink(missing_ok=True)
        total -= size
