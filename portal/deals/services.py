"""A deal's life: creation with meeting notes, advancing through the gated stages, sending
back, won and lost, and conversation notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.audit import service as audit
from portal.customers.services import get_customer
from portal.db_types import utcnow
from portal.deals import approvals
from portal.deals.errors import DealRefused
from portal.deals.evidence import EvidenceInput, add_evidence, check, has_evidence
from portal.deals.guard import writing
from portal.deals.models import (
    ChangeKind,
    Deal,
    DealApproval,
    DealEvidence,
    DealNote,
    DealStageChange,
    NoteSource,
)
from portal.deals.scope import can_send_back, require_work, visible_to
from portal.deals.stages import (
    CLOSED_STAGES,
    OPEN_STAGES,
    SPECS,
    Stage,
    evidence_in_english,
    is_open,
    next_stage,
    previous_stage,
)
from portal.engagement.facts import timezone as local_zone
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db

MAX_AMOUNT_MINOR = 10**15
MAX_TEXT = 20_000


@dataclass
class DealFields:
    customer_id: int
    title: str
    amount: str  # major units, e.g. "680000" or "680000.50"
    expected_close: date
    currency: str = "CNY"
    next_meeting_at: datetime | None = None


def parse_amount(value: object) -> int:
    """Major units (string or number) -> integer minor units."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DealRefused(
            "amount_not_a_number", "amount must be a number such as 680000 or 680000.50"
        ) from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise DealRefused(
            "amount_not_positive", "amount must be positive with at most two decimals"
        )
    minor = int(amount * 100)
    if minor > MAX_AMOUNT_MINOR:
        raise DealRefused("amount_too_large", "amount is too large")
    return minor


def _record(deal: Deal, user: User | None, kind: ChangeKind, to: str, reason: str = "") -> None:
    db.session.add(
        DealStageChange(
            deal_id=deal.id,
            from_stage=None if kind == ChangeKind.CREATE else deal.stage,
            to_stage=to,
            kind=kind.value,
            by_id=user.id if user else None,
            reason=reason,
        )
    )
    deal.stage = to
    deal.stage_entered_at = utcnow()


def _require_open(deal: Deal) -> None:
    if not is_open(deal.stage):
        raise DealRefused("deal_closed", "this deal is closed (won or lost)")


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DealRefused("reason_required", "a reason is required")
    if len(reason) > MAX_TEXT:
        raise ValidationFailed(
            f"reason is longer than {MAX_TEXT} characters",
            code="reason_too_long",
            field="reason",
            limit=MAX_TEXT,
        )
    return reason


def _title(raw: str) -> str:
    title = raw.strip()
    if not title or len(title) > 200:
        raise DealRefused("title_required", "title is required (at most 200 characters)")
    return title


def _currency(raw: str | None) -> str:
    currency = (raw or "CNY").strip().upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise DealRefused("currency_code", "currency must be a three-letter code such as CNY")
    return currency


def create_deal(user: User, fields: DealFields, meeting_notes: EvidenceInput) -> Deal:
    """A deal starts in initial contact and needs meeting notes to exist at all."""
    customer = get_customer(user, fields.customer_id)  # NotFound outside the user's scope
    title = _title(fields.title)
    currency = _currency(fields.currency)
    meeting_notes.stage = Stage.INITIAL_CONTACT.value
    if not (meeting_notes.note or "").strip() and not meeting_notes.data:
        raise DealRefused(
            "meeting_notes_required",
            "a deal starts in initial_contact, which needs meeting notes: "
            "give meeting_notes (text) or a file",
        )
    check(meeting_notes)
    deal = Deal(
        customer_id=customer.id,
        owner_id=customer.owner_id,
        title=title,
        amount_minor=parse_amount(fields.amount),
        currency=currency,
        expected_close=fields.expected_close,
        stage=Stage.INITIAL_CONTACT.value,
        next_meeting_at=fields.next_meeting_at,
    )
    db.session.add(deal)
    db.session.flush()
    with writing(deal):
        _record(deal, user, ChangeKind.CREATE, Stage.INITIAL_CONTACT.value)
    add_evidence(deal, user, meeting_notes)
    return deal


