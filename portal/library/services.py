"""The library's rules: creating templates, adding and publishing versions, scoped look-ups.

Routes, CLI commands and jobs call these; nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal import jobs
from portal.accounts.models import Role, User
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.library import conversion, permissions, rendering
from portal.library.content_tags import parse_content_tags
from portal.library.models import (
    AccessAxis,
    Template,
    TemplateAccess,
    TemplateFormat,
    TemplateKind,
    TemplateVersion,
    VersionPolicy,
    VersionStatus,
)
from portal.library.storage import get_storage
from portal.library.uploads import (
    CONVERTED_TYPES,
    InspectedUpload,
    UploadLimits,
    UploadRejected,
    inspect_upload,
)

_EXTENSIONS = {"html": "html", "zip": "zip", "pdf": "pdf"}


@dataclass
class TemplateFields:
    """What marketing sets on a template (everything but its files)."""

    name: str
    kind: str
    industry: str = ""
    scenario: str = ""
    product_line: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    version_policy: str | None = None
    allowed_roles: list[str] = field(default_factory=list)
    allowed_teams: list[str] = field(default_factory=list)
    allowed_regions: list[str] = field(default_factory=list)

    def validate(self) -> None:
        self.name = self.name.strip()
        if not self.name:
            raise ValidationFailed("name is required", code="name_required", field="name")
        if len(self.name) > 200:
            raise ValidationFailed(
                "name is longer than 200 characters", code="name_too_long", field="name", limit=200
            )
        if self.kind not in {k.value for k in TemplateKind}:
            kinds = ", ".join(k.value for k in TemplateKind)
            raise ValidationFailed(f"kind must be one of: {kinds}", code="bad_kind", field="kind")
        if self.version_policy is None:
            # Quotes are promises: the customer keeps the version they were sent.
            self.version_policy = (
                VersionPolicy.PINNED if self.kind == TemplateKind.QUOTE else VersionPolicy.LATEST
            )
        if self.version_policy not in {p.value for p in VersionPolicy}:
            raise ValidationFailed(
                "version_policy must be 'latest' or 'pinned'",
                code="bad_version_policy",
                field="version_policy",
            )
        roles = {r.value for r in Role}
        for role in self.allowed_roles:
            if role not in roles:
                raise ValidationFailed(
                    f"unknown role {role!r} in who may send",
                    code="unknown_role",
                    field="allowed_roles",
                    role=role,
                )
        self.tags = split_list(self.tags)
        self.allowed_roles = split_list(self.allowed_roles)
        self.allowed_teams = split_list(self.allowed_teams)
        self.allowed_regions = split_list(self.allowed_regions)


def split_list(value: str | Iterable[str] | None) -> list[str]:
    """'a, b,,c' or ['a', ' b'] -> ['a', 'b', 'c'] (order kept, duplicates dropped)."""
    if value is None:
        return []
    items = value.replace("，", ",").split(",") if isinstance(value, str) else value
    seen: dict[str, None] = {}
    for item in items:
        text = str(item).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def _require_keeper(user: User) -> None:
    if not permissions.can_manage_library(user):
        raise PermissionDenied("only marketing and admins can change the library")


def _access_of(template: Template) -> list[str]:
    return sorted(f"{r.axis}:{r.value}" for r in template.access_rules)


def _set_access(template: Template, fields: TemplateFields) -> None:
    wanted = (
        {(AccessAxis.ROLE.value, v) for v in fields.allowed_roles}
        | {(AccessAxis.TEAM.value, v) for v in fields.allowed_teams}
        | {(AccessAxis.REGION.value, v) for v in fields.allowed_regions}
    )
    current = {(r.axis, r.value): r for r in template.access_rules}
    for key, rule in current.items():
        if key not in wanted:
            template.access_rules.remove(rule)
    for axis, value in sorted(wanted - current.keys()):
        template.access_rules.append(TemplateAccess(axis=axis, value=value))


def _apply_fields(template: Template, fields: TemplateFields) -> None:
    fields.validate()
    template.name = fields.name
    template.kind = fields.kind
    template.industry = fields.industry.strip()
    template.scenario = fields.scenario.strip()
    template.product_line = fields.product_line.strip()
    template.description = fields.description.strip()
    template.tags = fields.tags
    template.version_policy = fields.version_policy or VersionPolicy.LATEST
    _set_access(template, fields)


def _inspect(filename: str, data: bytes) -> tuple[InspectedUpload, int | None]:
    """Validate an upload and, for HTML, render it once with sample data.

    A template that does not render (bad Jinja, sandbox escape) is refused here, with the
    reason, instead of failing later in front of a customer. An Office file or image is
    converted to PDF here when jobs run inline (a refusal then stores nothing); with a queue it
    is stored as it is and converted by `convert_version`.
    """
    upload = inspect_upload(filename, data, UploadLimits.from_config(current_app.config))
    if upload.source_type in CONVERTED_TYPES:
        if jobs.queued():  # Office files and images: converted by the job, not the request
            return upload, None
        upload = conversion.convert_upload(upload, current_app.config)
    if upload.source_type == "pdf":
        return upload, upload.page_count
    preview = rendering.render_source_preview(upload.source_type, upload.data)
    return upload, rendering.page_count(preview)


def _changelog(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(
            "a changelog is required: say what changed in this version", code="changelog_required"
        )
    return text


def create_template(
    author: User,
    fields: TemplateFields,
    *,
    filename: str,
    data: bytes,
    changelog: str | None,
    content_tags: str | dict | None = None,
) -> TemplateVersion:
    """A new template with its first (published) version."""
    _require_keeper(author)
    changelog = _changelog(changelog)
    template = Template(created_by=author, format=TemplateFormat.HTML)
    _apply_fields(template, fields)
    upload, pages = _inspect(filename, data)
    if upload.source_type in CONVERTED_TYPES:
        template.format = TemplateFormat.PDF  # what it will be once converted
    db.session.add(template)
    db.session.flush()
    return _store_version(template, author, upload, pages, changelog, content_tags, publish=True)


def add_version(
    template: Template,
    author: User,
    *,
    filename: str,
    data: bytes,
    changelog: str | None,
    content_tags: str | dict | None = None,
    publish: bool = True,
) -> TemplateVersion:
    """A new version. content_tags None: the previous version's tags carry over (pricing
    scoring must not stop silently on the newest version); "" or {}: the version has none."""
    _require_keeper(author)
    changelog = _changelog(changelog)
    upload, pages = _inspect(filename, data)
    if content_tags is None:
        content_tags = _fitting(previous_content_tags(template), pages)
    return _store_version(template, author, upload, pages, changelog, content_tags, publish)


def previous_content_tags(template: Template) -> dict[str, list[str]]:
    """The page tags of the template's newest version (draft or published): what a new
    version starts with."""
    newest = max(template.versions, key=lambda v: v.number, default=None)
    return dict(newest.content_tags or {}) if newest is not None else {}


def _fitting(tags: dict[str, list[str]], pages: int | None) -> dict[str, list[str]]:
    """The tags that still have their page: a shorter new version drops the inherited tags of
    the pages it no longer has, and so does a conversion for the tags given with its upload
    (tags typed for a PDF or HTML upload are checked strictly instead)."""
    if pages is None:  # not known before conversion: checked when the PDF is made
        return tags
    return {page: t for page, t in tags.items() if not page.isdigit() or int(page) <= pages}


def _store_version(
    template: Template,
    author: User,
    upload: InspectedUpload,
    pages: int | None,
    changelog: str,
    content_tags: str | dict | None,
    publish: bool,
) -> TemplateVersion:
    tags = parse_content_tags(content_tags, pages)
    converting = upload.source_type in CONVERTED_TYPES
    number = (
        db.session.scalar(
            select(func.max(TemplateVersion.number)).where(
                TemplateVersion.template_id == template.id
            )
        )
        or 0
    ) + 1
    if converting:  # the upload as it came, until the job replaces it with its PDF
        key = f"templates/{template.id}/v{number}-{upload.sha256[:16]}.source{upload.extension}"
    else:
        key = (
            f"templates/{template.id}/v{number}-{upload.sha256[:16]}."
            f"{_EXTENSIONS[upload.source_type]}"
        )
    storage = get_storage()
    storage.put(key, upload.data, upload.content_type)
    now = utcnow()
    version = TemplateVersion(
        template=template,
        number=number,
        source_type=upload.source_type,
        original_filename=upload.filename,
        storage_key=key,
        sha256=upload.sha256,
        size=upload.size,
        changelog=changelog,
        content_tags=tags,
        page_count=pages,
        author=author,
        created_at=now,
        published=publish and not converting,
        published_at=now if publish and not converting else None,
        status=VersionStatus.CONVERTING if converting else VersionStatus.READY,
        publish_when_ready=publish and converting,
    )
    db.session.add(version)
    if publish and not converting:
        template.format = _format_of(upload.source_type)
        template.updated_at = now
    try:
        db.session.flush()
    except Exception:
        storage.delete(key)  # nothing half-stored: the row failed, so the blob goes too
        raise
    if converting:
        jobs.defer(convert_version, version.id)
    elif publish:
        _audit_published(version, author)
    return version


@jobs.retried
def convert_version(version_id: int) -> None:
    """Job: make the PDF of a converting version; publish it if that was asked.

    A refusal (damaged, password-protected, too slow...) leaves the version `failed` with the
    refusal's code, and neither the upload nor any PDF stored. Safe to run again: only a
    version still `converting` is touched.
    """
    version = db.session.get(TemplateVersion, version_id)
    if version is None or version.status != VersionStatus.CONVERTING:
        return
    storage = get_storage()
    source_key = version.storage_key
    source = storage.get(source_key)
    upload = InspectedUpload(
        source_type=version.source_type,
        data=source,
        filename=version.original_filename,
        sha256=version.sha256,
        size=version.size,
        content_type="application/octet-stream",
        page_count=None,
        extension="." + source_key.rpartition(".source.")[2],
    )
    try:
        pdf = conversion.convert_upload(upload, current_app.config)
    except UploadRejected as exc:
        version.status = VersionStatus.FAILED
        version.error_code = exc.code
        version.publish_when_ready = False
        jobs.defer(_delete_stored, source_key)
        return
    key = f"templates/{version.template_id}/v{version.number}-{pdf.sha256[:16]}.pdf"
    storage.put(key, pdf.data, pdf.content_type)
    version.storage_key = key
    version.source_type = pdf.source_type
    version.sha256 = pdf.sha256
    version.size = pdf.size
    version.page_count = pdf.page_count
    version.status = VersionStatus.READY
    # tags given with the upload were not checked against pages that did not exist yet
    version.content_tags = _fitting(version.content_tags or {}, pdf.page_count or 0)
    try:
        db.session.flush()
    except Exception:
        storage.delete(key)
        raise
    if version.publish_when_ready:
        version.publish_when_ready = False
        _publish(version, version.author)
    jobs.defer(_delete_stored, source_key)  # once the row points at the PDF


def _delete_stored(key: str) -> None:
    get_storage().delete(key)


def _audit_published(version: TemplateVersion, by: User) -> None:
    audit.record(
        "template.published",
        version.template,
        by=by,
        summary=f"{version.template.name} v{version.number}",
        details={"version": version.number, "sha256": version.sha256},
    )


def _format_of(source_type: str) -> str:
    return TemplateFormat.PDF if source_type == "pdf" else TemplateFormat.HTML


def _require_ready(version: TemplateVersion) -> None:
    if version.status == VersionStatus.CONVERTING:
        raise ValidationFailed(
            f"version {version.number} is still being converted to PDF; try again in a moment",
            code="version_converting",
        )
    if version.status == VersionStatus.FAILED:
        raise ValidationFailed(
            f"version {version.number} could not be converted to PDF; upload the file again",
            code="version_failed",
        )


def publish_version(version: TemplateVersion, user: User) -> TemplateVersion:
    _require_keeper(user)
    if version.published:
        raise ValidationFailed(
            f"version {version.number} is already published",
            code="already_published",
            number=version.number,
        )
    _require_ready(version)
    return _publish(version, user)


def _publish(version: TemplateVersion, user: User) -> TemplateVersion:
    version.published = True
    version.published_at = utcnow()
    version.template.format = _format_of(version.source_type)
    version.template.updated_at = version.published_at
    _audit_published(version, user)
    return version


def delete_draft(version: TemplateVersion, user: User) -> None:
    _require_keeper(user)
    if version.published:
        raise ValidationFailed(
            "published versions are immutable and cannot be deleted", code="version_immutable"
        )
    key = version.storage_key
    db.session.delete(version)
    db.session.flush()
    get_storage().delete(key)


def set_content_tags(version: TemplateVersion, user: User, raw: str | dict | None) -> None:
    """Tags describe a version for scoring; they may be corrected after publishing."""
    _require_keeper(user)
    version.content_tags = parse_content_tags(raw, version.page_count)


def update_template(template: Template, user: User, fields: TemplateFields) -> Template:
    _require_keeper(user)
    before = _access_of(template)
    _apply_fields(template, fields)
    after = _access_of(template)
    if after != before:
        db.session.flush()
        audit.record(
            "template.access_changed",
            template,
            by=user,
            summary=template.name,
            details={"before": before, "after": after},
        )
    return template


def set_archived(template: Template, user: User, archived: bool) -> None:
    _require_keeper(user)
    template.archived_at = utcnow() if archived else None


@dataclass
class LibraryFilter:
    kind: str | None = None
    industry: str | None = None
    scenario: str | None = None
    product_line: str | None = None
    q: str | None = None
    include_archived: bool = False


def list_templates(user: User, filters: LibraryFilter | None = None) -> list[Template]:
    """The templates user may see, newest change first."""
    f = filters or LibraryFilter()
    query = permissions.scoped_templates(user)
    if not f.include_archived:
        query = query.where(Template.archived_at.is_(None))
    for column, value in (
        (Template.kind, f.kind),
        (Template.industry, f.industry),
        (Template.scenario, f.scenario),
        (Template.product_line, f.product_line),
    ):
        if value:
            query = query.where(column == value)
    if f.q and f.q.strip():
        like = f"%{f.q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Template.name).like(like),
                func.lower(Template.description).like(like),
                func.lower(Template.scenario).like(like),
                func.lower(Template.product_line).like(like),
            )
        )
    query = query.order_by(Template.updated_at.desc(), Template.id.desc()).options(
        selectinload(Template.versions), selectinload(Template.access_rules)
    )
    return list(db.session.scalars(query))


def library_facets(user: User) -> dict[str, list[str]]:
    """Distinct industries, scenarios and product lines the user can filter by."""
    visible = permissions.visible_to(user)
    facets: dict[str, list[str]] = {}
    for name, column in (
        ("industry", Template.industry),
        ("scenario", Template.scenario),
        ("product_line", Template.product_line),
    ):
        rows = db.session.scalars(
            select(column).where(visible, column != "").distinct().order_by(column)
        )
        facets[name] = list(rows)
    return facets


def get_template(user: User, template_id: int) -> Template:
    """A template user may see; NotFound otherwise (never reveal that it exists)."""
    template = db.session.scalar(
        permissions.scoped_templates(user).where(Template.id == template_id)
    )
    if template is None:
        raise NotFound("template not found", field="template_id")
    return template


def list_versions(user: User, template_id: int) -> list[TemplateVersion]:
    """A template's versions the user may see, newest first: drafts only for marketing and
    admins (the library's keepers)."""
    template = get_template(user, template_id)
    drafts = permissions.can_manage_library(user)
    return [v for v in template.versions if v.published or drafts]


def get_version(
    template: Template, number: int | None = None, *, drafts: bool = False
) -> TemplateVersion:
    """Version `number`, or the latest published one."""
    if number is None:
        version = template.latest_version
        if version is None:
            raise NotFound(
                "this template has no published version yet",
                code="no_published_version",
                field="template_id",
            )
        return version
    for version in template.versions:
        if version.number == number and (version.published or drafts):
            return version
    raise NotFound(f"version {number} not found")


def version_file(version: TemplateVersion) -> bytes:
    """The stored bytes of a version: exactly as uploaded, or the PDF an Office file or image
    was converted to."""
    _require_ready(version)
    return get_storage().get(version.storage_key)


def preview_pdf(
    user: User, template_id: int, number: int | None = None
) -> tuple[TemplateVersion, bytes]:
    """A version rendered with sample customer data (drafts only for the library keepers)."""
    template = get_template(user, template_id)
    version = get_version(template, number, drafts=permissions.can_manage_library(user))
    _require_ready(version)
    return version, rendering.render_version_preview(version)
