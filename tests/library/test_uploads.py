"""inspect_upload: every bad file is built here, byte by byte where zipfile would not write it."""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import warnings
import zipfile
import zlib

import pypdfium2 as pdfium
import pytest

from portal.errors import PortalError
from portal.library.uploads import (
    InspectedUpload,
    UploadLimits,
    UploadRejected,
    inspect_upload,
    safe_filename,
)

MiB = 1024 * 1024
LIMITS = UploadLimits(
    max_bytes=25 * MiB, max_expanded_bytes=100 * MiB, max_ratio=100, max_entries=500
)
INDEX = "<!doctype html><html><head><link rel=stylesheet href=style.css></head>"
INDEX += "<body><h1>报价单 Quote</h1><img src=logo.png></body></html>"
CSS = "h1 { color: #c00; font-family: 'Noto Sans CJK SC'; }\n"


# --- builders ----------------------------------------------------------------------------------


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pdf_bytes(pages: int = 3) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(595, 842)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def make_zip(files: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def zip_with_info(info: zipfile.ZipInfo, content: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", INDEX)
        archive.writestr(info, content)
    return out.getvalue()


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def raw_zip(entries: list[dict]) -> bytes:
    """A zip written by hand, so that sizes, flags and offsets can lie.

    Each entry: name (str), payload (the compressed bytes), and optionally method (8), crc,
    size (declared uncompressed size), flags, attr (external attributes), same_as (index of an
    earlier entry whose local header this central record points to).
    """
    out = bytearray()
    central = bytearray()
    offsets: list[int] = []
    for entry in entries:
        name = entry["name"].encode()
        payload = entry["payload"]
        method = entry.get("method", zipfile.ZIP_DEFLATED)
        crc = entry.get("crc", 0)
        size = entry.get("size", 0)
        flags = entry.get("flags", 0)
        if "same_as" in entry:
            offset = offsets[entry["same_as"]]
        else:
            offset = len(out)
            out += struct.pack(
                "<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, len(payload), size,
                len(name), 0,
            )  # fmt: skip
            out += name + payload
        offsets.append(offset)
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, flags, method, 0, 0x21, crc, len(payload),
            size, len(name), 0, 0, 0, 0, entry.get("attr", 0o100644 << 16), offset,
        )  # fmt: skip
        central += name
    directory = len(out)
    out += central
    out += struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), directory, 0
    )
    return bytes(out)


def index_entry() -> dict:
    data = INDEX.encode()
    return {
        "name": "index.html",
        "payload": deflate(data),
        "crc": zlib.crc32(data),
        "size": len(data),
    }


