"""Who may see, send and manage templates.

Marketing and admins keep the library and see all of it. Reps and supervisors see (and may send)
a template when, on each axis (role, team, region), it has no rule or a rule naming them.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select

from portal.accounts.models import Role, User
from portal.library.models import AccessAxis, Template, TemplateAccess

LIBRARY_KEEPERS = frozenset({Role.MARKETING, Role.ADMIN})


def can_manage_library(user: User) -> bool:
    return user.role in LIBRARY_KEEPERS


def _axis_allows(axis: AccessAxis, value: str | None) -> ColumnElement[bool]:
    rules = select(TemplateAccess.id).where(
        TemplateAccess.template_id == Template.id, TemplateAccess.axis == axis.value
    )
    if not value:
        return ~exists(rules)
    return or_(~exists(rules), exists(rules.where(TemplateAccess.value == value)))


def visible_to(user: User) -> ColumnElement[bool]:
    """A SQL condition on Template: the templates user may see."""
    if can_manage_library(user):
        return Template.id.is_not(None)
    return and_(
        Template.archived_at.is_(None),
        _axis_allows(AccessAxis.ROLE, user.role),
        _axis_allows(AccessAxis.TEAM, user.team),
        _axis_allows(AccessAxis.REGION, user.region),
    )


def scoped_templates(user: User) -> Select[tuple[Template]]:
    return select(Template).where(visible_to(user))


def can_send(user: User, template: Template) -> bool:
    """Same rule as visible_to, on a loaded template (no query)."""
    if template.archived_at is not None:
        return False
    if can_manage_library(user):
        return True
    for axis, value in (
        (AccessAxis.ROLE, user.role),
        (AccessAxis.TEAM, user.team),
        (AccessAxis.REGION, user.region),
    ):
        allowed = template.allowed(axis)
        if allowed and value not in allowed:
            return False
    return True
