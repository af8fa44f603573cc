"""Every model, imported in one place so Alembic and the app see the whole schema."""

from portal.accounts.models import ApiToken, Role, User
from portal.audit.models import AuditEntry
from portal.branding.models import BrandSettings
from portal.channels.models import ChatChannel, OutboxMessage
from portal.companies.models import Account
from portal.customers.models import Customer
from portal.deals.models import (
    Deal,
    DealApproval,
    DealEvidence,
    DealNote,
    DealStageChange,
    ForecastSnapshot,
    StageProbability,
)
from portal.delivery.models import Comment, CommentAuthor, Delivery, RenderStatus
from portal.digests.models import DigestSend
from portal.engagement.models import (
    GradeACrossing,
    ScoreEntry,
    ScoringRule,
    ScoringRuleRevision,
)
from portal.library.models import (
    AccessAxis,
    Template,
    TemplateAccess,
    TemplateFormat,
    TemplateKind,
    TemplateVersion,
    VersionPolicy,
)
from portal.notifications.models import Notification, NotificationPreference
from portal.privacy.models import Erasure, PrivacySettings
from portal.recommendations.models import KeywordRule
from portal.tasks.models import SolutionPack, Task, TaskRule
from portal.tracking.models import (
    AddressSalt,
    ErasedLink,
    Event,
    EventType,
    Link,
    LinkPurpose,
    ViewSession,
)
from portal.webhooks.models import Webhook, WebhookDelivery

__all__ = [
    "AccessAxis",
    "Account",
    "AddressSalt",
    "ApiToken",
    "AuditEntry",
    "BrandSettings",
    "ChatChannel",
    "Comment",
    "CommentAuthor",
    "Customer",
    "Deal",
    "DealApproval",
    "DealEvidence",
    "DealNote",
    "DealStageChange",
    "Delivery",
    "DigestSend",
    "ErasedLink",
    "Erasure",
    "Event",
    "EventType",
    "ForecastSnapshot",
    "GradeACrossing",
    "KeywordRule",
    "Link",
    "LinkPurpose",
    "Notification",
    "NotificationPreference",
    "OutboxMessage",
    "PrivacySettings",
    "RenderStatus",
    "Role",
    "ScoreEntry",
    "ScoringRule",
    "ScoringRuleRevision",
    "SolutionPack",
    "StageProbability",
    "Task",
    "TaskRule",
    "Template",
    "TemplateAccess",
    "TemplateFormat",
    "TemplateKind",
    "TemplateVersion",
    "User",
    "VersionPolicy",
    "ViewSession",
    "Webhook",
    "WebhookDelivery",
]
