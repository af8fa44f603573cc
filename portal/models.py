"""Every model, imported in one place so Alembic and the app see the whole schema."""

from portal.accounts.models import ApiToken, Role, User
from portal.customers.models import Customer
from portal.library.models import (
    AccessAxis,
    Template,
    TemplateAccess,
    TemplateFormat,
    TemplateKind,
    TemplateVersion,
    VersionPolicy,
)

__all__ = [
    "AccessAxis",
    "ApiToken",
    "Customer",
    "Role",
    "Template",
    "TemplateAccess",
    "TemplateFormat",
    "TemplateKind",
    "TemplateVersion",
    "User",
    "VersionPolicy",
]
