"""Validation of an uploaded template file (untrusted, from marketing) before anything is stored.

`inspect_upload` judges a file by its content, not only by its name:

- ``.html`` / ``.htm``: UTF-8 text (a BOM is allowed), no NUL bytes, and not a zip, PDF or image
  under an HTML name.
- ``.pdf``: starts with ``%PDF-``, opens in PDFium without a password and has at least one page.
- ``.zip``: a real archive whose every entry is a safe relative path with an accepted extension,
  with an HTML entry point (see `portal.library.bundle.find_entry`) in UTF-8. Every entry is
  decompressed once, in bounded chunks, to check its CRC and that it expands to no more than it
  declares and than the limits allow (declared sizes are never trusted on their own).

Every rejection is an `UploadRejected` whose message says what is wrong and what is accepted.
Nothing here stores anything; the caller stores `InspectedUpload.data` only when this returns.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import stat
import struct
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from portal.errors import PortalError
from portal.library.bundle import find_entry

MiB = 1024 * 1024

ACCEPTED_TYPES = (
    ".html, .zip (an HTML page with its assets), .pdf, an Office file (.pptx .ppt .docx .doc "
    ".xlsx .odp .odt) or an image (.png .jpg .jpeg .webp)"
)
ZIP_ALLOWED_EXTENSIONS = frozenset(
    {
        ".html",
        ".htm",
        ".css",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".svg",
        ".webp",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
    }
)
ZIP_ALLOWED_LIST = ", ".join(sorted(ZIP_ALLOWED_EXTENSIONS))
# A compression ratio is only judged once an entry (or the archive) expands past this: small
# text files legitimately compress far better than max_ratio.
RATIO_FLOOR = 1 * MiB
_CHUNK = 64 * 1024

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "zip": "application/zip",
    "pdf": "application/pdf",
    "office": "application/octet-stream",
    "image": "application/octet-stream",
}
# Office files and images are accepted as they are, then converted to PDF (see
# portal.library.conversion): "office" / "image" is their source type until then.
OFFICE_EXTENSIONS = frozenset({".pptx", ".ppt", ".docx", ".doc", ".xlsx", ".odp", ".odt"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CONVERTED_TYPES = frozenset({"office", "image"})
_EXTENSIONS = {
    ".html": "html",
    ".htm": "html",
    ".zip": "zip",
    ".pdf": "pdf",
    **dict.fromkeys(OFFICE_EXTENSIONS, "office"),
    **dict.fromkeys(IMAGE_EXTENSIONS, "image"),
}

# PDFium is not thread-safe: every call into it from this module holds this lock.
PDFIUM_LOCK = threading.Lock()


class UploadRejected(PortalError):
    """An upload that is not accepted; `code` says why, `message` says it to a person.

    Codes: empty_file, not_utf8, corrupt_zip, corrupt_pdf, encrypted_pdf, unsafe_zip_entry,
    unsupported_zip_entry, too_many_entries, zip_bomb, no_entry_point, corrupt_office,
    encrypted_office, corrupt_image, conversion_failed, conversion_timeout (400);
    upload_too_large, image_too_large (413); unsupported_type (415);
    conversion_unavailable (503).
    """

    status = 400
    code = "upload_rejected"
    field = "file"


@dataclass(frozen=True)
class InspectedUpload:
    source_type: str  # "html" | "zip" | "pdf" | "office" | "image"
    data: bytes  # exactly the uploaded bytes (stored as is)
    filename: str  # a safe display name, never a path
    sha256: str
    size: int
    content_type: str
    page_count: int | None  # PDFs only
    extension: str = ""  # ".pptx", ".png"...: what LibreOffice or Pillow is told the file is

    def __repr__(self) -> str:  # never dump megabytes into a log line
        return (
            f"InspectedUpload(source_type={self.source_type!r}, filename={self.filename!r}, "
            f"size={self.size}, sha256={self.sha256[:12]}…, page_count={self.page_count})"
        )


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_expanded_bytes: int
    max_ratio: int
    max_entries: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UploadLimits:
        return cls(
            max_bytes=int(config["UPLOAD_MAX_BYTES"]),
            max_expanded_bytes=int(config["ZIP_MAX_EXPANDED_BYTES"]),
            max_ratio=int(config["ZIP_MAX_RATIO"]),
            max_entries=int(config["ZIP_MAX_ENTRIES"]),
        )


def inspect_upload(filename: str, data: bytes, limits: UploadLimits) -> InspectedUpload:
    """Check an uploaded file; return what to store, or raise UploadRejected."""
    data = bytes(data)
    display = safe_filename(filename)
    # Messages name the file quoted (as zip entries are): never read as the sentence's first
    # word, which the error catalogue capitalises ("Tool.exe" for tool.exe).
    named = shown_name(display)
    extension = _extension(filename)
    source_type = _EXTENSIONS.get(extension)
    if source_type is None:
        shown = f"'{extension}' files are" if extension else "files without an extension are"
        raise UploadRejected(
            f"{named}: {shown} not accepted; upload {ACCEPTED_TYPES}.",
            code="unsupported_type",
            status=415,
        )
    if not data:
        raise UploadRejected(
            f"{named} is empty (0 bytes); upload {ACCEPTED_TYPES} with content.",
            code="empty_file",
        )
    if len(data) > limits.max_bytes:
        raise UploadRejected(
            f"{named} is {_human(len(data))}; uploads may be at most {_human(limits.max_bytes)}.",
            code="upload_too_large",
            status=413,
        )

    page_count = None
    if source_type == "html":
        _check_html(named, data)
    elif source_type == "zip":
        _check_zip(named, data, limits)
    elif source_type == "office":
        _check_office(named, extension, data, limits)
    elif source_type == "image":
        _check_image(named, extension, data)
    else:
        page_count = check_pdf(named, data)

    return InspectedUpload(
        source_type=source_type,
        data=data,
        filename=display,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type=CONTENT_TYPES[source_type],
        page_count=page_count,
        extension=extension,
    )


# --- names -------------------------------------------------------------------------------------

_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\-]+")  # \w is Unicode: CJK and accented letters stay


def _basename(filename: str) -> str:
    """The last component, whichever separator the client used (old browsers send full paths)."""
    return re.split(r"[/\\]", filename or "")[-1]


def _extension(filename: str) -> str:
    return posixpath.splitext(_basename(filename).strip().lower())[1]


def safe_filename(filename: str, max_length: int = 200) -> str:
    """Like werkzeug's secure_filename, but CJK and other letters survive.

    Never a path: separators, control and format characters (e.g. right-to-left overrides),
    and punctuation other than '.', '-' and '_' are removed; spaces become '_'.
    """
    name = unicodedata.normalize("NFC", _basename(filename))
    name = "_".join(name.split())
    name = re.sub(r"\.{2,}", ".", _UNSAFE_NAME_CHARS.sub("", name))
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = stem.strip("._")
    ext = f".{ext.strip('._')}" if ext.strip("._") else ""
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    if not stem:
        stem = "upload"
    stem = stem[: max(1, max_length - len(ext))]
    return f"{stem}{ext}"[:max_length]


def _human(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.1f} KB".replace(".0 KB", " KB")
    return f"{size} bytes"


# --- content sniffing --------------------------------------------------------------------------

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"PK\x07\x08", "a zip archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x01\x00", "an icon image"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)


def _sniff(data: bytes) -> str | None:
    """What the bytes are, for the binary formats someone might rename; None when unknown."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return "a PDF document"
    return None


