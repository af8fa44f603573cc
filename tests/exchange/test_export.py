"""The export: only what the user may see, formula text neutralised, and it imports back as
"unchanged"."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from portal.exchange.exporting import export_workbook
from portal.exchange.importing import run_import
from portal.exchange.reading import SheetLimits
from portal.extensions import db
from portal.statement_count import counted_statements
from tests.delivery.helpers import make_customer
from tests.exchange.sheets import sheets_of, xlsx


def test_each_user_exports_exactly_what_they_may_see(app, in_request, world, make_user):
    boss_b = make_user("supervisor", email="boss-b@example.com")
    rep_b = make_user("rep", email="rep-b@example.com", supervisor=boss_b.email)
    make_customer(rep_b, name="外队客户", email="b@example.com")
    make_customer(world.rep, name="第二客户", email="second@example.com")

    def names(user) -> list[str]:
        rows = sheets_of(export_workbook(user))["客户"][1:]
        return sorted(row[0] for row in rows)

    for owner, email, title in (
        (world.rep, world.customer.email, "甲方商机"),
        (rep_b, "b@example.com", "乙方商机"),
    ):
        deal_sheet = [
            ["客户邮箱", "商机名称", "金额", "预计成交", "会议纪要"],
            [email, title, "1000", "2026-05-01", "纪要"],
        ]
        run_import(owner, "deals", xlsx(deal_sheet), apply=True, limits=SheetLimits())
    db.session.commit()

    def deals(user) -> list[str]:
        return [row[1] for row in sheets_of(export_workbook(user))["商机"][1:]]

    assert deals(world.rep) == deals(world.supervisor) == ["甲方商机"]
    assert deals(rep_b) == deals(boss_b) == ["乙方商机"]
    assert deals(world.marketing) == []
    assert names(world.rep) == sorted([world.customer.name, "第二客户"])
    assert names(world.supervisor) == sorted([world.customer.name, "第二客户"])
    assert names(rep_b) == ["外队客户"]
    assert names(world.marketing) == []
    engagement = sheets_of(export_workbook(world.rep))["互动"]
    assert engagement[0][:5] == ["姓名", "公司", "邮箱", "分数", "等级"]
    assert len(engagement) == 3


def test_formula_text_is_written_as_text_and_round_trips(app, in_request, world):
    make_customer(
        world.rep,
        name='=HYPERLINK("http://evil","x")',
        company="+cmd|' /C calc'!A0",
        email="evil@example.com",
        phone="-1+1",
        region="@SUM(A1)",
    )
    data = export_workbook(world.rep)
    sheet = load_workbook(io.BytesIO(data))["客户"]
    cells = {cell.value: cell.data_type for row in sheet.iter_rows(min_row=2) for cell in row}
    for text in ('=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1)"):
        assert cells["'" + text] == "s"
    assert not any(t == "f" for t in cells.values())

    report = run_import(world.rep, "customers", data, apply=True, limits=SheetLimits())
    db.session.commit()
    assert report.summary["unchanged"] == 2 and report.summary["rows"] == 2, report.to_json()


def test_the_exported_deals_sheet_imports_back_unchanged(app, in_request, world):
    rows = [
        ["客户邮箱", "商机名称", "金额", "预计成交", "会议纪要"],
        [world.customer.email, "产线改造", "88,000", "2026-05-01", "拜访纪要"],
    ]
    run_import(world.rep, "deals", xlsx(rows), apply=True, limits=SheetLimits())
    db.session.commit()
    exported = sheets_of(export_workbook(world.rep))["商机"]
    assert exported[1][:2] == [world.customer.email, "产线改造"]
    report = run_import(world.rep, "deals", xlsx(exported), apply=False, limits=SheetLimits())
    assert report.summary == {"rows": 1, "create": 0, "update": 0, "unchanged": 1, "error": 0}
    assert "阶段" in report.ignored_columns


def test_the_export_runs_a_flat_number_of_queries(app, in_request, world):
    def statements() -> int:
        with counted_statements() as seen:
            export_workbook(world.rep)
        return len(seen)

    few = statements()
    for number in range(20):
        make_customer(world.rep, name=f"客户{number}", email=f"c{number}@example.com")
    assert statements() == few


def test_headers_follow_the_readers_language_and_english_sheets_import_too(app, world):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        data = export_workbook(world.rep)
        sheets = sheets_of(data)
        assert list(sheets) == ["Customers", "Deals", "Tasks", "Engagement"]
        assert sheets["Customers"][0][:4] == ["Name", "Company", "Job title", "E-mail"]
        report = run_import(world.rep, "customers", data, apply=False, limits=SheetLimits())
        assert report.summary["unchanged"] == 1 and report.summary["error"] == 0
        bad = run_import(
            world.rep,
            "customers",
            xlsx([["Name", "E-mail"], ["X", "nope"]]),
            apply=False,
            limits=SheetLimits(),
        )
        assert bad.errors[0].column == "E-mail" and "valid e-mail" in bad.errors[0].message
