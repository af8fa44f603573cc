"""Who may hold customers, and whom a user may make a customer's owner (the rule itself is
enforced by portal.customers.services.create_customer; pages and imports offer these)."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.extensions import db


def assignable_owners(user: User) -> list[User]:
    """The reps user may make a customer's owner: a rep themself, a supervisor their reps,
    an admin every active rep (portal.customers.services.create_customer has the rule)."""
    if user.role == Role.REP:
        return [user]
    query = select(User).where(User.role == Role.REP.value, User.active.is_(True))
    if user.role == Role.SUPERVISOR:
        query = query.where(User.supervisor_id == user.id)
    elif user.role != Role.ADMIN:
        return []
    return list(db.session.scalars(query.order_by(User.name, User.id)))


def may_have_customers(user: User) -> bool:
    """Reps, supervisors and admins keep customers; marketing keeps the library, finance and
    legal see the deals routed to them: none of the three has or creates customers."""
    return user.role in (Role.REP, Role.SUPERVISOR, Role.ADMIN)
