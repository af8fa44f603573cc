"""Configuration from PORTAL_* environment variables, with embedded defaults."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _instance_path() -> Path:
    return Path(os.environ.get("PORTAL_INSTANCE_PATH", "instance")).resolve()


def _secret_key(instance: Path) -> str:
    """Use PORTAL_SECRET_KEY, else a key generated once into the instance folder.

    The file is created atomically (written aside, then linked into place, which fails if it
    exists), so processes starting together (gunicorn workers, an RQ worker) all end up with
    the first one's key, never each with its own. The key signs sessions and customer links:
    processes on other machines cannot read this folder, so with more than one node every app
    node and worker needs the same PORTAL_SECRET_KEY."""
    key = os.environ.get("PORTAL_SECRET_KEY")
    if key:
        return key
    key_file = instance / "secret_key"
    if not key_file.exists():
        fd, spare = tempfile.mkstemp(dir=instance, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):  # another process was first: use its
                os.link(spare, key_file)
        finally:
            os.unlink(spare)
    if os.environ.get("PORTAL_REDIS_URL"):
        logging.getLogger(__name__).warning(
            "PORTAL_SECRET_KEY is not set: using %s, which only processes on this machine "
            "share. Sessions and customer links are signed with it: with app nodes or workers "
            "on other machines, give them all the same PORTAL_SECRET_KEY.",
            key_file,
        )
    return key_file.read_text().strip()


def _engine_options(url: str | None) -> dict[str, Any]:
    """Connection pool per process: a server database gets PORTAL_DB_POOL_SIZE connections
    (default 10, at least the threads of a gunicorn worker) plus PORTAL_DB_MAX_OVERFLOW."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url and not url.startswith("sqlite"):
        options["pool_size"] = int(os.environ.get("PORTAL_DB_POOL_SIZE", "10"))
        options["max_overflow"] = int(os.environ.get("PORTAL_DB_MAX_OVERFLOW", "5"))
    return options


DOWNLOADS_MODES = ("app", "accel", "presigned")


def _downloads_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in DOWNLOADS_MODES:
        raise ValueError(f"PORTAL_DOWNLOADS must be one of {', '.join(DOWNLOADS_MODES)}: {value!r}")
    return mode


