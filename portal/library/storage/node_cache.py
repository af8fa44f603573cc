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

Erasure (portal.privacy.erasure) must remove a person's cached files from every node, not only
the one that runs it: purge(keys, prefixes) drops them here and, with Redis, appends them to a
purge list (a Redis stream, bounded to PURGE_LIST_LENGTH entries) that every app node and
worker reads: before a request and on each use of the cache, at most every
PURGE_CHECK_SECONDS per process (apply_purges), from the last entry this node applied (kept in
the cache folder, so a restarted node carries on where it stopped). A list rather than pub/sub:
a node that is restarting or cut off while a purge is announced still finds it afterwards (as
long as fewer than PURGE_LIST_LENGTH purges came in between). Without Redis there is one node,
and the local purge is all there is.

A presigned S3 URL is an option (PORTAL_DOWNLOADS=presigned, portal.delivery.sending), not the
default: the customer then talks to S3 itself (the endpoint must be public, and the file name,
Range requests and `no-store` are up to it), and the URL stays good after the link is revoked
until it expires (DOWNLOADS_PRESIGNED_SECONDS). Through the cache, every download still goes
through the link checks, and with nginx in front (PORTAL_DOWNLOADS=accel) the bytes leave the
node from its disk without a Python thread (served_roots: the folders nginx may send from).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from flask import Flask, current_app

from portal import jobs
from portal.library.storage.base import ObjectNotFound, check_key

log = logging.getLogger(__name__)

DEFAULT_CACHE_MAX_BYTES = 2 * 1024**3
PURGE_LIST_LENGTH = 10_000  # purges kept for nodes that were away (approximately: MAXLEN ~)
PURGE_CHECK_SECONDS = 5.0  # how often one process looks for new purges
PURGE_READ_BATCH = 500
POSITION_FILE = ".purged"  # in the cache folder: the id of the last purge this node applied
_CHECKED = "portal.node_cache.purges_checked"  # app.extensions: when this process last looked


_ROOT = "portal.node_cache.root"  # app.extensions: (RENDER_CACHE_PATH, the folder)


def _cache_root() -> Path:
    # Kept per app, against the setting it came from: every download and page image asks,
    # and building the Path each time was a third of local_path's CPU.
    configured = current_app.config.get("RENDER_CACHE_PATH")
    cached = current_app.extensions.get(_ROOT)
    if cached is None or cached[0] != configured:
        root = Path(configured or Path(current_app.instance_path) / "render-cache")
        cached = (configured, root)
        current_app.extensions[_ROOT] = cached
    return cached[1]


def local_path(key: str) -> Path | None:
    """A local file holding the object stored under key; None when it is not stored."""
    from portal.library.storage import LocalStorage, get_storage

    storage = get_storage()
    if isinstance(storage, LocalStorage):
        path = storage.root / check_key(key)
        return path if path.is_file() else None
    apply_purges()
    path = _cache_root() / check_key(key)
    if path.is_file():
        return path
    try:
        data = storage.get(key)
    except ObjectNotFound:
        return None
    _write(path, data)
    return path


def cached_path(key: str) -> Path | None:
    """The local file of key if this node has one now (local storage: the stored file; S3: the
    cached copy), without fetching it: None when it is not on this node's disk."""
    from portal.library.storage import LocalStorage, get_storage

    storage = get_storage()
    if isinstance(storage, LocalStorage):
        path = storage.root / check_key(key)
    else:
        apply_purges()
        path = _cache_root() / check_key(key)
    return path if path.is_file() else None


def served_roots() -> dict[str, Path]:
    """The folders whose files may be handed to nginx (PORTAL_DOWNLOADS=accel, under
    DOWNLOADS_ACCEL_PREFIX/<name>/): the node cache, and with local storage the storage folder.
    deploy/nginx/portal.conf has an internal location for each."""
    from portal.library.storage import LocalStorage, get_storage

    roots = {"cache": _cache_root().resolve()}
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        roots["storage"] = storage.root
    return roots


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
        apply_purges()
        _write(_cache_root() / check_key(key), data)


def forget(key: str) -> None:
    """Drop this node's cached copy of key (remote storage; local storage has none)."""
    (_cache_root() / check_key(key)).unlink(missing_ok=True)


def init_app(app: Flask) -> None:
    """Every app node applies the purges of erasures run on other nodes (see purge)."""
    if str(app.config.get("STORAGE_BACKEND", "local")).strip().lower() != "local":
        app.before_request(_apply_purges_before_request)


def _apply_purges_before_request() -> None:
    apply_purges()  # returns nothing: a before_request hook's value would be the response


