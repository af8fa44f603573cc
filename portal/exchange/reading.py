"""An uploaded spreadsheet (untrusted) as a table: headers and numbered rows of cell values.

The content decides the format, not the name: an .xlsx is a zip (PK signature) holding
xl/workbook.xml; a .csv is text, UTF-8 (with or without BOM) or else GB18030 (what Excel on a
Chinese Windows writes). Before openpyxl opens the zip, the declared uncompressed sizes are
summed and checked (zipfile never inflates an entry past its declared size, so the declared
sum bounds what is read: a zip bomb is refused before it expands). openpyxl parses the XML with
defusedxml when it is installed (it is a dependency), so entity tricks are refused too.
Formulas are read as their cached values (data_only).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from portal.errors import PortalError

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 5 * MiB
DEFAULT_MAX_ROWS = 5000
DEFAULT_MAX_EXPANDED = 20 * MiB  # a 5,000-row sheet expands to ~2 MB; sharedStrings is read whole
MAX_COLUMNS = 60
MAX_ZIP_ENTRIES = 2000


class SheetRejected(PortalError):
    """The upload is not a spreadsheet we can read, or is over a limit (the whole file)."""

    status = 400
    code = "sheet_rejected"
    field = "file"


@dataclass(frozen=True)
class SheetLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SheetLimits:
        return cls(
            max_bytes=int(config.get("EXCHANGE_MAX_BYTES", DEFAULT_MAX_BYTES)),
            max_rows=int(config.get("EXCHANGE_MAX_ROWS", DEFAULT_MAX_ROWS)),
            max_expanded_bytes=int(config.get("EXCHANGE_MAX_EXPANDED_BYTES", DEFAULT_MAX_EXPANDED)),
        )


@dataclass
class Table:
    """headers: the first non-empty row; rows: (row number as Excel shows it, cells)."""

    format: str  # "xlsx" | "csv"
    headers: list[str]
    header_row: int
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


def sniff_format(data: bytes) -> str:
    """'xlsx' or 'csv' judged by the bytes; SheetRejected for anything else."""
    if not data:
        raise SheetRejected(_("The file is empty; upload an .xlsx or .csv file with a header row."))
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetRejected(
            _("This is an old Excel (.xls) file; in Excel save it as an Excel Workbook (.xlsx)."),
            status=415,
        )
    head = data[:4096]
    if b"\x00" in head or any(head.startswith(m) for m in (b"%PDF", b"\x89PNG", b"\xff\xd8")):
        raise SheetRejected(
            _("This file is not a spreadsheet; upload an .xlsx or .csv file."), status=415
        )
    return "csv"


def read_table(data: bytes, limits: SheetLimits) -> Table:
    if len(data) > limits.max_bytes:
        raise SheetRejected(
            _(
                "The file is %(size)d KB; at most %(max)d KB.",
                size=len(data) // 1024,
                max=limits.max_bytes // 1024,
            ),
            code="upload_too_large",
            status=413,
        )
    kind = sniff_format(data)
    rows = _xlsx_rows(data, limits) if kind == "xlsx" else _csv_rows(data)
    return _table(kind, rows, limits)


def _table(kind: str, rows, limits: SheetLimits) -> Table:
    table: Table | None = None
    for number, values in rows:
        cells = [_clean(v) for v in values[:MAX_COLUMNS]]
        if all(v is None for v in cells):
            continue
        if table is None:
            headers = [str(v).strip() if v is not None else "" for v in cells]
            table = Table(kind, headers, number)
            continue
        if len(table.rows) >= limits.max_rows:
            raise SheetRejected(
                _(
                    "The sheet has more than %(max)d rows; split it into smaller files.",
                    max=limits.max_rows,
                ),
                code="too_many_rows",
            )
        table.rows.append((number, cells))
    if table is None:
        raise SheetRejected(_("The sheet is empty; the first row must hold the column names."))
    return table


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        return value or None
    return value


# --- xlsx ----------------------------------------------------------------------------------------


def _xlsx_rows(data: bytes, limits: SheetLimits):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise SheetRejected(
            _("The file looks like an .xlsx but cannot be opened; save it again in Excel.")
        ) from None
    with archive:
        infos = archive.infolist()
        expanded = sum(info.file_size for info in infos)
        if len(infos) > MAX_ZIP_ENTRIES or expanded > limits.max_expanded_bytes:
            raise SheetRejected(
                _(
                    "The workbook would expand to %(size)d MB, which looks like a zip bomb; "
                    "at most %(max)d MB.",
                    size=expanded // MiB,
                    max=limits.max_expanded_bytes // MiB,
                ),
                code="zip_bomb",
            )
        if "xl/workbook.xml" not in {info.filename for info in infos}:
            raise SheetRejected(
                _("This zip is not an Excel workbook; upload an .xlsx or .csv file."),
                status=415,
            )
    return _openpyxl_rows(data)


def _openpyxl_rows(data: bytes):
    """The first sheet's rows, one at a time (the row limit stops reading early)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds; all mean "cannot read it"
        raise _unreadable(exc) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # a forged <dimension> must not pad every row to 16384 cells
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values[:MAX_COLUMNS])
    except Exception as exc:
        raise _unreadable(exc) from None
    finally:
        book.close()


def _unreadable(exc: Exception) -> SheetRejected:
    return SheetRejected(
        _(
            "The workbook cannot be read (%(error)s); save it again in Excel as .xlsx.",
            error=type(exc).__name__,
        )
    )


# --- csv -----------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), else GB18030 (a superset of GBK, which Chinese Excel writes)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetRejected(
        _("The CSV is neither UTF-8 nor GBK/GB18030 text; save it as “CSV UTF-8” in Excel.")
    )


def _csv_rows(data: bytes):
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = []
    try:
        for number, values in enumerate(reader, start=1):  # the row number Excel would show
            rows.append((number, values))
    except csv.Error:
        raise SheetRejected(
            _("The CSV cannot be read near line %(line)d.", line=reader.line_num)
        ) from None
    return rows
