"""Configuration from PORTAL_* environment variables, with embedded defaults."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def _instance_path() -> Path:
    return Path(os.environ.get("PORTAL_INSTANCE_PATH", "instance")).resolve()


def _secret_key(instance: Path) -> str:
    """Use PORTAL_SECRET_KEY, else a key generated once into the instance folder."""
    key = os.environ.get("PORTAL_SECRET_KEY")
    if key:
        return key
    key_file = instance / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


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
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "STORAGE_BACKEND": env("PORTAL_STORAGE", "local"),
        "STORAGE_LOCAL_PATH": env("PORTAL_STORAGE_PATH") or str(instance / "storage"),
        "S3_BUCKET": env("PORTAL_S3_BUCKET", "portal"),
        "S3_ENDPOINT_URL": env("PORTAL_S3_ENDPOINT_URL"),
        "S3_REGION": env("AWS_DEFAULT_REGION") or env("AWS_REGION") or "us-east-1",
        "REDIS_URL": env("PORTAL_REDIS_URL"),
        "SMTP_URL": env("PORTAL_SMTP_URL"),
        "MAIL_FROM": env("PORTAL_MAIL_FROM", "Portal <portal@localhost>"),
        "BASE_URL": env("PORTAL_BASE_URL", "http://127.0.0.1:5000"),
        "UPLOAD_MAX_BYTES": int(env("PORTAL_UPLOAD_MAX_BYTES", str(25 * MiB))),
        "ZIP_MAX_EXPANDED_BYTES": int(env("PORTAL_ZIP_MAX_EXPANDED_BYTES", str(100 * MiB))),
        "ZIP_MAX_RATIO": int(env("PORTAL_ZIP_MAX_RATIO", "100")),
        "ZIP_MAX_ENTRIES": int(env("PORTAL_ZIP_MAX_ENTRIES", "500")),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env("PORTAL_TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh_CN", "en"],
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "RATELIMIT_STORAGE_URI": env("PORTAL_REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
    }
