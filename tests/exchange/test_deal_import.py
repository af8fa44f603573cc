"""Importing deals: through create_deal (Initial contact, meeting notes required), idempotent."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.deals.models import Deal, DealEvidence
from portal.deals.stages import Stage
from portal.exchange.importing import run_import
from portal.exchange.reading import SheetLimits
from portal.extensions import db
from tests.exchange.sheets import csv_bytes, xlsx

HEADER = ["客户邮箱", "商机名称", "金额", "币种", "预计成交", "负责人邮箱", "会议纪要"]


def _import(user, data: bytes, apply: bool = True):
    report = run_import(user, "deals", data, apply=apply, limits=SheetLimits())
    db.session.commit()
    return report


def _deals() -> int:
    return db.session.scalar(select(func.count()).select_from(Deal))


def test_deals_are_created_at_the_first_stage_with_their_notes_and_reimport_is_a_no_op(
    app, in_request, world
):
    email = world.customer.email
    rows = [
        HEADER,
        [email, "产线改造一期", "¥1,200,000", "人民币", 46082, "", "首次拜访，确认预算"],
        [email, "备件年框", "350,000.50", "CNY", "2026/3/1", world.rep.email, "电话会议纪要"],
        [email, "没有纪要", "10000", "", "2026-04-01", "", ""],
        ["nobody@example.com", "不存在的客户", "1", "", "2026-04-01", "", "纪要"],
    ]
    report = _import(world.rep, xlsx(rows))
    assert report.summary["create"] == 2, report.to_json()
    assert [(e.row, e.column) for e in report.errors] == [(4, "会议纪要"), (5, "客户邮箱")]
    deal = db.session.scalar(select(Deal).where(Deal.title == "产线改造一期"))
    assert (deal.stage, deal.amount_minor, deal.currency) == (
        Stage.INITIAL_CONTACT.value,
        120_000_000,
        "CNY",
    )
    assert deal.expected_close == date(2026, 3, 1)  # Excel serial 46082
    assert deal.owner_id == world.rep.id
    notes = db.session.scalars(select(DealEvidence.note).where(DealEvidence.deal_id == deal.id))
    assert list(notes) == ["首次拜访，确认预算"]
    other = db.session.scalar(select(Deal).where(Deal.title == "备件年框"))
    assert other.amount_minor == 35_000_050

    again = _import(world.rep, csv_bytes(rows[:3]))
    assert again.summary == {"rows": 2, "create": 0, "update": 0, "unchanged": 2, "error": 0}
    assert _deals() == 2

    rows[1][2] = "1,300,000"
    changed = _import(world.rep, csv_bytes(rows[:3]))
    assert [p.action for p in changed.rows] == ["update", "unchanged"]
    assert changed.rows[0].changes == ["amount"]
    db.session.refresh(deal)
    assert deal.amount_minor == 130_000_000


def test_another_reps_customer_is_unknown_to_the_importer(app, in_request, world, make_user):
    stranger = make_user("rep")
    rows = [HEADER, [world.customer.email, "偷来的", "1000", "", "2026-04-01", "", "纪要"]]
    report = _import(stranger, xlsx(rows))
    assert [(e.row, e.column) for e in report.errors] == [(2, "客户邮箱")]
    assert _deals() == 0
