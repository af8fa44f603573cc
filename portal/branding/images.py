"""Images customers see beside the documents: the company's logo and a rep's WeChat QR code.

An upload is decoded with Pillow (a file that is not a PNG, JPEG or WebP image is refused),
bounded in bytes and pixels, and stored re-encoded as PNG: what is served is what Pillow drew,
never the uploaded bytes (no metadata, no polyglot file). The key names the content
(brand/<sha256>.png), so a served image never changes and may be cached for long.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from portal.errors import ValidationFailed
from portal.library.storage import get_storage, node_cache

MAX_BYTES = 2 * 1024 * 1024
MAX_SOURCE_PIXELS = 4096 * 4096
MAX_SIDE = 600  # stored no larger: a logo or a QR code on a phone
FORMATS = {"PNG", "JPEG", "WEBP"}
PREFIX = "brand"
_KEY = re.compile(r"^brand/[0-9a-f]{64}\.png$")


def store_image(data: bytes, field: str) -> str:
    """Validate an uploaded image, store it as PNG and return its key. ValidationFailed
    (code brand_image_too_large / image_invalid, on field) otherwise."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"the image is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            code="brand_image_too_large",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise ValueError(f"format {probe.format}")
                if probe.width * probe.height > MAX_SOURCE_PIXELS:
                    raise ValidationFailed(
                        "the image has too many pixels (at most 4096 × 4096)",
                        code="brand_image_too_large",
                        field=field,
                    )
                probe.load()
                image = probe.convert("RGBA")
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, ValueError, OSError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:  # fmt: skip
        raise ValidationFailed(
            "the file is not a PNG, JPEG or WebP image", code="image_invalid", field=field
        ) from exc
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    png = out.getvalue()
    key = f"{PREFIX}/{hashlib.sha256(png).hexdigest()}.png"
    get_storage().put(key, png, "image/png")
    node_cache.remember(key, png)
    return key


def is_image_key(key: str) -> bool:
    return bool(_KEY.match(key or ""))


def image_name(key: str) -> str:
    """The part of key in the image's URL (/brand/<name>.png); "" for no image."""
    return key[len(PREFIX) + 1 : -len(".png")] if is_image_key(key) else ""


def image_file(key: str) -> Path | None:
    """The stored image as a local file (for sendfile); None when it is not stored."""
    return node_cache.local_path(key) if is_image_key(key) else None
