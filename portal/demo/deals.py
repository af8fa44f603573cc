"""Demo deals: a pipeline across stages, teams and regions, won deals in past months (so
stalls and forecast-vs-actual have history), and the seed's false-optimism case: a deal in
商务谈判 for three months whose last customer message is "再考虑一下", no meeting scheduled."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.db_types import utcnow
from portal.deals import services
from portal.deals.evidence import EvidenceInput, add_evidence
from portal.deals.forecast import take_snapshot
from portal.deals.models import Deal, DealEvidence, DealNote, ForecastSnapshot
from portal.deals.stages import OPEN_STAGES
from portal.engagement.facts import timezone as local_zone
from portal.extensions import db

EVIDENCE = {
    "initial_contact": "首次拜访会议纪要：客户关注产线追溯与质量数据",
    "needs_confirmed": "客户书面需求清单（邮件确认）：追溯、看板、与 ERP 对接",
    "demo": "定制演示记录：按客户产线数据演示追溯与看板",
    "negotiation": "报价单 v2 与价格谈判记录",
}

# (customer, title, amount in yuan, stage, days in stage, close in months from now, notes)
OPEN_DEALS = [
    ("张伟", "MES 产线追溯项目", "680000", "negotiation", 92, 0, ["客户：价格这块我们再考虑一下"]),
    ("王芳", "零部件质量看板", "260000", "demo", 12, 1, ["演示反馈很好，下周二约了技术评审"]),
    (
        "刘洋",
        "新材料车间 MES 一期",
        "420000",
        "needs_confirmed",
        20,
        2,
        ["客户说预算可能要到下季度"],
    ),
    ("孙丽", "医疗器械追溯系统", "150000", "initial_contact", 5, 3, []),
    ("黄磊", "门店补货系统", "380000", "negotiation", 18, 0, ["报价已发，周五会议确认条款"]),
    ("Emily Chen", "Replenishment analytics", "220000", "demo", 30, 1, ["We'll see after Q3."]),
]
# (customer, title, amount, months ago won, days spent per stage)
WON_DEALS = [
    ("张伟", "MES 试点产线", "120000", 3, 14),
    ("王芳", "质量追溯一期", "90000", 2, 10),
    ("孙丽", "设备点检小程序", "60000", 1, 12),
    ("黄磊", "门店数字化试点", "150000", 2, 16),
]


def _months_ago(n: int) -> date:
    today = utcnow().date()
    year, month = divmod(today.year * 12 + today.month - 1 - n, 12)
    return date(year, month + 1, 15)


def _deal(customer_name: str, title: str, amount: str, close: date) -> tuple[Deal, User]:
    customer = db.session.scalar(select(Customer).where(Customer.name == customer_name))
    if customer is None:
        raise LookupError(f"demo customer {customer_name} is missing")
    owner = customer.owner
    deal = services.create_deal(
        owner,
        services.DealFields(
            customer_id=customer.id, title=title, amount=amount, expected_close=close
        ),
        EvidenceInput(stage="initial_contact", note=EVIDENCE["initial_contact"]),
    )
    return deal, owner


def _walk(deal: Deal, owner: User, stage: str) -> None:
    while deal.stage != stage:
        target = OPEN_STAGES[OPEN_STAGES.index(deal.stage) + 1]
        add_evidence(deal, owner, EvidenceInput(stage=target, note=EVIDENCE[target]))
        services.advance(owner, deal)


def _backdate(deal: Deal, last_change_at: datetime, days_per_stage: float) -> None:
    """Spread the deal's history back in time (portal.deals.services.backdate: the deal itself
    changes only through the deals services); its evidence and notes follow."""
    services.backdate(deal, last_change_at, days_per_stage)
    entered = {change.to_stage: change.at for change in services.history_of(deal)}
    for row in db.session.scalars(select(DealEvidence).where(DealEvidence.deal_id == deal.id)):
        row.at = entered.get(row.stage, row.at)
    for note in db.session.scalars(select(DealNote).where(DealNote.deal_id == deal.id)):
        note.at = utcnow() - timedelta(days=2)


def _won_on(day: date) -> datetime:
    """Noon, local time, on `day`: its close date is `day` in every time zone's view here."""
    return datetime.combine(day, time(12), local_zone())


def load() -> int:
    for name, title, amount, months, per_stage in WON_DEALS:
        deal, owner = _deal(name, title, amount, _months_ago(months))
        _walk(deal, owner, "negotiation")
        services.mark_won(owner, deal)
        _backdate(deal, _won_on(_months_ago(months)), per_stage)
    for name, title, amount, stage, days, close_in, notes in OPEN_DEALS:
        deal, owner = _deal(name, title, amount, _months_ago(-close_in))
        _walk(deal, owner, stage)
        for text in notes:
            services.add_note(owner, deal, text, "chat")
        _backdate(deal, utcnow() - timedelta(days=days), 7)
        if "会议" in "".join(notes) or "评审" in "".join(notes):
            services.set_next_meeting(owner, deal, utcnow() + timedelta(days=4))
    _past_forecasts()
    take_snapshot(utcnow().date())
    jobs.commit()
    return len(WON_DEALS) + len(OPEN_DEALS)


def _past_forecasts() -> None:
    """What the forecast said before each past month (demo history): the won deals' weighted
    amounts plus deals that slipped, so the heatmap shows over- and under-forecast months."""
    shares = {3: 1.4, 2: 0.9, 1: 1.1}  # forecast ÷ what was won, per month ago
    for name, _title, amount, months, _ in WON_DEALS:
        customer = db.session.scalar(select(Customer).where(Customer.name == name))
        assert customer is not None
        month = _months_ago(months)
        db.session.add(
            ForecastSnapshot(
                taken_on=date(month.year, month.month, 1) - timedelta(days=1),
                month=month.strftime("%Y-%m"),
                owner_id=customer.owner_id,
                team=customer.owner.team or "",
                region=customer.region or "",
                currency="CNY",
                weighted_minor=int(int(amount) * 100 * shares[months]),
                pipeline_minor=int(int(amount) * 100 * shares[months] / 0.8),
                deal_count=1,
            )
        )
    db.session.flush()
