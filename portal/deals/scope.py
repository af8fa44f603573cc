"""Who sees which deal, as SQL: every deal query goes through `visible_to`."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from portal.accounts.models import Role, User
from portal.deals.models import Deal, DealApproval
from portal.errors import NotFound, PermissionDenied
from portal.extensions import db


def visible_to(user: User) -> ColumnElement[bool]:
    """Reps see their deals, supervisors their reps' too, admin all; finance and legal the
    deals with an approval for their role; marketing none."""
    if user.role == Role.ADMIN:
        return Deal.id.is_not(None)
    if user.role == Role.SUPERVISOR:
        team = select(User.id).where(User.supervisor_id == user.id)
        return Deal.owner_id.in_(team) | (Deal.owner_id == user.id)
    if user.role == Role.REP:
        return Deal.owner_id == user.id
    if user.role in (Role.FINANCE, Role.LEGAL):
        routed = select(DealApproval.deal_id).where(DealApproval.role == user.role)
        return Deal.id.in_(routed)
    return Deal.id.is_(None)


def get_deal(user: User, deal_id: int) -> Deal:
    deal = db.session.scalar(select(Deal).where(Deal.id == deal_id, visible_to(user)))
    if deal is None:
        raise NotFound("deal not found")
    return deal


def can_work(user: User, deal: Deal) -> bool:
    """Owner, the owner's supervisor, or admin may move the deal and add to it."""
    return (
        user.role == Role.ADMIN
        or deal.owner_id == user.id
        or (user.role == Role.SUPERVISOR and deal.owner.supervisor_id == user.id)
    )


def can_send_back(user: User, deal: Deal) -> bool:
    return user.role == Role.ADMIN or (
        user.role == Role.SUPERVISOR and deal.owner.supervisor_id == user.id
    )


def require_work(user: User, deal: Deal) -> None:
    if not can_work(user, deal):
        raise PermissionDenied("only the deal's owner or their supervisor may change this deal")
