"""Every model, imported in one place so Alembic and the app see the whole schema."""

from portal.accounts.models import ApiToken, Role, User
from portal.customers.models import Customer
from portal.delivery.models import Comment, CommentAuthor, Delivery, RenderStatus
from portal.engagement.models import ScoreEntry, ScoringRule, ScoringRuleRevision
from portal.library.models import (
    AccessAxis,
    Template,
    TemplateAccess,
    TemplateFormat,
    TemplateKind,
    TemplateVersion,
    VersionPolicy,
)
from portal.notifications.models import Notification
from portal.tracking.models import Event, EventType, Link, LinkPurpose, ViewSession

__all__ = [
    "AccessAxis",
    "ApiToken",
    "Comment",
    "CommentAuthor",
    "Customer",
    "Delivery",
    "Event",
    "EventType",
    "Link",
    "LinkPurpose",
    "Notification",
    "RenderStatus",
    "Role",
    "ScoreEntry",
    "ScoringRule",
    "ScoringRuleRevision",
    "Template",
    "TemplateAccess",
    "TemplateFormat",
    "TemplateKind",
    "TemplateVersion",
    "User",
    "VersionPolicy",
    "ViewSession",
]
