"""The upload is untrusted: judged by content, zip bombs and XML entity tricks refused, limits
with a clear message, dates and amounts in the forms people type."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from portal.exchange import cells
from portal.exchange.reading import SheetLimits, SheetRejected, read_table
from tests.exchange.sheets import CUSTOMER_HEADER, csv_bytes, xlsx

MiB = 1024 * 1024


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_expands(in_request):
    bomb = _zip({"xl/workbook.xml": b"<x/>", "xl/worksheets/sheet1.xml": b"\0" * (8 * MiB)})
    assert len(bomb) < 64 * 1024
    with pytest.raises(SheetRejected) as refused:
        read_table(bomb, SheetLimits(max_expanded_bytes=4 * MiB))
    assert refused.value.code == "zip_bomb"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"%PDF-1.7\n...", 415),
        (b"\x89PNG\r\n\x1a\n\0\0", 415),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old xls", 415),
        (b"MZ\x90\x00\x03\x00\x00\x00", 415),
        (b"", 400),
    ],
)
def test_what_is_not_xlsx_or_csv_is_refused_by_content(in_request, data, status):
    with pytest.raises(SheetRejected) as refused:
        read_table(data, SheetLimits())
    assert refused.value.status == status


def test_a_zip_that_is_not_a_workbook_and_a_broken_workbook_are_refused(in_request):
    with pytest.raises(SheetRejected) as refused:
        read_table(_zip({"index.html": b"<p>x</p>"}), SheetLimits())
    assert refused.value.status == 415
    with pytest.raises(SheetRejected):
        read_table(xlsx([["姓名"], ["王伟"]])[:600], SheetLimits())


def test_xml_entity_expansion_is_refused(in_request):
    good = zipfile.ZipFile(io.BytesIO(xlsx([["姓名"], ["王伟"]])))
    entries = {info.filename: good.read(info.filename) for info in good.infolist()}
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    sheet = entries["xl/worksheets/sheet1.xml"]
    entries["xl/worksheets/sheet1.xml"] = laughs + sheet[sheet.index(b"<worksheet") :].replace(
        b"</sheetData>", b"</sheetData>"
    )
    entries["xl/workbook.xml"] = (
        laughs + entries["xl/workbook.xml"][entries["xl/workbook.xml"].index(b"<workbook") :]
    )
    with pytest.raises(SheetRejected):
        read_table(_zip(entries), SheetLimits())


def test_size_and_row_limits_say_so(in_request):
    rows = [CUSTOMER_HEADER] + [[f"客户{i}"] for i in range(11)]
    with pytest.raises(SheetRejected) as refused:
        read_table(csv_bytes(rows), SheetLimits(max_rows=10))
    assert refused.value.code == "too_many_rows" and "10" in refused.value.message
    with pytest.raises(SheetRejected) as big:
        read_table(csv_bytes(rows), SheetLimits(max_bytes=20))
    assert big.value.status == 413


def test_formulas_are_read_as_their_values(in_request):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["姓名", "电话"])
    book.active.append(["王伟", "=1+1"])
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(buffer.getvalue(), SheetLimits())
    # openpyxl writes no cached value; data_only reads the value (None), never the formula text
    assert table.rows == [(2, ["王伟", None])]


def test_dates_and_amounts_in_the_forms_people_type(in_request):
    for value in (
        46082,
        "46082",
        "2026-03-01",
        "2026/3/1",
        "2026.03.01",
        "2026年3月1日",
        "2026-03-01 00:00:00",
    ):
        assert cells.day(value) == date(2026, 3, 1), value
    for value, expected in (
        ("¥1,200,000", "1200000.00"),
        ("1,200,000.5", "1200000.50"),
        ("￥ 88 000", "88000.00"),
        ("12万", "120000.00"),
        (1234.5, "1234.50"),
        ("RMB 1,000元", "1000.00"),
    ):
        assert cells.amount(value) == Decimal(expected), value
    for bad in ("abc", "-5", "2026-13-01"):
        with pytest.raises(cells.CellError):
            cells.amount(bad) if bad != "2026-13-01" else cells.day(bad)
    assert cells.text(13800138000.0, 40) == "13800138000"
    assert cells.text("'=SUM(A1)", 40) == "=SUM(A1)"


def test_the_limits_come_from_the_environment(monkeypatch):
    from portal.config import load_config

    monkeypatch.setenv("PORTAL_EXCHANGE_MAX_BYTES", "1000")
    monkeypatch.setenv("PORTAL_EXCHANGE_MAX_ROWS", "7")
    monkeypatch.setenv("PORTAL_EXCHANGE_MAX_EXPANDED_BYTES", "3000")
    assert SheetLimits.from_config(load_config()) == SheetLimits(1000, 7, 3000)
    monkeypatch.delenv("PORTAL_EXCHANGE_MAX_ROWS")
    assert SheetLimits.from_config(load_config()).max_rows == SheetLimits().max_rows
