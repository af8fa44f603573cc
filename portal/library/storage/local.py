from __future__ import annotations

import os
import tempfile
from pathlib import Path

from portal.library.storage.base import InvalidKey, ObjectNotFound, Storage, check_key

# '#' is not allowed in a key, so an unfinished upload can never be mistaken for an object.
_TMP_PREFIX = "#upload-"


class LocalStorage(Storage):
    """Blobs as files under one folder (by default instance/storage).

    Unlike S3, a key cannot also be the folder of other keys ('a' beside 'a/b'): storing one
    over the other raises OSError. Reading, testing or deleting such a key behaves as if missing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # belt and braces on top of check_key
            raise InvalidKey(f"invalid storage key: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except (IsADirectoryError, PermissionError):
            if not path.is_dir():  # a folder of other keys is no object: nothing to delete
                raise

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the folder the prefix names, not the whole tree.
        folder = prefix.rpartition("/")[0]
        if folder:
            try:
                check_key(folder)
            except InvalidKey:
                return []  # no valid key starts with it
        keys = []
        for dirpath, dirnames, filenames in os.walk(self.root / folder):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else f"{rel}/"
            dirnames[:] = [d for d in dirnames if f"{base}{d}/".startswith(prefix)]
            keys.extend(
                f"{base}{name}"
                for name in filenames
                if not name.startswith(_TMP_PREFIX) and f"{base}{name}".startswith(prefix)
            )
        return sorted(keys)