@dataclass
class DealEdit:
    """What a rep may correct on an open deal; None leaves a field as it is."""

    title: str | None = None
    amount: str | None = None  # major units, as DealFields.amount
    currency: str | None = None
    expected_close: date | None = None


def update_deal(user: User, deal: Deal, edit: DealEdit) -> dict[str, list]:
    """Correct an open deal's title, amount, currency or expected close: {field: [old, new]}
    of what changed (empty: nothing did, nothing is written).

    The change is in the audit log (the forecast moves with it). A new amount or currency puts
    finance's and legal's decisions back to pending (approvals.terms_changed): they approved
    other terms."""
    require_work(user, deal)
    _require_open(deal)
    wanted: dict[str, object] = {}
    if edit.title is not None:
        wanted["title"] = _title(edit.title)
    if edit.amount is not None:
        wanted["amount_minor"] = parse_amount(edit.amount)
    if edit.currency is not None:
        wanted["currency"] = _currency(edit.currency)
    if edit.expected_close is not None:
        wanted["expected_close"] = edit.expected_close
    changes = {
        name: [getattr(deal, name), value]
        for name, value in wanted.items()
        if getattr(deal, name) != value
    }
    if not changes:
        return {}
    with writing(deal):
        for name, (_old, value) in changes.items():
            setattr(deal, name, value)
    if {"amount_minor", "currency"} & changes.keys():
        approvals.terms_changed(deal)
    audit.record(
        "deal.changed",
        deal,
        by=user,
        details={
            "amount" if name == "amount_minor" else name: [_shown(name, old), _shown(name, new)]
            for name, (old, new) in changes.items()
        },
        summary=deal.title,
    )
    return changes


def _shown(name: str, value: object) -> object:
    """A changed value as the audit log shows it: amounts in major units, dates as ISO."""
    if name == "amount_minor" and isinstance(value, int):
        return f"{value / 100:,.2f}"
    return value.isoformat() if isinstance(value, date) else value


def advance(user: User, deal: Deal, to_stage: str | None = None) -> Deal:
    """Move one stage forward; refused when skipping or when the next stage's evidence is
    missing."""
    require_work(user, deal)
    _require_open(deal)
    target = next_stage(deal.stage)
    if to_stage and to_stage != target:
        later = to_stage in CLOSED_STAGES or (
            to_stage in OPEN_STAGES and OPEN_STAGES.index(to_stage) > OPEN_STAGES.index(deal.stage)
        )
        if not later:
            raise ValidationFailed(
                f"cannot advance to {to_stage!r}: not a later stage",
                code="not_a_later_stage",
                field="to_stage",
            )
        raise DealRefused(
            "stage_skipped",
            f"stages cannot be skipped: from {deal.stage} the next stage is "
            f"{target or 'won or lost'}, not {to_stage}",
            stage=deal.stage,
            next=target or "",
            wanted=to_stage,
        )
    if target is None:
        raise DealRefused(
            "last_open_stage", "negotiation is the last open stage: mark the deal won or lost"
        )
    spec = SPECS[target]
    if not has_evidence(deal, target):
        raise DealRefused(
            "evidence_missing",
            f"cannot enter {target}: missing evidence — {evidence_in_english(target)} "
            f"({spec.evidence}). Add it to the deal first.",
            stage=target,
        )
    with writing(deal):
        _record(deal, user, ChangeKind.ADVANCE, target)
    if target == Stage.NEGOTIATION:
        approvals.open_approvals(deal)
    db.session.flush()
    return deal


def send_back(user: User, deal: Deal, reason: str) -> Deal:
    """A supervisor of the owner's team moves the deal back one stage, with a reason; the
    forecast follows at once (it is computed from the stage)."""
    if not can_send_back(user, deal):
        raise PermissionDenied("only the owner's supervisor may send a deal back")
    reason = _reason(reason)
    _require_open(deal)
    target = previous_stage(deal.stage)
    if target is None:
        raise DealRefused("first_stage", "a deal in initial_contact cannot go back further")
    with writing(deal):
        _record(deal, user, ChangeKind.SEND_BACK, target, reason)
    return deal


