"""Object storage: one interface, a local-folder backend and an S3 backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from portal.library.storage.base import InvalidKey, ObjectNotFound, Storage
from portal.library.storage.local import LocalStorage

__all__ = [
    "InvalidKey",
    "LocalStorage",
    "ObjectNotFound",
    "S3Storage",
    "Storage",
    "get_storage",
    "storage_from_config",
]

_EXTENSION_KEY = "portal.storage"


def __getattr__(name: str) -> Any:
    # S3Storage is imported when asked for: boto3 costs 200–300 ms of CPU, paid by every
    # process that imports the app, and with local storage nothing uses it.
    if name == "S3Storage":
        from portal.library.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def storage_from_config(config: Mapping[str, Any]) -> Storage:
    """The backend PORTAL_STORAGE names (config key STORAGE_BACKEND): 'local' or 's3'."""
    backend = str(config["STORAGE_BACKEND"]).strip().lower()
    if backend == "local":
        return LocalStorage(config["STORAGE_LOCAL_PATH"])
    if backend == "s3":
        from portal.library.storage.s3 import S3Storage

        return S3Storage(
            bucket=config["S3_BUCKET"],
            endpoint_url=config["S3_ENDPOINT_URL"] or None,  # empty means AWS itself
            region=config["S3_REGION"],
        )
    raise ValueError(
        f"unknown storage backend {config['STORAGE_BACKEND']!r}: "
        "PORTAL_STORAGE must be 'local' or 's3'"
    )


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION_KEY] = storage_from_config(app.config)


def get_storage() -> Storage:
    return current_app.extensions[_EXTENSION_KEY]
