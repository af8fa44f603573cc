"""Importing customers: preview, row errors, the good rows kept, idempotent re-import."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.errors import PermissionDenied
from portal.exchange.importing import run_import
from portal.exchange.reading import SheetLimits
from portal.extensions import db
from tests.exchange.sheets import CUSTOMER_HEADER, csv_bytes, xlsx

LIMITS = SheetLimits()


def _rows(owner: str) -> list[list]:
    return [
        CUSTOMER_HEADER,
        ["王伟", "华东机械", "采购总监", "wang@huadong.cn", 13800138000, "制造业", "上海", owner],
        ["李娜", "西部能源", "CTO", "li@xibu.cn", "+86 139 0000 0000", "能源", "成都", owner],
        ["Zhang San", "Acme", "", "", "", "", "", owner],
    ]


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Customer))


def _import(user, data: bytes, apply: bool):
    report = run_import(user, "customers", data, apply=apply, limits=LIMITS)
    db.session.commit()
    return report


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(xlsx, id="xlsx"),
        pytest.param(lambda rows: csv_bytes(rows, "utf-8-sig"), id="csv-utf8"),
        pytest.param(lambda rows: csv_bytes(rows, "gb18030"), id="csv-gb18030"),
    ],
)
def test_importing_the_same_sheet_twice_creates_nothing_new(app, in_request, world, encode):
    data = encode(_rows(world.rep.email))
    before = _count()
    first = _import(world.rep, data, apply=True)
    assert first.summary["create"] == 3 and first.summary["error"] == 0, first.to_json()
    assert _count() == before + 3
    wang = db.session.scalar(select(Customer).where(Customer.email == "wang@huadong.cn"))
    assert (wang.name, wang.phone, wang.owner_id) == ("王伟", "13800138000", world.rep.id)

    second = _import(world.rep, data, apply=True)
    assert second.summary == {"rows": 3, "create": 0, "update": 0, "unchanged": 3, "error": 0}
    assert _count() == before + 3


def test_a_bad_row_is_reported_with_its_row_and_column_and_the_good_rows_are_kept(
    app, in_request, world
):
    rows = _rows(world.rep.email)
    rows.insert(2, ["赵六", "坏数据", "", "not-an-email", "", "", "", world.rep.email])
    rows.append(["", "无名公司", "", "", "", "", "", world.rep.email])
    report = _import(world.rep, xlsx(rows), apply=True)
    errors = [(e.row, e.column) for e in report.errors]
    assert errors == [(3, "邮箱"), (6, "姓名")], report.to_json()
    assert "not-an-email" in report.errors[0].message
    assert report.summary["create"] == 3
    assert db.session.scalar(select(Customer).where(Customer.name == "王伟")) is not None
    assert db.session.scalar(select(Customer).where(Customer.name == "赵六")) is None


def test_the_preview_changes_nothing_and_says_what_would_happen(app, in_request, world):
    before = _count()
    report = _import(world.rep, xlsx(_rows(world.rep.email)), apply=False)
    assert [plan.action for plan in report.rows] == ["create"] * 3
    assert _count() == before


def test_a_changed_row_updates_only_that_customer(app, in_request, world):
    _import(world.rep, xlsx(_rows(world.rep.email)), apply=True)
    rows = _rows(world.rep.email)
    rows[2][4] = "028-1234567"
    report = _import(world.rep, xlsx(rows), apply=True)
    assert [p.action for p in report.rows] == ["unchanged", "update", "unchanged"]
    assert report.rows[1].changes == ["phone"]
    li = db.session.scalar(select(Customer).where(Customer.email == "li@xibu.cn"))
    assert li.phone == "028-1234567"


def test_a_rep_cannot_import_customers_for_another_rep(app, in_request, world, make_user):
    other = make_user("rep", email="other@example.com")
    report = _import(world.rep, xlsx(_rows(other.email)), apply=True)
    assert report.summary["error"] == 3
    assert {e.column for e in report.errors} == {"负责人邮箱"}
    assert db.session.scalar(select(Customer).where(Customer.owner_id == other.id)) is None


def test_a_supervisor_assigns_their_reps_and_must_name_one(app, in_request, world):
    rows = _rows(world.rep.email)
    rows[3][7] = ""
    report = _import(world.supervisor, xlsx(rows), apply=True)
    assert report.summary["create"] == 2
    assert [(e.row, e.column) for e in report.errors] == [(4, "负责人邮箱")]


def test_marketing_may_not_import(app, in_request, world):
    with pytest.raises(PermissionDenied):
        run_import(world.marketing, "customers", xlsx(_rows("")), apply=False, limits=LIMITS)


def test_english_headers_duplicates_in_the_file_and_a_missing_column(app, in_request, world):
    header = ["Name", "Company", "E-mail", "Owner e-mail"]
    rows = [
        header,
        ["Ann", "Co", "ann@co.com", world.rep.email],
        ["Ann B", "Co", "ANN@co.com", world.rep.email],
    ]
    report = _import(world.rep, csv_bytes(rows), apply=False)
    assert [p.action for p in report.rows] == ["create", "error"]
    assert report.errors[0].row == 3 and "第 2 行" in report.errors[0].message
    missing = _import(world.rep, csv_bytes([["Company"], ["Co"]]), apply=False)
    assert missing.rows == [] and missing.errors[0].row == 1


def test_an_applied_import_is_in_the_audit_log_and_a_preview_or_a_no_op_is_not(
    app, in_request, world
):
    from portal.audit.models import AuditEntry

    def entries() -> list[AuditEntry]:
        return list(
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "data.imported"))
        )

    data = xlsx(_rows(world.rep.email))
    _import(world.rep, data, apply=False)
    assert entries() == []  # a preview writes nothing

    _import(world.rep, data, apply=True)
    [entry] = entries()
    assert (entry.actor_id, entry.details["kind"], entry.details["create"]) == (
        world.rep.id,
        "customers",
        3,
    )
    assert entry.summary == "customers: 3 created, 0 updated"

    _import(world.rep, data, apply=True)  # the same sheet again: nothing changed
    assert len(entries()) == 1