def mark_won(user: User, deal: Deal) -> Deal:
    require_work(user, deal)
    _require_open(deal)
    if deal.stage != Stage.NEGOTIATION:
        raise DealRefused(
            "won_needs_negotiation",
            "only a deal in negotiation can be won (stages cannot be skipped)",
        )
    approvals.check_can_win(deal)
    with writing(deal):
        _record(deal, user, ChangeKind.WON, Stage.WON.value)
        _close(deal, utcnow())
    return deal


def _close(deal: Deal, at: datetime) -> None:
    deal.closed_at = at
    if deal.stage == Stage.WON:
        # The real close date replaces the expected one: actuals group by close month.
        deal.expected_close = at.astimezone(local_zone()).date()


def mark_lost(user: User, deal: Deal, reason: str) -> Deal:
    require_work(user, deal)
    reason = _reason(reason)
    _require_open(deal)
    with writing(deal):
        _record(deal, user, ChangeKind.LOST, Stage.LOST.value, reason)
        _close(deal, utcnow())
        deal.lost_reason = reason
    return deal


def add_note(user: User, deal: Deal, text: str, source: str = "note") -> DealNote:
    require_work(user, deal)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("text is required", code="text_required", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"text is longer than {MAX_TEXT} characters",
            code="text_too_long",
            field="text",
            limit=MAX_TEXT,
        )
    if source not in (NoteSource.NOTE, NoteSource.CHAT):
        raise ValidationFailed("source must be 'note' or 'chat'", code="bad_source", field="source")
    note = DealNote(deal_id=deal.id, author_id=user.id, text=text, source=source)
    db.session.add(note)
    db.session.flush()
    return note


def set_next_meeting(user: User, deal: Deal, when: datetime | None) -> Deal:
    require_work(user, deal)
    with writing(deal):
        deal.next_meeting_at = when
    return deal


def backdate(deal: Deal, last_change_at: datetime, days_per_stage: float) -> None:
    """Demo history: the deal's last stage change happened at `last_change_at` and each
    earlier one `days_per_stage` days before the next; the deal was created with the first, has
    been in its stage since the last, and a closed deal closed then (a won deal's close date
    follows, as mark_won sets it). Only the clock moves: terms, stage and approvals stay."""
    changes = history_of(deal)
    count = len(changes)
    for n, change in enumerate(changes):
        change.at = last_change_at - timedelta(days=(count - 1 - n) * days_per_stage)
    with writing(deal):
        if changes:
            deal.created_at = changes[0].at
            deal.stage_entered_at = changes[-1].at
        if not is_open(deal.stage):
            _close(deal, last_change_at)


def list_deals(user: User, stage: str | None = None, limit: int = 500) -> list[Deal]:
    query = (
        select(Deal)
        .where(visible_to(user))
        .options(selectinload(Deal.owner), selectinload(Deal.customer))
    )
    if stage:
        if stage not in SPECS:
            raise ValidationFailed(
                f"stage must be one of {', '.join(SPECS)}", code="bad_stage", field="stage"
            )
        query = query.where(Deal.stage == stage)
    return list(db.session.scalars(query.order_by(Deal.expected_close, Deal.id).limit(limit)))


def notes_of(deal: Deal) -> list[DealNote]:
    return list(
        db.session.scalars(
            select(DealNote).where(DealNote.deal_id == deal.id).order_by(DealNote.at.desc())
        )
    )


def history_of(deal: Deal) -> list[DealStageChange]:
    return list(
        db.session.scalars(
            select(DealStageChange)
            .where(DealStageChange.deal_id == deal.id)
            .order_by(DealStageChange.at, DealStageChange.id)
        )
    )


def erase_for_customer(deal_ids: list[int]) -> None:
    """Delete an erased person's deals and everything recorded on them (portal.privacy.erasure,
    which has checked that an admin asked): the one bulk write to deals, kept here with the
    other changes to deals. No audit entry per deal: the erasure's own entry says who and when,
    and nothing of the person may remain."""
    if not deal_ids:
        return
    for model in (DealApproval, DealEvidence, DealNote, DealStageChange):
        db.session.execute(
            delete(model)
            .where(model.deal_id.in_(deal_ids))
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        delete(Deal).where(Deal.id.in_(deal_ids)).execution_options(synchronize_session=False)
    )