def _remote() -> bool:
    from portal.library.storage import LocalStorage, get_storage

    return not isinstance(get_storage(), LocalStorage)


def _purge_list() -> str:
    return f"{current_app.config.get('INGEST_REDIS_PREFIX', 'portal')}:node-cache-purges"


def _drop(keys: Iterable[str], prefixes: Iterable[str]) -> None:
    """Delete this node's copies of these keys and every file under these prefixes."""
    root = _cache_root()
    for key in keys:
        (root / check_key(key)).unlink(missing_ok=True)
    for prefix in prefixes:
        shutil.rmtree(root / check_key(prefix.rstrip("/")), ignore_errors=True)


def purge(keys: list[str], prefixes: list[str]) -> None:
    """Drop the cached copies of these keys, and of everything under these prefixes ("a/b/"),
    on this node now and on every other node at its next look (remote storage; local storage
    has no node cache)."""
    if not _remote():
        return
    _drop(keys, prefixes)
    redis = jobs.redis_connection()
    if redis is not None:
        redis.xadd(
            _purge_list(),
            {"keys": json.dumps(sorted(keys)), "prefixes": json.dumps(sorted(prefixes))},
            maxlen=PURGE_LIST_LENGTH,
            approximate=True,
        )


def apply_purges(force: bool = False) -> int:
    """Apply the purges announced since this node last looked (remote storage with Redis; at
    most every PURGE_CHECK_SECONDS per process unless `force`). The number applied. A Redis
    failure is logged and tried again at the next look: serving pages does not depend on it."""
    from redis.exceptions import RedisError

    # The clock first: it says no for all but one request in PURGE_CHECK_SECONDS, and it is
    # only ever set below, once Redis and remote storage are known to be there.
    now = time.monotonic()
    last = current_app.extensions.get(_CHECKED)
    if not force and last is not None and now - last < PURGE_CHECK_SECONDS:
        return 0
    redis = jobs.redis_connection()
    if redis is None or not _remote():
        return 0
    current_app.extensions[_CHECKED] = now
    position = _cache_root() / POSITION_FILE
    after = "0-0"
    with contextlib.suppress(OSError):
        after = position.read_text().strip() or after
    applied = 0
    try:
        while True:
            found = redis.xread({_purge_list(): after}, count=PURGE_READ_BATCH)
            entries = found[0][1] if found else []
            for entry_id, fields in entries:
                _drop(json.loads(fields[b"keys"]), json.loads(fields[b"prefixes"]))
                after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                applied += 1
            if len(entries) < PURGE_READ_BATCH:
                break
    except RedisError as exc:
        log.warning("node cache: purge list unreadable, trying again later: %s", exc)
    if applied:
        _keep_position(position, after)
    return applied


def _keep_position(position: Path, entry_id: str) -> None:
    position.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=position.parent, prefix=".part-")
    with os.fdopen(fd, "w") as out:
        out.write(entry_id)
    os.replace(tmp, position)


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
    _trim(len(data))


# A trim walks the whole cache folder (a stat per file), which a write per render made cost
# more the fuller the cache grew. So each process keeps a running count: bytes as last counted
# plus what it wrote since, and walks again only when that passes the cap or TRIM_EVERY writes
# went by (the node's other processes write to the same folder: the cap holds within what
# they wrote in between).
TRIM_EVERY = 200
_tallies: dict[Path, list[int]] = {}  # cache root -> [bytes, writes since the walk]
_tallies_lock = threading.Lock()  # gunicorn's threads write at once


def _trim(written: int) -> None:
    """Keep the cache under its cap: the least recently written files go first."""
    cap = int(current_app.config.get("RENDER_CACHE_MAX_BYTES", DEFAULT_CACHE_MAX_BYTES))
    root = _cache_root()
    with _tallies_lock:
        tally = _tallies.get(root)
        if tally is not None:
            tally[0] += written
            tally[1] += 1
            if tally[0] <= cap and tally[1] < TRIM_EVERY:
                return
            tally[1] = 0  # this thread walks: the others go on counting meanwhile
    left = _walk_and_trim(root, cap)  # outside the lock: a walk takes a while
    with _tallies_lock:
        _tallies[root] = [left, 0]


def _walk_and_trim(root: Path, cap: int) -> int:
    """Drop the oldest files until the folder is under cap; the bytes left."""
    files = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):  # another thread may remove it meanwhile
            if path.is_file() and path.name != POSITION_FILE:
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _m, size, _p in files)
    for _mtime, size, path in sorted(files):
        if total <= cap:
            break
        path.unlink(missing_ok=True)
        total -= size
    return total
