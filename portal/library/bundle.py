"""A stored template file opened for rendering: the HTML entry point and its own assets.

An .html upload is a bundle with no assets; a .zip upload holds the HTML and its assets
(validated on upload by portal.library.uploads, so only safe relative paths are here).
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass, field

ENTRY_NAMES = ("index.html", "index.htm")


@dataclass(frozen=True)
class TemplateBundle:
    html: str
    entry: str = "index.html"  # path of the HTML inside the bundle; assets resolve against it
    files: dict[str, bytes] = field(default_factory=dict)

    def asset(self, path: str) -> bytes | None:
        """The bytes of a bundle-relative path, or None when the bundle has no such file."""
        normalized = posixpath.normpath(path.lstrip("/"))
        if normalized.startswith("..") or normalized == ".":
            return None
        return self.files.get(normalized)


def find_entry(names: list[str]) -> str | None:
    """index.html at the root or in the single top folder, else the only .html file."""
    files = [n for n in names if not n.endswith("/")]
    for name in ENTRY_NAMES:
        if name in files:
            return name
    tops = {n.split("/", 1)[0] for n in files}
    if len(tops) == 1:
        top = next(iter(tops))
        for name in ENTRY_NAMES:
            if f"{top}/{name}" in files:
                return f"{top}/{name}"
    html = [n for n in files if n.lower().endswith((".html", ".htm"))]
    return html[0] if len(html) == 1 else None


def decode_html(data: bytes) -> str:
    return data.decode("utf-8-sig")


def load_bundle(source_type: str, data: bytes) -> TemplateBundle:
    if source_type == "html":
        return TemplateBundle(html=decode_html(data))
    if source_type == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            entry = find_entry(names)
            if entry is None:
                raise ValueError("the zip holds no index.html")
            files = {n: archive.read(n) for n in names if not n.endswith("/")}
        return TemplateBundle(html=decode_html(files.pop(entry)), entry=entry, files=files)
    raise ValueError(f"{source_type} templates are not rendered from HTML")
