"""Templates and their versions: the multipart uploads, the list filters, the answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from spectree.model_adapter.pydantic_adapter import BaseFile

from portal.library.models import TemplateKind
from portal.routes.api.schemas.common import Answer, Time

_FILE = (
    ".html, .zip or .pdf; or an Office file (.pptx .ppt .docx .doc .xlsx .odp .odt) or image "
    "(.png .jpg .jpeg .webp), converted to PDF (202 while queued)"
)
_COMMAS = "comma separated; empty = anyone"


class TemplateUpload(BaseModel):
    """multipart/form-data: a new template with its first version."""

    file: BaseFile = Field(description=_FILE)
    name: str
    kind: str = Field(description=", ".join(k.value for k in TemplateKind))
    # Required, but the library's rule (changelog_required), as for every version it keeps.
    changelog: str | None = Field(default=None, description="what changed; required")
    industry: str = ""
    scenario: str = ""
    product_line: str = ""
    description: str = ""
    tags: str | None = Field(default=None, description="comma separated")
    version_policy: str | None = Field(default=None, description="latest or pinned")
    allowed_roles: str | None = Field(default=None, description=_COMMAS)
    allowed_teams: str | None = Field(default=None, description=_COMMAS)
    allowed_regions: str | None = Field(default=None, description=_COMMAS)
    content_tags: str | None = Field(default=None, examples=["2:pricing; 3:case"])


class VersionUpload(BaseModel):
    """multipart/form-data: a new version of a template."""

    file: BaseFile = Field(description=_FILE)
    # Required, but the library's rule (changelog_required), as for every version it keeps.
    changelog: str | None = Field(default=None, description="what changed; required")
    content_tags: str | None = Field(
        default=None,
        description='omitted: the previous version\'s tags carry over; "" (empty): none',
    )
    publish: bool = True


class TemplateFilter(BaseModel):
    kind: str | None = None
    industry: str | None = None
    scenario: str | None = None
    product_line: str | None = None
    q: str | None = None


class PreviewQuery(BaseModel):
    version: int | None = Field(default=None, description="a version number (default: latest)")


class Created(Answer):
    id: int
    version: int


class Allowed(Answer):
    roles: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)


class Template(Answer):
    id: int
    name: str
    kind: str
    format: Literal["html", "pdf"] | None = None
    industry: str | None = None
    scenario: str | None = None
    product_line: str | None = None
    tags: list[str] = Field(default_factory=list)
    version_policy: Literal["latest", "pinned"] | None = None
    latest_version: int | None = None
    updated_at: Time = None
    allowed: Allowed | None = None
    archived: bool = False


class ConversionError(Answer):
    code: str | None = None
    message: str | None = None


class Version(Answer):
    id: int
    version: int
    source_type: Literal["html", "zip", "pdf", "office", "image"] | None = None
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    changelog: str | None = None
    content_tags: dict[str, list[str]] | None = Field(
        default=None, description='page number → tags, e.g. {"2": ["pricing"]}'
    )
    page_count: int | None = None
    author: str | None = None
    created_at: Time = None
    published: bool = False
    status: Literal["converting", "ready", "failed"] | None = Field(
        default=None,
        description="An Office file or image is `converting` until its PDF is made; only a "
        "`ready` version can be previewed or published",
    )
    error: ConversionError | None = Field(
        default=None,
        description="Why a `failed` conversion failed (null otherwise): `code` and a sentence "
        "in the caller's language",
    )


class TemplateDetail(Template):
    versions: list[Version] = Field(default_factory=list)


class TemplateList(Answer):
    items: list[Template]


class VersionList(Answer):
    items: list[Version]