def _mismatch(display: str, expected: str, actual: str | None) -> UploadRejected:
    found = f"it is {actual}" if actual else "its content is not"
    return UploadRejected(
        f"{display} is named like {expected}, but {found}{'' if actual else ' ' + expected}. "
        f"Upload {ACCEPTED_TYPES}, with the extension that matches the content.",
        code="unsupported_type",
        status=415,
    )


# --- HTML --------------------------------------------------------------------------------------


def _check_html(display: str, data: bytes) -> None:
    what = _sniff(data)
    if what is not None:
        raise _mismatch(display, "an HTML page", what)
    _decode_utf8(display, data)


def _decode_utf8(label: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            f"{label} is not UTF-8 text (invalid byte at position {exc.start}); save the HTML "
            "as UTF-8 (e.g. 'Save with encoding: UTF-8' in your editor) and upload it again.",
            code="not_utf8",
        ) from None
    if "\x00" in text:
        raise UploadRejected(
            f"{label} contains NUL bytes, so it is not an HTML text file; upload HTML saved as "
            "UTF-8 text.",
            code="not_utf8",
        )
    return text


# --- PDF ---------------------------------------------------------------------------------------


def check_pdf(display: str, data: bytes) -> int:
    """The page count of a PDF that PDFium opens without a password; UploadRejected otherwise."""
    if not data.startswith(b"%PDF-"):
        raise _mismatch(display, "a PDF document", _sniff(data))
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
                raise UploadRejected(
                    f"{display} is protected by a password; remove the password (e.g. "
                    "'Print to PDF' or your PDF editor's security settings) and upload it again.",
                    code="encrypted_pdf",
                ) from None
            raise UploadRejected(
                f"{display} starts like a PDF but cannot be read (it is damaged or truncated); "
                "export or save the PDF again and upload the new file.",
                code="corrupt_pdf",
            ) from None
        try:
            if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
                raise UploadRejected(
                    f"{display} is encrypted (it has security restrictions); save an "
                    "unprotected copy of the PDF and upload that.",
                    code="encrypted_pdf",
                )
            page_count = len(document)
            if page_count < 1:
                raise UploadRejected(
                    f"{display} has no pages; upload a PDF with at least one page.",
                    code="corrupt_pdf",
                )
            try:
                document[0].close()
            except pdfium.PdfiumError:
                raise UploadRejected(
                    f"{display}: the first page of the PDF cannot be read; export or save the "
                    "PDF again and upload the new file.",
                    code="corrupt_pdf",
                ) from None
        finally:
            document.close()
    return page_count


