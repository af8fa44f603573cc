"""Office files and images made into the PDF a template version is shown as.

`convert_upload` takes an inspected "office" or "image" upload and returns the PDF as an
inspected PDF upload (page count included), or raises UploadRejected with a stable code. The
library services call it in the request when jobs run inline, or from the `convert_version` job
(portal.library.services) when they run on RQ.

Office files go through LibreOffice (`office.py`, isolated per run, time-limited by
OFFICE_CONVERSION_TIMEOUT); images are put on a page by Pillow (`images.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from portal import error_catalogue
from portal.library.conversion.images import image_to_pdf
from portal.library.conversion.office import ConversionError, convert_to_pdf
from portal.library.uploads import (
    CONTENT_TYPES,
    InspectedUpload,
    UploadRejected,
    check_pdf,
    shown_name,
)


def message_for(code: str | None) -> str:
    """The translated sentence for a conversion error code (never the code itself); the
    sentences live in the error catalogue with every other code's."""
    return error_catalogue.sentence(code or "") or str(
        error_catalogue.sentence("conversion_failed")
    )


def convert_upload(upload: InspectedUpload, config: Mapping[str, Any]) -> InspectedUpload:
    """The PDF of an "office" or "image" upload, checked like an uploaded PDF."""
    timeout = float(config.get("OFFICE_CONVERSION_TIMEOUT", 120))
    if upload.source_type == "image":
        pdf = image_to_pdf(
            upload.filename, upload.data, max_pixels=int(config.get("IMAGE_MAX_PIXELS", 50e6))
        )
    else:
        try:
            pdf = convert_to_pdf(
                upload.data,
                upload.extension,
                timeout=timeout,
                work_dir=config.get("CONVERSION_WORK_DIR") or None,
            )
        except ConversionError as exc:
            raise _refusal(upload.filename, exc, timeout) from None
    pages = check_pdf(shown_name(upload.filename), pdf)
    return InspectedUpload(
        source_type="pdf",
        data=pdf,
        filename=upload.filename,
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        content_type=CONTENT_TYPES["pdf"],
        page_count=pages,
        extension=".pdf",
    )


def _refusal(display: str, exc: ConversionError, timeout: float) -> UploadRejected:
    if exc.code == "conversion_timeout":
        return UploadRejected(
            f"{display}: converting it to PDF took longer than {timeout:g} s and was stopped; "
            "split it into smaller files or export it to PDF yourself and upload the PDF.",
            code="conversion_timeout",
        )
    if exc.code == "conversion_unavailable":
        return UploadRejected(
            "Office conversion is not available on this server (LibreOffice is not installed); "
            "export the file to PDF and upload the PDF.",
            code="conversion_unavailable",
            status=503,
        )
    return UploadRejected(
        f"{display} could not be converted to PDF: it is damaged, protected by a password or "
        "not a document LibreOffice can read; save it again without a password (or export it "
        "to PDF) and upload the new file.",
        code="conversion_failed",
    )
