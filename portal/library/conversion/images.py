"""An uploaded image on a PDF page (Pillow), so that it is shown, paged and tracked like a PDF."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from portal.library.uploads import UploadRejected

# The page is at most A4's long side (11.69 in); small images keep 96 dpi, so they are not
# blown up.
_LONG_SIDE_INCHES = 11.69
_MIN_DPI = 96.0


def image_to_pdf(display: str, data: bytes, *, max_pixels: int) -> bytes:
    """A one-page PDF of the image; UploadRejected when it is damaged or has too many pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise UploadRejected(
                        f"{display} is {width}×{height} pixels; images may have at most "
                        f"{max_pixels // 1_000_000} million pixels.",
                        code="image_too_large",
                        status=413,
                    )
                probe.load()
                image = _flatten(probe)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadRejected(
            f"{display} cannot be read as an image ({exc}); save it again as PNG or JPEG and "
            "upload the new file.",
            code="corrupt_image",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(
            f"{display} has too many pixels; make it smaller and upload it again.",
            code="image_too_large",
            status=413,
        ) from None
    dpi = max(_MIN_DPI, max(image.size) / _LONG_SIDE_INCHES)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=dpi)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: PDF pages have no alpha, and palette or CMYK images are normalised."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        page = Image.new("RGB", rgba.size, "white")
        page.paste(rgba, mask=rgba.getchannel("A"))
        return page
    return image.convert("RGB")
