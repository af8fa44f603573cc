"""Finance and legal sign-off for deals above PORTAL_APPROVAL_THRESHOLD.

The approvals open when the deal enters negotiation (so finance and legal review the terms
while they are negotiated, not at the last minute) and, for safety, again when winning is
attempted; a deal above the threshold cannot be won until both have approved."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.deals.errors import DealRefused
from portal.deals.models import ApprovalRole, ApprovalStatus, Deal, DealApproval
from portal.deals.stages import Stage
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.notifications import services as notifications

ROLES = (ApprovalRole.FINANCE.value, ApprovalRole.LEGAL.value)

notifications.MESSAGES.setdefault(
    "deal.approval_requested",
    lambda p: gettext(
        "Approval needed (%(role)s): “%(deal)s” for %(customer)s, %(amount)s",
        role=p.get("role", ""),
        deal=p.get("deal", ""),
        customer=p.get("customer", ""),
        amount=p.get("amount", ""),
    ),
)


def deal_url(deal_id: int) -> str:
    """The deal's staff page (a path: notifications are also made outside a request)."""
    return f"/deals/{deal_id}"


def needs_approval(deal: Deal) -> bool:
    return deal.amount_minor > current_app.config["APPROVAL_THRESHOLD"] * 100


def open_approvals(deal: Deal) -> list[DealApproval]:
    """Create the missing finance/legal approvals for a large deal and notify those roles."""
    if not needs_approval(deal):
        return []
    existing = {a.role for a in approvals_of(deal)}
    created = []
    for role in ROLES:
        if role in existing:
            continue
        approval = DealApproval(deal_id=deal.id, role=role)
        db.session.add(approval)
        created.append(approval)
        _ask(deal, role)
    db.session.flush()
    return created


def terms_changed(deal: Deal) -> list[DealApproval]:
    """The deal's amount or currency changed: a decision taken on the old terms no longer
    holds. Each decided approval goes back to pending and its role is asked again; a deal in
    negotiation that now needs approval gets the approvals it lacks. The reopened ones."""
    reopened = []
    for approval in approvals_of(deal):
        if approval.status == ApprovalStatus.PENDING:
            continue
        approval.status = ApprovalStatus.PENDING.value
        approval.decided_by_id = None
        approval.decided_at = None
        approval.note = ""
        reopened.append(approval)
        _ask(deal, approval.role)
    if deal.stage == Stage.NEGOTIATION:
        open_approvals(deal)
    db.session.flush()
    return reopened


def _ask(deal: Deal, role: str) -> None:
    """Notify every active user of `role` that the deal waits for their decision."""
    approvers = db.session.scalars(select(User).where(User.role == role, User.active.is_(True)))
    for approver in approvers:
        notifications.notify(
            approver,
            "deal.approval_requested",
            {
                "role": role,
                "deal": deal.title,
                "customer": deal.customer.name,
                "amount": f"{deal.amount_minor / 100:,.2f} {deal.currency}",
            },
            url=deal_url(deal.id),
            customer_id=deal.customer_id,
        )


def approvals_of(deal: Deal) -> list[DealApproval]:
    return list(
        db.session.scalars(
            select(DealApproval).where(DealApproval.deal_id == deal.id).order_by(DealApproval.role)
        )
    )


def check_can_win(deal: Deal) -> None:
    if not needs_approval(deal):
        return
    open_approvals(deal)
    waiting = [a.role for a in approvals_of(deal) if a.status != ApprovalStatus.APPROVED]
    if waiting:
        raise DealRefused(
            "approval_pending",
            "this deal is above the approval threshold and cannot be won until finance and "
            f"legal approve; still waiting for: {', '.join(waiting)}",
            waiting=", ".join(waiting),  # role codes; pages name them (ROLE_LABELS)
        )


def may_decide(user: User, deal: Deal, role: str) -> bool:
    """Finance or legal, for their own role, on a deal that is not their own."""
    return role in ROLES and user.role == role and deal.owner_id != user.id


def decide(user: User, deal: Deal, role: str, status: str, note: str = "") -> DealApproval:
    """Finance or legal (their own role only) approves or rejects.

    Nobody decides an approval of a deal they own: an approval is a second person's check
    (an owner whose role was changed to finance or legal stays the owner of their deals)."""
    if role not in ROLES or user.role != role:
        raise NotFound("approval not found")
    if deal.owner_id == user.id:
        raise PermissionDenied(
            "you own this deal: someone else in your role decides its approval", code="own_deal"
        )
    if status not in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
        raise ValidationFailed(
            "decision must be 'approved' or 'rejected'", code="bad_decision", field="decision"
        )
    approval = db.session.scalar(
        select(DealApproval).where(DealApproval.deal_id == deal.id, DealApproval.role == role)
    )
    if approval is None:
        raise NotFound("approval not found")
    if len(note) > 5000:
        raise ValidationFailed(
            "note is longer than 5000 characters", code="note_too_long", field="note", limit=5000
        )
    approval.status = status
    approval.decided_by_id = user.id
    approval.decided_at = utcnow()
    approval.note = note.strip()
    db.session.flush()
    return approval


def pending_for(user: User) -> list[DealApproval]:
    """The approvals routed to the user's role, pending first, newest first."""
    return list(
        db.session.scalars(
            select(DealApproval)
            .where(DealApproval.role == user.role)
            .order_by(
                (DealApproval.status != ApprovalStatus.PENDING.value),
                DealApproval.created_at.desc(),
            )
            .limit(200)
        )
    )
