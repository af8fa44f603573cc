from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.db_types import JSONType, UTCDateTime, utcnow
from portal.extensions import db


class TemplateKind(enum.StrEnum):
    BROCHURE = "brochure"
    CASE_STUDY = "case_study"
    SOLUTION = "solution"
    QUOTE = "quote"
    OTHER = "other"


class TemplateFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"


class VersionStatus(enum.StrEnum):
    """Whether a version's PDF exists yet: Office files and images are converted in a job."""

    CONVERTING = "converting"
    READY = "ready"
    FAILED = "failed"


class VersionPolicy(enum.StrEnum):
    LATEST = "latest"
    PINNED = "pinned"


class Template(db.Model):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), index=True)
    format: Mapped[str] = mapped_column(String(10))
    industry: Mapped[str] = mapped_column(String(80), default="", index=True)
    scenario: Mapped[str] = mapped_column(String(120), default="")
    product_line: Mapped[str] = mapped_column(String(120), default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    version_policy: Mapped[str] = mapped_column(String(10), default=VersionPolicy.LATEST)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_by: Mapped[User] = relationship()
    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template",
        order_by="TemplateVersion.number.desc()",
        cascade="all, delete-orphan",
    )
    access_rules: Mapped[list[TemplateAccess]] = relationship(
        back_populates="template", cascade="all, delete-orphan"
    )

    def allowed(self, axis: str) -> list[str]:
        """Values allowed on one axis (role, team, region); empty means anyone."""
        return sorted(rule.value for rule in self.access_rules if rule.axis == axis)

    @property
    def latest_version(self) -> TemplateVersion | None:
        """The newest published version."""
        return next((v for v in self.versions if v.published), None)


class TemplateVersion(db.Model):
    """One uploaded file. The file of a published version never changes."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    # html | zip | pdf; an Office file or image is "office" / "image" until its PDF is made
    source_type: Mapped[str] = mapped_column(String(10))
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    storage_key: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    changelog: Mapped[str] = mapped_column(Text)
    # {"1": ["pricing"], "3": ["case"]} for pages, {"#pricing": [...]} for HTML sections
    content_tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    page_count: Mapped[int | None]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published: Mapped[bool] = mapped_column(default=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # converting -> ready | failed (error_code says why). A converting version is never
    # published; publish_when_ready says whether the conversion publishes it.
    status: Mapped[str] = mapped_column(
        String(12), default=VersionStatus.READY, server_default=VersionStatus.READY.value
    )
    error_code: Mapped[str | None] = mapped_column(String(40))
    publish_when_ready: Mapped[bool] = mapped_column(default=False, server_default=false())

    template: Mapped[Template] = relationship(back_populates="versions")
    author: Mapped[User] = relationship()


class AccessAxis(enum.StrEnum):
    ROLE = "role"
    TEAM = "team"
    REGION = "region"


class TemplateAccess(db.Model):
    """Who may see and send a template: on each axis, no row means no restriction.

    Rows (not a JSON list) so that the library can be scoped in SQL on every backend.
    """

    __tablename__ = "template_access"
    __table_args__ = (UniqueConstraint("template_id", "axis", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    axis: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(80))

    template: Mapped[Template] = relationship(back_populates="access_rules")
