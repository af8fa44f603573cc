from __future__ import annotations

import functools
import posixpath
import re
from abc import ABC, abstractmethod

_KEY_RE = re.compile(r"[A-Za-z0-9._\-/]+")
MAX_KEY_LENGTH = 512
MAX_SEGMENT_LENGTH = 255  # a file name on the local backend


class ObjectNotFound(KeyError):
    """No object is stored under that key."""


class InvalidKey(ValueError):
    """A key that could escape its namespace (absolute, '..', odd characters)."""


def check_key(key: str) -> str:
    """Return key when it is a clean relative POSIX path, else raise InvalidKey.

    The same keys are valid on every backend: ASCII letters, digits and ``._-/``; no empty,
    ``.`` or ``..`` segment; no leading or trailing slash; at most 512 characters, 255 per segment.
    """
    if isinstance(key, str):
        return _checked(key)
    raise InvalidKey(f"invalid storage key: {key!r}")


@functools.lru_cache(maxsize=4096)
def _checked(key: str) -> str:
    # Remembered: the same keys (a document's PDF, its page images) are checked on every
    # download and page image. Only valid keys are kept (an invalid one raises).
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or not _KEY_RE.fullmatch(key)  # fullmatch: `$` would let a trailing newline through
        or key.startswith("/")
        or key.endswith("/")
        or posixpath.normpath(key) != key
        or any(part in {".", ".."} or len(part) > MAX_SEGMENT_LENGTH for part in key.split("/"))
    ):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


class Storage(ABC):
    """Immutable blobs by key. Keys are relative POSIX paths such as 'templates/3/v1/x.pdf'."""

    # Whether presigned_url() can send a client to the store itself (S3), so that a download
    # may be a redirect (PORTAL_DOWNLOADS=presigned, portal.delivery.sending).
    presigns = False

    def presigned_url(
        self, key: str, seconds: int, *, disposition: str, content_type: str, cache_control: str
    ) -> str:
        raise NotImplementedError(f"{type(self).__name__} cannot presign a URL")

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store data under key, replacing what was there (atomically for readers)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under key; ObjectNotFound when there are none."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove key; removing a missing key is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with prefix (a plain string prefix, as in S3: 'a/b' also
        matches 'a/bc/x'; end it with '/' to mean a folder), sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key that list(prefix) returns; the number deleted."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)