# --- Office files and images (converted later; here only what can be judged cheaply) ------------

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML = frozenset({".pptx", ".docx", ".xlsx"})
_ODF = frozenset({".odp", ".odt"})


def _protected(display: str) -> UploadRejected:
    return UploadRejected(
        f"{display} is protected by a password; save a copy without a password (File > Info > "
        "Protect / Encrypt with password, cleared) and upload that.",
        code="encrypted_office",
    )


def _damaged(display: str, detail: str) -> UploadRejected:
    return UploadRejected(
        f"{display} cannot be read as an Office document ({detail}); open it in Office or WPS, "
        "save it again and upload the new file.",
        code="corrupt_office",
    )


def _check_office(display: str, extension: str, data: bytes, limits: UploadLimits) -> None:
    if extension in (".doc", ".ppt"):
        if not data.startswith(_OLE):
            raise _mismatch(display, f"an Office {extension} document", _sniff(data))
        return  # an old binary file: LibreOffice judges it (a damaged one fails conversion)
    if data.startswith(_OLE):
        # A password-protected .docx/.pptx/.xlsx is not a zip: Office wraps the encrypted
        # package in an OLE container (MS-OFFCRYPTO).
        if extension in _OOXML:
            raise _protected(display)
        raise _damaged(display, "it is an old binary Office file under a new name")
    if not data.startswith(b"PK\x03\x04"):
        raise _mismatch(display, f"an Office {extension} document", _sniff(data))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise _damaged(display, f"the package is truncated or damaged: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max(limits.max_entries, 2000):
            raise _damaged(display, f"it holds {len(infos)} parts")
        _check_declared_sizes(display, data, infos, limits)
        names = {info.filename for info in infos}
        if extension in _OOXML and "[Content_Types].xml" not in names:
            raise _damaged(display, "it has no [Content_Types].xml")
        if extension in _ODF:
            if "mimetype" not in names or "META-INF/manifest.xml" not in names:
                raise _damaged(display, "it has no ODF mimetype or manifest")
            try:
                manifest = archive.read("META-INF/manifest.xml")
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
                raise _damaged(display, f"its manifest cannot be read: {exc}") from None
            if b"encryption-data" in manifest:
                raise _protected(display)


_IMAGE_MAGIC = {
    ".png": "a PNG image",
    ".jpg": "a JPEG image",
    ".jpeg": "a JPEG image",
    ".webp": "a WebP image",
}


def _check_image(display: str, extension: str, data: bytes) -> None:
    expected = _IMAGE_MAGIC[extension]
    actual = _sniff(data)
    if actual != expected:
        raise _mismatch(display, expected, actual)


# --- zip ---------------------------------------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... file name length, extra field length
_ENCRYPTED_FLAGS = 0x0001 | 0x0040 | 0x2000  # traditional, strong, central-directory encryption
_DRIVE = re.compile(r"^[A-Za-z]:")
_OS_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


def _corrupt(display: str, detail: str) -> UploadRejected:
    return UploadRejected(
        f"{display} is not a valid zip archive ({detail}); create the zip again with a standard "
        "zip tool and upload the new file.",
        code="corrupt_zip",
    )


_PATH_HINT = "entries must be plain relative paths such as 'index.html' or 'images/logo.png'"


def shown_name(name: str, limit: int = 120) -> str:
    """An entry name quoted for a message: escaped, and cut when absurdly long."""
    return repr(name if len(name) <= limit else name[: limit - 1] + "…")


def _unsafe(name: str, why: str, hint: str = _PATH_HINT) -> UploadRejected:
    return UploadRejected(f"zip entry {shown_name(name)} {why}; {hint}.", code="unsafe_zip_entry")


def _bomb(display: str, detail: str, limits: UploadLimits) -> UploadRejected:
    return UploadRejected(
        f"{display} {detail}, which looks like a zip bomb; a template zip may expand to at most "
        f"{_human(limits.max_expanded_bytes)} in total and compress at most "
        f"{limits.max_ratio}:1.",
        code="zip_bomb",
    )


def _check_zip(display: str, data: bytes, limits: UploadLimits) -> None:
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise _mismatch(display, "a zip archive", _sniff(data))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise _corrupt(display, f"truncated or damaged: {exc}") from None
    with archive:
        infos = archive.infolist()
        if not infos:
            raise UploadRejected(
                f"{display} is an empty zip archive; upload a zip holding index.html and its "
                "assets.",
                code="empty_file",
            )
        if len(infos) > limits.max_entries:
            raise UploadRejected(
                f"{display} holds {len(infos)} entries; a template zip may hold at most "
                f"{limits.max_entries}.",
                code="too_many_entries",
            )
        _check_entries(infos)
        _check_declared_sizes(display, data, infos, limits)
        names = [info.filename for info in infos]
        entry = find_entry(names)
        if entry is None:
            raise UploadRejected(
                f"{display} has no HTML entry point; put index.html at the top of the zip (or "
                "in its single top folder), or include exactly one .html file.",
                code="no_entry_point",
            )
        _check_layout(display, data, infos)
        entry_html = _read_all(display, archive, data, infos, limits, keep=entry)
    _decode_utf8(f"zip entry {shown_name(entry)}", entry_html)


def _check_entries(infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.orig_filename  # ZipInfo.filename is cut at a NUL; the original is not
        if not name:
            raise _unsafe(name, "has an empty name")
        if "\x00" in name:
            raise _unsafe(name, "has a NUL byte in its name")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise _unsafe(name, "has a control character in its name")
        if "\\" in name:
            raise _unsafe(
                name,
                "uses a backslash (a Windows path)",
                "create the zip again with a tool that writes '/' separators (Windows Explorer "
                "'Send to > Compressed folder', 7-Zip), so that " + _PATH_HINT,
            )
        if name.startswith("/") or _DRIVE.match(name):
            raise _unsafe(name, "is an absolute path")
        parts = name.removesuffix("/").split("/")
        if ".." in parts:
            raise _unsafe(name, "points outside the archive with '..'")
        if any(part in ("", ".") for part in parts):
            raise _unsafe(name, "is not a normalized path (empty or '.' component)")
        file_type = stat.S_IFMT(info.external_attr >> 16)
        if file_type == stat.S_IFLNK:
            raise _unsafe(
                name, "is a symbolic link", "put the file itself in the zip, not a link to it"
            )
        if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(
                name,
                "is a special file (device, pipe or socket)",
                "only regular files and folders are accepted",
            )
        if info.flag_bits & _ENCRYPTED_FLAGS:
            raise _unsafe(
                name, "is encrypted (password-protected)", "upload a zip made without a password"
            )
        key = name.removesuffix("/")
        if key in seen:
            raise _unsafe(
                name, "appears more than once in the archive", "each path may appear only once"
            )
        seen.add(key)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UploadRejected(
                f"zip entry {shown_name(name)} uses compression method {info.compress_type}; only "
                "'stored' and 'deflate' (what standard zip tools write) are accepted.",
                code="unsupported_zip_entry",
            )
        if info.is_dir():
            continue
        base = posixpath.basename(name)
        if name.startswith(_OS_JUNK[0]) or base.startswith("._") or base in _OS_JUNK[1:]:
            raise UploadRejected(
                f"zip entry {shown_name(name)} is operating-system metadata (macOS __MACOSX/._ "
                "files, .DS_Store, Thumbs.db); create the zip without it (e.g. "
                "zip -r site.zip site -x '*/.*' '__MACOSX/*') and upload it again.",
                code="unsupported_zip_entry",
            )
        extension = posixpath.splitext(base.lower())[1]
        if extension not in ZIP_ALLOWED_EXTENSIONS:
            kind = f"'{extension}' files are" if extension else "files without an extension are"
            raise UploadRejected(
                f"zip entry {shown_name(name)}: {kind} not accepted in a template zip; allowed: "
                f"{ZIP_ALLOWED_LIST}.",
                code="unsupported_zip_entry",
            )


def _check_declared_sizes(
    display: str, data: bytes, infos: list[zipfile.ZipInfo], limits: UploadLimits
) -> None:
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _bomb(
                display,
                f"entry {shown_name(info.orig_filename)} declares {_human(info.file_size)} from "
                f"{_human(info.compress_size)} (about {ratio}:1)",
                limits,
            )
    if total > limits.max_expanded_bytes:
        raise _bomb(display, f"declares {_human(total)} of uncompressed content", limits)
    if total > RATIO_FLOOR and total > limits.max_ratio * len(data):
        raise _bomb(
            display,
            f"declares {_human(total)} from a {_human(len(data))} archive "
            f"(about {total // len(data)}:1)",
            limits,
        )


def _data_span(display: str, data: bytes, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Offsets of an entry's compressed bytes, from its local header."""
    offset = info.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size:
        raise _corrupt(
            display, f"entry {shown_name(info.orig_filename)} lies past the end of the file"
        )
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise _corrupt(display, f"entry {shown_name(info.orig_filename)} has no local header")
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    end = start + info.compress_size
    if end > len(data):
        raise _corrupt(display, f"entry {shown_name(info.orig_filename)} is truncated")
    return start, end


def _check_layout(display: str, data: bytes, infos: list[zipfile.ZipInfo]) -> None:
    """Entries must not share bytes (overlapping entries are how the densest bombs are built)."""
    spans = sorted(
        ((info.header_offset, _data_span(display, data, info)[1], info) for info in infos),
        key=lambda span: span[:2],
    )
    previous_end = 0
    for header_offset, end, info in spans:
        if header_offset < previous_end:
            raise _unsafe(
                info.orig_filename,
                "overlaps the data of another entry (a crafted archive)",
                "create the zip again with a standard zip tool",
            )
        previous_end = end


def _read_all(
    display: str,
    archive: zipfile.ZipFile,
    data: bytes,
    infos: list[zipfile.ZipInfo],
    limits: UploadLimits,
    *,
    keep: str,
) -> bytes:
    """Decompress every entry in bounded chunks; return the bytes of the entry named `keep`."""
    view = memoryview(data)
    expanded = 0
    kept = b""
    for info in infos:
        name = info.orig_filename
        try:  # zipfile's own checks of the local header (e.g. its name matches the directory)
            archive.open(info).close()
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise _corrupt(display, f"entry {shown_name(name)}: {exc}") from None
        start, end = _data_span(display, data, info)
        parts: list[bytes] | None = [] if info.filename == keep else None
        produced = 0
        crc = 0
        head = b""
        for chunk in _expand(display, info, view[start:end]):
            if len(head) < 16:
                head += chunk[: 16 - len(head)]
            produced += len(chunk)
            expanded += len(chunk)
            if produced > info.file_size:
                raise _bomb(
                    display,
                    f"entry {shown_name(name)} expands to more than the "
                    f"{_human(info.file_size)} it declares",
                    limits,
                )
            if expanded > limits.max_expanded_bytes:
                raise _bomb(
                    display, f"expands to more than {_human(limits.max_expanded_bytes)}", limits
                )
            crc = zlib.crc32(chunk, crc)
            if parts is not None:
                parts.append(chunk)
        if produced != info.file_size:
            raise _corrupt(
                display,
                f"entry {shown_name(name)} holds {produced} bytes but declares {info.file_size}",
            )
        if crc != info.CRC:
            raise _corrupt(display, f"CRC check failed for entry {shown_name(name)}")
        if not info.is_dir():
            _check_asset_content(name, head)
        if parts is not None:
            kept = b"".join(parts)
    return kept


# What the bytes of a binary asset start with, by extension (the renderer's image and font
# parsers then only ever see these formats; a renamed TIFF, EPS or PDF is refused).
_ASSET_MAGIC: dict[str, tuple[tuple[bytes, ...], str]] = {
    ".png": ((b"\x89PNG\r\n\x1a\n",), "a PNG image"),
    ".jpg": ((b"\xff\xd8\xff",), "a JPEG image"),
    ".jpeg": ((b"\xff\xd8\xff",), "a JPEG image"),
    ".gif": ((b"GIF87a", b"GIF89a"), "a GIF image"),
    ".webp": ((b"RIFF",), "a WebP image"),
    ".woff": ((b"wOFF",), "a WOFF font"),
    ".woff2": ((b"wOF2",), "a WOFF2 font"),
    ".ttf": ((b"\x00\x01\x00\x00", b"true", b"ttcf"), "a TrueType font"),
    ".otf": ((b"OTTO", b"\x00\x01\x00\x00"), "an OpenType font"),
}


def _check_asset_content(name: str, head: bytes) -> None:
    """A zip entry's content must be what its extension says (text stays text)."""
    extension = posixpath.splitext(name.lower())[1]
    expected = _ASSET_MAGIC.get(extension)
    if expected is None:  # .html, .htm, .css, .svg: text, not a renamed binary
        what = _sniff(head)
        if what is not None:
            raise UploadRejected(
                f"zip entry {shown_name(name)} is named like a text file, but it is {what}; "
                "give every file the extension of its content.",
                code="unsupported_zip_entry",
            )
        return
    magics, label = expected
    webp_ok = extension != ".webp" or head[8:12] == b"WEBP"
    if not (head.startswith(magics) and webp_ok):
        what = _sniff(head) or "something else"
        raise UploadRejected(
            f"zip entry {shown_name(name)} is named like {label}, but it is {what}; "
            "give every file the extension of its content.",
            code="unsupported_zip_entry",
        )


def _expand(display: str, info: zipfile.ZipInfo, raw: memoryview):
    """Yield the uncompressed bytes of one entry, at most _CHUNK at a time."""
    if info.compress_type == zipfile.ZIP_STORED:
        for offset in range(0, len(raw), _CHUNK):
            yield bytes(raw[offset : offset + _CHUNK])
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    position = 0
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                pending = inflater.unconsumed_tail
            else:
                pending = bytes(raw[position : position + _CHUNK])
                position += len(pending)
            chunk = inflater.decompress(pending, _CHUNK)
            if not chunk and not pending:
                break  # no input left and nothing more comes out: the stream is cut short
            if chunk:
                yield chunk
    except zlib.error as exc:
        raise _corrupt(display, f"entry {shown_name(info.orig_filename)}: {exc}") from None
    if not inflater.eof:
        raise _corrupt(display, f"entry {shown_name(info.orig_filename)} is truncated")