def zeros_stream(mebibytes: int) -> tuple[bytes, int]:
    """A deflate stream of `mebibytes` MiB of zeros and its CRC, built in ~50 ms.

    One MiB is compressed once and ended with a full flush (byte-aligned, no shared history),
    so the same compressed block can be repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * mebibytes + compressor.flush()
    crc = 0
    zero = bytes(MiB)
    for _ in range(mebibytes):
        crc = zlib.crc32(zero, crc)
    return stream, crc


def rejected(filename: str, data: bytes, limits: UploadLimits = LIMITS) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        inspect_upload(filename, data, limits)
    error = caught.value
    assert isinstance(error, PortalError)
    assert error.message == str(error)
    assert len(error.message) > 30  # a sentence, not just a code
    return error


# Encrypted PDFs: PDFium cannot write them, so this is the PDF standard security handler
# (revision 2, RC4-40) by hand: a one-page document whose /Encrypt dictionary is real.
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(user_password: bytes) -> bytes:
    file_id = b"0123456789abcdef"
    owner_key = hashlib.md5((b"owner" + _PAD)[:32]).digest()[:5]  # noqa: S324
    owner_hash = _rc4(owner_key, (user_password + _PAD)[:32])
    key = hashlib.md5(  # noqa: S324 (the PDF format's own, weak, scheme)
        (user_password + _PAD)[:32] + owner_hash + struct.pack("<i", -4) + file_id
    ).digest()[:5]
    user_hash = _rc4(key, _PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>"
        % (owner_hash.hex().encode(), user_hash.hex().encode()),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        file_id.hex().encode(),
        file_id.hex().encode(),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --- accepted uploads --------------------------------------------------------------------------


def test_html_upload_is_accepted_as_is() -> None:
    data = "\ufeff".encode() + INDEX.encode()
    result = inspect_upload("报价单 2024.html", data, LIMITS)
    assert isinstance(result, InspectedUpload)
    assert result.source_type == "html"
    assert result.data is data or result.data == data
    assert result.filename == "报价单_2024.html"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.content_type == "text/html; charset=utf-8"
    assert result.page_count is None


def test_htm_extension_is_html() -> None:
    assert inspect_upload("Page.HTM", b"<p>hi</p>", LIMITS).source_type == "html"


def test_zip_with_index_and_assets_at_the_root() -> None:
    data = make_zip({"index.html": INDEX, "style.css": CSS, "logo.png": png_bytes()})
    result = inspect_upload("brochure.zip", data, LIMITS)
    assert (result.source_type, result.content_type) == ("zip", "application/zip")
    assert result.data == data
    assert result.filename == "brochure.zip"
    assert result.page_count is None


def test_zip_with_everything_in_one_top_folder() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.mkdir("site")
        archive.mkdir("site/img")
        archive.writestr("site/index.html", INDEX)
        archive.writestr("site/style.css", CSS)
        archive.writestr("site/img/logo.png", png_bytes(), zipfile.ZIP_STORED)
        archive.writestr("site/fonts/a.woff2", b"wOF2" + bytes(100))
        archive.writestr("site/empty.css", "")
    assert inspect_upload("site.zip", out.getvalue(), LIMITS).source_type == "zip"


def test_zip_with_a_single_html_of_any_name() -> None:
    data = make_zip({"方案.html": INDEX, "style.css": CSS})
    assert inspect_upload("solution.zip", data, LIMITS).source_type == "zip"


def test_small_text_with_a_high_ratio_is_not_a_bomb() -> None:
    css = "a{color:red}\n" * 60_000  # ~780 KB, compresses far beyond 100:1, under the 1 MiB floor
    data = make_zip({"index.html": INDEX, "style.css": css})
    assert len(data) * 100 < len(css)
    assert inspect_upload("big-css.zip", data, LIMITS).source_type == "zip"


def test_pdf_is_accepted_with_its_page_count() -> None:
    data = pdf_bytes(3)
    result = inspect_upload("case-study.pdf", data, LIMITS)
    assert result.source_type == "pdf"
    assert result.content_type == "application/pdf"
    assert result.page_count == 3
    assert result.data == data
    assert result.size == len(data)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("报价单.pdf", "报价单.pdf"),
        ("../../etc/passwd.html", "passwd.html"),
        ("C:\\Users\\张三\\Desktop\\客户 案例.pdf", "客户_案例.pdf"),
        ("evil\u202elmth.zip", "evillmth.zip"),
        ("a<b>:c|d?.html", "abcd.html"),
        ("CON.html", "_CON.html"),
        ("..pdf.pdf", "pdf.pdf"),
        ("???.pdf", "upload.pdf"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_filename(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


def test_limits_from_config() -> None:
    config = {
        "UPLOAD_MAX_BYTES": 10,
        "ZIP_MAX_EXPANDED_BYTES": "20",
        "ZIP_MAX_RATIO": 30,
        "ZIP_MAX_ENTRIES": 40,
    }
    assert UploadLimits.from_config(config) == UploadLimits(10, 20, 30, 40)


# --- size and type -----------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["setup.exe", "deck.key", "README", "page.html.js"])
def test_other_extensions_are_415_listing_accepted_types(filename: str) -> None:
    error = rejected(filename, b"<p>hi</p>")
    assert (error.status, error.code) == (415, "unsupported_type")
    assert ".html" in error.message and ".zip" in error.message and ".pdf" in error.message


def test_empty_file() -> None:
    error = rejected("quote.pdf", b"")
    assert (error.status, error.code) == (400, "empty_file")
    assert "empty" in error.message and "quote.pdf" in error.message


def test_over_the_size_limit_is_413() -> None:
    limits = UploadLimits(max_bytes=1000, max_expanded_bytes=MiB, max_ratio=100, max_entries=10)
    error = rejected("page.html", b"<p>" + b"a" * 1000 + b"</p>", limits)
    assert (error.status, error.code) == (413, "upload_too_large")
    assert "1000 bytes" in error.message and "at most" in error.message


_MISMATCHES = [
    ("quote.pdf", png_bytes(), "PNG image"),
    ("x.html", make_zip({"index.html": INDEX}), "zip archive"),
    ("x.html", pdf_bytes(1), "PDF document"),
    ("x.htm", b"GIF89a" + b"\x01" * 20, "GIF image"),
    ("site.zip", pdf_bytes(1), "PDF document"),
    ("site.zip", INDEX.encode(), "not a zip archive"),
    ("site.zip", b"MZ\x90\x00" + make_zip({"index.html": INDEX}), "Windows program"),
    ("quote.pdf", make_zip({"index.html": INDEX}), "zip archive"),
    ("quote.pdf", INDEX.encode(), "not a PDF document"),
]


# Ids by name and kind: the bytes would make them (a PDF's creation time and id differ between
# xdist workers, which then refuse to run the collection).
@pytest.mark.parametrize(
    ("filename", "data", "found"),
    _MISMATCHES,
    ids=[f"{name}-{found}" for name, _data, found in _MISMATCHES],
)
def test_content_that_does_not_match_the_extension_is_415(
    filename: str, data: bytes, found: str
) -> None:
    error = rejected(filename, data)
    assert (error.status, error.code) == (415, "unsupported_type")
    assert found in error.message and filename in error.message


# --- HTML --------------------------------------------------------------------------------------


def test_html_that_is_not_utf8() -> None:
    error = rejected("quote.html", "<p>报价单</p>".encode("gbk"))
    assert (error.status, error.code) == (400, "not_utf8")
    assert "UTF-8" in error.message and "quote.html" in error.message


def test_html_with_nul_bytes() -> None:
    error = rejected("quote.html", b"<p>hi\x00</p>")
    assert (error.status, error.code) == (400, "not_utf8")
    assert "NUL" in error.message


# --- PDF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\nthis is not a pdf at all\n", b"%PDF-", pdf_bytes(2)[:40]],
    ids=["garbage", "header-only", "truncated"],
)
def test_unreadable_pdf(data: bytes) -> None:
    error = rejected("broken.pdf", data)
    assert (error.status, error.code) == (400, "corrupt_pdf")
    assert "cannot be read" in error.message and "broken.pdf" in error.message


def test_pdf_that_needs_a_password() -> None:
    data = encrypted_pdf(b"secret")
    with pytest.raises(pdfium.PdfiumError):  # the builder really made a locked PDF
        pdfium.PdfDocument(data)
    error = rejected("locked.pdf", data)
    assert (error.status, error.code) == (400, "encrypted_pdf")
    assert "password" in error.message


def test_pdf_with_security_restrictions_but_no_open_password() -> None:
    error = rejected("restricted.pdf", encrypted_pdf(b""))
    assert (error.status, error.code) == (400, "encrypted_pdf")
    assert "encrypted" in error.message and "unprotected" in error.message


# --- zip: entries ------------------------------------------------------------------------------


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("info", "why"),
    [
        (zipfile.ZipInfo("../evil.html"), "'..'"),
        (zipfile.ZipInfo("img/../../evil.css"), "'..'"),
        (zipfile.ZipInfo("/etc/x.css"), "absolute"),
        (zipfile.ZipInfo("C:/x.css"), "absolute"),
        (zipfile.ZipInfo("C:\\x.css"), "backslash"),
        (zipfile.ZipInfo("img\\logo.png"), "backslash"),
        (zipfile.ZipInfo("./style.css"), "normalized"),
        (zipfile.ZipInfo("img//logo.png"), "normalized"),
        (_symlink("logo.png"), "symbolic link"),
    ],
    ids=lambda value: value.filename if isinstance(value, zipfile.ZipInfo) else None,
)
def test_unsafe_entry_names(info: zipfile.ZipInfo, why: str) -> None:
    data = zip_with_info(info, b"/etc/passwd")
    error = rejected("site.zip", data)
    assert (error.status, error.code) == (400, "unsafe_zip_entry")
    assert repr(info.filename) in error.message and why in error.message


def test_nul_byte_in_an_entry_name() -> None:
    data = make_zip({"index.html": INDEX, "logo.pngX.exe": b"MZ"})
    data = data.replace(b"logo.pngX.exe", b"logo.png\x00.exe")
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[1] == "logo.png"  # what zipfile shows
    error = rejected("site.zip", data)
    assert (error.status, error.code) == (400, "unsafe_zip_entry")
    assert "NUL" in error.message and "logo.png\\x00.exe" in error.message


def test_encrypted_entry() -> None:
    css = CSS.encode()
    locked = {"name": "style.css", "payload": bytes(12) + css, "method": 0, "flags": 1}
    data = raw_zip([index_entry(), {**locked, "crc": zlib.crc32(css), "size": len(css)}])
    error = rejected("site.zip", data)
    assert (error.status, error.code) == (400, "unsafe_zip_entry")
    assert "'style.css'" in error.message and "encrypted" in error.message


def test_duplicate_names() -> None:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns, and writes it anyway
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("index.html", INDEX)
            archive.writestr("index.html", "<p>the other one</p>")
    error = rejected("site.zip", out.getvalue())
    assert (error.status, error.code) == (400, "unsafe_zip_entry")
    assert "'index.html'" in error.message and "more than once" in error.message


@pytest.mark.parametrize(
    "name", ["app.js", "setup.exe", "README", "notes.txt", ".DS_Store", "__MACOSX/._index.html"]
)
def test_entries_of_other_types(name: str) -> None:
    error = rejected("site.zip", make_zip({"index.html": INDEX, name: b"x"}))
    assert (error.status, error.code) == (400, "unsupported_zip_entry")
    assert repr(name) in error.message
    assert ".css" in error.message or "metadata" in error.message


def test_unusual_compression_method() -> None:
    data = make_zip({"index.html": INDEX}, method=zipfile.ZIP_BZIP2)
    error = rejected("site.zip", data)
    assert (error.status, error.code) == (400, "unsupported_zip_entry")
    assert "compression" in error.message and "deflate" in error.message


def test_too_many_entries() -> None:
    files = {"index.html": INDEX} | {f"img/{n}.png": b"x" for n in range(10)}
    limits = UploadLimits(max_bytes=MiB, max_expanded_bytes=MiB, max_ratio=100, max_entries=10)
    error = rejected("site.zip", make_zip(files), limits)
    assert (error.status, error.code) == (400, "too_many_entries")
    assert "11 entries" in error.message and "at most 10" in error.message


@pytest.mark.parametrize(
    "files",
    [
        {"style.css": CSS, "logo.png": png_bytes()},
        {"a.html": INDEX, "b.html": INDEX},
        {"one/index.html": INDEX, "two/index.html": INDEX},
    ],
    ids=["no-html", "two-html", "two-folders"],
)
def test_zip_without_an_entry_point(files: dict) -> None:
    error = rejected("site.zip", make_zip(files))
    assert (error.status, error.code) == (400, "no_entry_point")
    assert "index.html" in error.message


def test_empty_zip() -> None:
    error = rejected("site.zip", make_zip({}))
    assert (error.status, error.code) == (400, "empty_file")
    assert "empty zip" in error.message


def test_entry_html_not_utf8() -> None:
    error = rejected("site.zip", make_zip({"index.html": "<p>报价</p>".encode("gb18030")}))
    assert (error.status, error.code) == (400, "not_utf8")
    assert "'index.html'" in error.message and "UTF-8" in error.message


# --- zip: bombs --------------------------------------------------------------------------------


def test_real_zip_bomb_200_mb_of_zeros() -> None:
    stream, crc = zeros_stream(200)
    assert len(stream) < 300_000
    bomb = {"name": "style.css", "payload": stream, "crc": crc, "size": 200 * MiB}
    data = raw_zip([index_entry(), bomb])
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("style.css").file_size == 200 * MiB
    error = rejected("bomb.zip", data)
    assert (error.status, error.code) == (400, "zip_bomb")
    assert "'style.css'" in error.message and "zip bomb" in error.message


def test_entry_ratio_over_the_limit_under_the_size_limit() -> None:
    stream, crc = zeros_stream(5)
    bomb = {"name": "style.css", "payload": stream, "crc": crc, "size": 5 * MiB}
    error = rejected("dense.zip", raw_zip([index_entry(), bomb]))
    assert (error.status, error.code) == (400, "zip_bomb")
    assert "'style.css'" in error.message and "100:1" in error.message


def test_archive_ratio_over_the_limit_with_each_entry_under_the_floor() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    small = compressor.compress(bytes(900 * 1024)) + compressor.flush()
    crc = zlib.crc32(bytes(900 * 1024))
    entries = [index_entry()] + [
        {"name": f"{n}.css", "payload": small, "crc": crc, "size": 900 * 1024} for n in range(4)
    ]
    error = rejected("many.zip", raw_zip(entries))
    assert (error.status, error.code) == (400, "zip_bomb")
    assert "archive" in error.message


def test_declared_size_that_lies_is_caught_while_reading() -> None:
    stream, crc = zeros_stream(50)  # 50 MiB that say they are 1000 bytes
    liar = {"name": "style.css", "payload": stream, "crc": crc, "size": 1000}
    data = raw_zip([index_entry(), liar])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sum(info.file_size for info in archive.infolist()) < 2000
    error = rejected("liar.zip", data)
    assert (error.status, error.code) == (400, "zip_bomb")
    assert "'style.css'" in error.message and "more than" in error.message


def test_lie_patched_into_a_zip_written_by_zipfile() -> None:
    css = b"a{}" + bytes(2 * MiB)
    data = bytearray(make_zip({"index.html": INDEX, "style.css": css}))
    size = struct.pack("<L", len(css))
    assert data.count(size) == 2  # the local header and the central directory
    data = bytes(data).replace(size, struct.pack("<L", 100))
    error = rejected("patched.zip", data)
    assert (error.status, error.code) == (400, "zip_bomb")
    assert "more than the 100 bytes it declares" in error.message


def test_overlapping_entries() -> None:
    css = CSS.encode()
    shared = {"name": "a.css", "payload": deflate(css), "crc": zlib.crc32(css), "size": len(css)}
    entries = [index_entry(), shared] + [{**shared, "same_as": 1} for _ in range(3)]
    entries[2:] = [{**entry, "name": f"{n}.css"} for n, entry in enumerate(entries[2:])]
    error = rejected("overlap.zip", raw_zip(entries))
    assert (error.status, error.code) == (400, "unsafe_zip_entry")
    assert "overlaps" in error.message


# --- zip: corrupt ------------------------------------------------------------------------------


def test_bad_crc_in_a_stored_entry() -> None:
    data = bytearray(make_zip({"index.html": INDEX, "style.css": CSS}, zipfile.ZIP_STORED))
    position = data.index(b"color")
    data[position] ^= 0x20
    error = rejected("site.zip", bytes(data))
    assert (error.status, error.code) == (400, "corrupt_zip")
    assert "CRC" in error.message and "'style.css'" in error.message


def test_flipped_bytes_in_deflated_data() -> None:
    text = "".join(f"<p>line {n} of the quote</p>\n" for n in range(2000))
    data = bytearray(make_zip({"index.html": text}))
    middle = 30 + len("index.html") + (len(data) - 200) // 2
    for offset in range(8):
        data[middle + offset] ^= 0xA5
    error = rejected("site.zip", bytes(data))
    assert (error.status, error.code) == (400, "corrupt_zip")
    assert "'index.html'" in error.message and "not a valid zip" in error.message


def test_truncated_zip() -> None:
    data = make_zip({"index.html": INDEX, "logo.png": png_bytes()})
    error = rejected("site.zip", data[: len(data) * 2 // 3])
    assert (error.status, error.code) == (400, "corrupt_zip")
    assert "truncated" in error.message


def test_entry_data_cut_short_in_the_middle() -> None:
    data = INDEX.encode()
    short = {**index_entry(), "payload": deflate(data)[:20]}
    error = rejected("site.zip", raw_zip([short]))
    assert (error.status, error.code) == (400, "corrupt_zip")
    assert "'index.html'" in error.message