def load_config() -> dict[str, Any]:
    """Read the environment once; every value has a safe default."""
    instance = _instance_path()
    instance.mkdir(parents=True, exist_ok=True)
    env = os.environ.get
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": env("PORTAL_DATABASE_URL")
        or f"sqlite:///{instance / 'portal.sqlite3'}",
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(env("PORTAL_DATABASE_URL")),
        "STORAGE_BACKEND": env("PORTAL_STORAGE", "local"),
        "STORAGE_LOCAL_PATH": env("PORTAL_STORAGE_PATH") or str(instance / "storage"),
        "S3_BUCKET": env("PORTAL_S3_BUCKET", "portal"),
        "S3_ENDPOINT_URL": env("PORTAL_S3_ENDPOINT_URL"),
        "S3_REGION": env("AWS_DEFAULT_REGION") or env("AWS_REGION") or "us-east-1",
        "REDIS_URL": env("PORTAL_REDIS_URL"),
        # The names of Portal's keys and pub/sub channels in Redis. Pub/sub ignores database
        # numbers: two deployments on one Redis server (staging beside production) need
        # prefixes of their own, or each hears the other's live readers and link changes.
        "INGEST_REDIS_PREFIX": env("PORTAL_REDIS_PREFIX") or "portal",
        # WeasyPrint's progress per render in the log (which step, which page): for looking
        # into a slow render; off, as each render writes a dozen lines.
        "RENDER_PROGRESS_LOG": env("PORTAL_RENDER_PROGRESS_LOG", "") == "1",
        # This worker's name on its host (a systemd template unit: %i): its ingest drains read
        # the stream as consumer "<host>-<name>", so a restarted worker takes back at once what
        # its killed predecessor had read (portal.tracking.ingest_queue). Unset: the worker is
        # named by its process id (unique on the host, not kept across a restart); never one
        # default name, which two unnamed workers on a host would share, each then freeing the
        # other's drain flag.
        "WORKER_NAME": env("PORTAL_WORKER_NAME") or None,
        # The bearer token of GET /metrics (Prometheus); unset: /metrics answers 404.
        "METRICS_TOKEN": env("PORTAL_METRICS_TOKEN") or None,
        # Live "reading now" (portal.live.stream): open streams per process, seconds a stream
        # stays open before the browser reconnects (docs/deploy.md, "Live reading").
        "LIVE_STREAMS": int(env("PORTAL_LIVE_STREAMS") or 2),
        "LIVE_STREAM_SECONDS": float(env("PORTAL_LIVE_STREAM_SECONDS") or 25),
        "BENCH_ROUTES": env("PORTAL_BENCH_ROUTES") == "1",  # /_bench/* for `python -m bench`
        # Seconds between scheduled ticks when Redis is set (portal.tasks.schedule); 0: none.
        "TICK_INTERVAL": int(env("PORTAL_TICK_INTERVAL", "300")),
        # A customer's portal link (the one the rep shares) lives this many days after it was
        # last handed out; links derived from a delivery live as long as that delivery.
        "PORTAL_LINK_DAYS": int(env("PORTAL_PORTAL_LINK_DAYS", "90")),
        "SMTP_URL": env("PORTAL_SMTP_URL"),
        # webhooks to loopback/private addresses (receivers on the same private network)
        "WEBHOOK_ALLOW_PRIVATE": env("PORTAL_WEBHOOK_ALLOW_PRIVATE") == "1",
        "MAIL_FROM": env("PORTAL_MAIL_FROM", "Portal <portal@localhost>"),
        "BASE_URL": env("PORTAL_BASE_URL", "http://127.0.0.1:5000"),
        # A deal whose amount (in major units of its currency) is above this needs finance and
        # legal approval before it can be won.
        "APPROVAL_THRESHOLD": int(env("PORTAL_APPROVAL_THRESHOLD", "500000")),
        "PROXY_FIX": int(env("PORTAL_PROXY_FIX", "0")),  # proxies in front (X-Forwarded-*)
        # Who sends a customer's file and page images once the app has checked the link and
        # recorded the download (portal.delivery.sending, docs/deploy.md "nginx in front"):
        # `app` (default: the app sends the bytes), `accel` (an empty answer with
        # X-Accel-Redirect: nginx sends the node's file, deploy/nginx/portal.conf), `presigned`
        # (as accel, and with S3 a file this node has no copy of is a redirect to a presigned
        # URL good for DOWNLOADS_PRESIGNED_SECONDS).
        "DOWNLOADS": _downloads_mode(env("PORTAL_DOWNLOADS", "app")),
        "DOWNLOADS_ACCEL_PREFIX": env("PORTAL_DOWNLOADS_ACCEL_PREFIX", "/_accel").rstrip("/"),
        "DOWNLOADS_PRESIGNED_SECONDS": int(env("PORTAL_DOWNLOADS_PRESIGNED_SECONDS", "60")),
        # The secret nginx's download gate sends (deploy/nginx/portal.conf, X-Portal-Gate): with
        # it, an accelerated download's answer says how nginx may replay it for under a second
        # (portal.delivery.download_gate). Empty (default): no answer says anything of the kind.
        "DOWNLOAD_GATE_SECRET": env("PORTAL_DOWNLOAD_GATE_SECRET", ""),
        "UPLOAD_MAX_BYTES": int(env("PORTAL_UPLOAD_MAX_BYTES", str(25 * MiB))),
        "ZIP_MAX_EXPANDED_BYTES": int(env("PORTAL_ZIP_MAX_EXPANDED_BYTES", str(100 * MiB))),
        "ZIP_MAX_RATIO": int(env("PORTAL_ZIP_MAX_RATIO", "100")),
        # This node's disk cache of immutable stored files (portal.library.storage.node_cache):
        # renders and template sources from S3. Default: <instance>/render-cache, 2 GiB.
        "RENDER_CACHE_PATH": env("PORTAL_RENDER_CACHE_PATH", ""),
        "RENDER_CACHE_MAX_BYTES": int(env("PORTAL_RENDER_CACHE_MAX_BYTES", str(2 * 1024 * MiB))),
        # Spreadsheet imports (portal.exchange.reading): file size, data rows, and the bytes an
        # .xlsx may expand to (a zip bomb is refused before it is unpacked).
        "EXCHANGE_MAX_BYTES": int(env("PORTAL_EXCHANGE_MAX_BYTES", str(5 * MiB))),
        "EXCHANGE_MAX_ROWS": int(env("PORTAL_EXCHANGE_MAX_ROWS", "5000")),
        "EXCHANGE_MAX_EXPANDED_BYTES": int(
            env("PORTAL_EXCHANGE_MAX_EXPANDED_BYTES", str(20 * MiB))
        ),
        "ZIP_MAX_ENTRIES": int(env("PORTAL_ZIP_MAX_ENTRIES", "500")),
        # Office uploads are converted to PDF by LibreOffice (portal.library.conversion): seconds
        # one conversion may take before it is killed and refused; the parent folder of each
        # run's private temporary folder (default: the system's); pixels an uploaded image may
        # have.
        "OFFICE_CONVERSION_TIMEOUT": float(env("PORTAL_OFFICE_CONVERSION_TIMEOUT", "120")),
        "CONVERSION_WORK_DIR": env("PORTAL_CONVERSION_WORK_DIR") or None,
        "IMAGE_MAX_PIXELS": int(env("PORTAL_IMAGE_MAX_PIXELS", str(50_000_000))),
        # Customer pages tell readers that reading is recorded (portal.privacy.notice):
        # `notice` (default) or `consent`.
        "TRACKING_MODE": env("PORTAL_TRACKING_MODE", "notice"),
        # Raw events, view sessions and address hashes older than this go at the tick
        # (portal.privacy.retention); scores and ledger rows stay.
        "EVENT_RETENTION_DAYS": int(env("PORTAL_EVENT_RETENTION_DAYS", "730")),
        # Network addresses are hashed with a salt that lives this many days; the tick then
        # makes a new one and deletes the old (portal.tracking.address_salts).
        "ADDRESS_SALT_DAYS": int(env("PORTAL_ADDRESS_SALT_DAYS", "1")),
        # Local hour (PORTAL_TIMEZONE) from which `tick` sends the morning digests, and on
        # Mondays the weekly ones (portal.digests).
        "DIGEST_HOUR": int(env("PORTAL_DIGEST_HOUR", "8")),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env("PORTAL_TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh_CN", "en"],
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "RATELIMIT_STORAGE_URI": env("PORTAL_REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Abuse limits, Flask-Limiter syntax (portal.routes.rate_limits says who each counts).
        "LOGIN_RATE_LIMIT": env("PORTAL_LOGIN_RATE_LIMIT", "10/minute;100/hour"),
        # Failed sign-ins naming one account from one address; and from all addresses together
        # (high: reached only by many addresses, so one guesser cannot lock the owner out).
        "LOGIN_ACCOUNT_ADDRESS_RATE_LIMIT": env(
            "PORTAL_LOGIN_ACCOUNT_ADDRESS_RATE_LIMIT", "10/hour"
        ),
        "LOGIN_ACCOUNT_RATE_LIMIT": env("PORTAL_LOGIN_ACCOUNT_RATE_LIMIT", "100/hour"),
        "TRACKING_RATE_LIMIT": env("PORTAL_TRACKING_RATE_LIMIT", "120/minute"),
        "EVENTS_RATE_LIMIT": env("PORTAL_EVENTS_RATE_LIMIT", "600/minute"),
        "COMMENT_RATE_LIMIT": env("PORTAL_COMMENT_RATE_LIMIT", "10/minute;30/hour"),
        "PIXEL_RATE_LIMIT": env("PORTAL_PIXEL_RATE_LIMIT", "30/minute"),
        # Viewer fetches and open confirmations: per link (any address) and per address (any
        # link); an office behind one NAT reads many links, one link is opened a few times.
        "OPEN_RATE_LIMIT": env("PORTAL_OPEN_RATE_LIMIT", "30/minute;300/day"),
        "OPEN_ADDRESS_RATE_LIMIT": env("PORTAL_OPEN_ADDRESS_RATE_LIMIT", "120/minute"),
        # Wrong passcodes of one link from one address, and from every address together: at
        # 100 a day a 4-digit passcode takes ~50 days of guessing on average, 6 digits ~14
        # years; a guesser can keep the link's reader out for a day at most.
        "PASSCODE_RATE_LIMIT": env("PORTAL_PASSCODE_RATE_LIMIT", "5/minute;20/hour"),
        "PASSCODE_LINK_RATE_LIMIT": env("PORTAL_PASSCODE_LINK_RATE_LIMIT", "100/day"),
    }
